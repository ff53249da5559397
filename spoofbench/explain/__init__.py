"""Explanations: why a detector called a file fake, and what each detector listens to (``bench explain``).

    from spoofbench.explain import TFGrid, CellGrid, attribution, corpus_explanation, deletion_test
    cells = CellGrid(TFGrid(16000), len(wave))
    ig = attribution.integrated_gradients(detector, wave, cells.tf)     # neural detectors (Captum)
    occ = attribution.occlusion(detector, wave, cells)                  # any detector
    bands = corpus_explanation(detector, eval_trials)                   # band / time importance, per attack
    faith = deletion_test(detector, waves, labels, ("ig", "occlusion")) # top-k vs random deletion

Modules: ``tf`` (the time-frequency plane and how regions are removed), ``attribution`` (Integrated Gradients,
Grad-CAM, occlusion), ``timeline`` (score over time, GMM frame trace), ``internals`` (RawNet2 sinc filters and
FMS weights, AASIST graph attention), ``corpus`` (band and time importance), ``faithfulness`` (the deletion
test), ``figures`` / ``page`` (PNG, PDF, HTML), ``driver`` (one ``bench explain`` job). Names are imported on
first use, so ``import spoofbench.explain`` stays light.
"""
from __future__ import annotations

import importlib

_NAMES = {"TFGrid": "tf", "CellGrid": "tf", "corpus_explanation": "corpus", "deletion_test": "faithfulness",
          "explain_files": "per_file", "Settings": "per_file", "Job": "driver", "run_job": "driver"}
__all__ = [*_NAMES, "attribution", "internals"]


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    if name in ("attribution", "internals"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
