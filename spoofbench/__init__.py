"""spoofbench: speech anti-spoofing benchmarking.

The public API in one namespace::

    import spoofbench
    trials = spoofbench.load_trials("/data/ASVspoof2019", split="train")
    det = spoofbench.create_detector("lfcc-gmm.small").fit(trials)
    result = spoofbench.evaluate({"lfcc-gmm": det.score(eval_trials)}, eval_trials)

The packages themselves are ``spoofbench.protocols`` (corpora, trials, audio), ``spoofbench.detectors`` (the
detector interface, registry and families) and ``spoofbench.benchmark`` (metrics, fusion, reports, the ``bench``
command line). Attributes are imported on first use, so ``import spoofbench`` stays cheap.
"""
from __future__ import annotations

import importlib

# public name -> (module, attribute)
_API = {
    "load_trials": ("spoofbench.protocols", "load_trials"),
    "load_audio": ("spoofbench.protocols", "load_audio"),
    "TrialTable": ("spoofbench.protocols", "TrialTable"),
    "BenchError": ("spoofbench.protocols", "BenchError"),
    "Detector": ("spoofbench.detectors", "Detector"),
    "create_detector": ("spoofbench.detectors", "create_detector"),
    "list_detectors": ("spoofbench.detectors", "list_detectors"),
    "load_detector": ("spoofbench.detectors", "load_detector"),
    "register_detector": ("spoofbench.detectors", "register_detector"),
    "evaluate": ("spoofbench.benchmark.evaluation", "evaluate_systems"),
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'spoofbench' has no attribute {name!r}")
    module, attr = _API[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_API))
