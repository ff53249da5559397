"""Saved models (``.det`` files written by ``Detector.save``, e.g. a run's ``models/``) scored by ``bench run``
as they are: what the file says about itself, read and checked before any work."""
from __future__ import annotations

import os
from dataclasses import dataclass

from spoofbench.detectors.model_file import read_detector_file
from spoofbench.detectors.registry import get_entry
from spoofbench.protocols.errors import BenchError, ConfigError
from spoofbench.protocols.files import file_sha256


@dataclass(frozen=True)
class SavedModel:
    path: str
    sha256: str
    detector: str              # the registered detector it holds
    spec: str                  # the preset it was built from, when the file records it (else the detector)
    trained_on: str | None     # what it was trained on, when the file records it
    system: str | None         # its name in the run that saved it


def read_saved_model(path: str) -> SavedModel:
    """The file's description; a missing, damaged or unknown-detector file is a one-line BenchError."""
    meta, _ = read_detector_file(path)  # checks the file's own checksum and format
    try:
        get_entry(meta["detector"])
    except ConfigError as exc:
        raise BenchError(f"{path}: {exc}") from None
    provenance = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else {}
    trained_on = provenance.get("trained_on")
    pretrained = meta.get("pretrained") if isinstance(meta.get("pretrained"), dict) else None
    if trained_on is None and pretrained is not None:
        trained_on = pretrained.get("trained_on")
    spec = provenance.get("spec")
    return SavedModel(os.path.abspath(path), file_sha256(path), meta["detector"],
                      spec if isinstance(spec, str) else meta["detector"],
                      trained_on if isinstance(trained_on, str) else None,
                      provenance.get("system") if isinstance(provenance.get("system"), str) else None)
