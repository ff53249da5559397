"""What the deployment commands take as a model: a ``.det`` file (``Detector.save`` / ``bench run``'s
``models/``) or the name of a pre-trained preset whose weights ship with spoofbench (``aasist.pretrained-la19``)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from spoofbench.protocols.errors import BenchError, ConfigError


@dataclass
class LoadedModel:
    detector: object          # the fitted Detector
    policy: object | None     # its DecisionPolicy, when the file holds one
    description: dict         # what the file says about itself (provenance; the preset), for metadata
    source: str               # the path or preset as given
    file_bytes: int | None    # size of the .det file (None for a preset)


def load_model(source: str) -> LoadedModel:
    """A ``.det`` file or a pre-trained preset name; anything else is a one-line error."""
    from spoofbench.detectors import create_detector, load_detector
    from spoofbench.detectors.model_file import read_detector_file

    from .decisions import DecisionPolicy

    if os.path.isfile(source):
        meta, _ = read_detector_file(source)
        det = load_detector(source)
        provenance = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else {}
        description = {k: provenance[k] for k in ("system", "spec", "trained_on") if isinstance(provenance.get(k), str)}
        description.setdefault("spec", meta["detector"])
        data = meta.get("decisions")
        policy = DecisionPolicy.from_dict(data, source=source) if isinstance(data, dict) else None
        return LoadedModel(det, policy, description, source, os.path.getsize(source))
    if source.endswith(".det") or os.sep in source:
        raise BenchError(f"{source}: detector file not found")
    try:
        det = create_detector(source)
    except ConfigError as exc:
        raise ConfigError(f"{source}: neither a .det file nor a detector preset ({exc})") from None
    if det.needs_training:
        raise ConfigError(f"{source}: not a pre-trained preset; train it first (bench run saves models/NAME.det) "
                          "and give that file")
    det.check_fitted()
    info = det.pretrained_info() or {}
    description = {"spec": source, **({"trained_on": info["trained_on"]} if "trained_on" in info else {})}
    return LoadedModel(det, None, description, source, None)
