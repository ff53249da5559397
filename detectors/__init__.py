"""Detectors behind one interface, found by name in a registry.

    from spoofbench.detectors import create_detector, list_detectors
    det = create_detector("lfcc-gmm.small").fit(train_trials)
    scores = det.score(eval_trials)          # higher = bona fide
    scores = det.score_files(["a.flac", "b.wav"])
"""
from .base import Detector, NotFittedError, read_detector_file
from .registry import (
    ENTRY_POINT_GROUP,
    create_detector,
    declare_detector,
    get_entry,
    list_detectors,
    plugin_errors,
    preset_params,
    register_detector,
    split_spec,
)


def load_detector(path, **runtime_overrides):
    """Load any detector saved with ``Detector.save`` (the file names which detector it is); runtime parameters
    (devices, workers, cache folders) come from ``runtime_overrides``, never from the file."""
    return Detector.load(path, **runtime_overrides)


__all__ = ["Detector", "ENTRY_POINT_GROUP", "NotFittedError", "create_detector", "declare_detector", "get_entry",
           "list_detectors", "load_detector", "plugin_errors", "preset_params", "read_detector_file",
           "register_detector", "split_spec"]
