"""Where ``bench explain`` gets its detectors and trials: a model file or a ready-to-score preset, or a finished
``bench run`` folder (its saved models and its corpus); a corpus's eval trials sampled with a seed."""
from __future__ import annotations

import json
import os
from pathlib import Path

from spoofbench.protocols.errors import BenchError, ConfigError

#: Scoring batch of neural detectors while explaining (their default, e.g. AASIST's 24, held 5 GB at once).
EXPLAIN_BATCH = 8


def load_model(spec: str, device: str | None = None):
    """``FILE.det`` (``Detector.save``, a run's ``models/``) or a preset that scores without training
    (``aasist.pretrained-la19``)."""
    from spoofbench.detectors import create_detector
    from spoofbench.detectors.base import Detector

    overrides = {}
    if spec.lower().endswith(".det") or os.sep in spec:
        if not os.path.isfile(spec):
            raise BenchError(f"{spec}: model file not found")
        det = Detector.load(spec)
    else:
        det = create_detector(spec)
        if det.needs_training:
            raise ConfigError(f"--model {spec}: this preset needs training; pass a model file (FILE.det, e.g. "
                              "from a run's models/) or a pre-trained preset such as aasist.pretrained-la19")
    if device and "device" in det.param_names():
        overrides["device"] = device
    if "progress" in det.param_names():
        overrides["progress"] = False
    if "n_jobs" in det.param_names():  # explanations score a few waves at a time: worker processes cost more
        overrides["n_jobs"] = 1
    if "eval_batch_size" in det.param_names():  # bounded memory (AASIST: ~0.2 GB of maps per 4 s input)
        overrides["eval_batch_size"] = min(int(det.eval_batch_size), EXPLAIN_BATCH)
    for key, value in overrides.items():
        setattr(det, key, value)
    det.check_fitted()
    return det


def run_folder(path: str) -> tuple[dict[str, str], str, str]:
    """(system -> model file, corpus root, protocol) of a finished ``bench run`` folder."""
    record_path = Path(path) / "run.json"
    if not record_path.is_file():
        raise BenchError(f"{path}: not a finished bench run folder (no run.json)")
    try:
        record = json.loads(record_path.read_text())
        corpus = record["corpus"]
    except (ValueError, KeyError):
        raise BenchError(f"{record_path}: not a bench run record (unreadable JSON or no corpus)") from None
    models = {}
    for system, info in record.get("systems", {}).items():
        if info.get("status") != "done":
            continue
        file = Path(path) / "models" / f"{system}.det"
        if file.is_file():
            models[system] = str(file)
        elif info.get("model_file") and os.path.isfile(info["model_file"]):  # a saved model it scored as it was
            models[system] = info["model_file"]
        elif info.get("pretrained") and info.get("spec"):  # shipped weights, scored as they are
            models[system] = info["spec"]
    if not models:
        raise BenchError(f"{path}: the run saved no model (models/*.det of its finished systems)")
    return models, corpus["root"], corpus["protocol"]


def sample_trials(root: str, protocol: str | None, split: str, max_files: int, seed: int):
    """At most ``max_files`` trials of ``split``, drawn with ``seed`` and stratified so that bona fide files
    are about half of them (the metrics need both classes; attacks keep their share of the spoofs)."""

    from spoofbench.protocols import load_trials

    trials = load_trials(root, protocol, split=split)
    if len(trials) == 0:
        raise BenchError(f"{root}: no {split} trials")
    return stratified_sample(trials, max_files, seed)


def stratified_sample(trials, max_files: int, seed: int):
    """At most ``max_files`` of ``trials``, about half bona fide, drawn with ``seed`` (row order kept)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    bona, spoof = np.flatnonzero(trials.y == 1), np.flatnonzero(trials.y == 0)
    n_bona = min(len(bona), max(1, max_files // 2)) if len(spoof) else min(len(bona), max_files)
    n_spoof = min(len(spoof), max_files - n_bona)
    pick = np.concatenate([rng.choice(bona, n_bona, replace=False), rng.choice(spoof, n_spoof, replace=False)])
    return trials[np.sort(pick)]
