"""Every registered detector and every preset passes the detector contract (spoofbench.detectors.checks), on a
corpus where the classes are trivially separable: harmonic tones (bona fide) against white noise (spoof)."""
from __future__ import annotations

import numpy as np
import pytest
from _easy_corpus import easy_split

from spoofbench.detectors import Detector, create_detector, get_entry, list_detectors, register_detector, split_spec
from spoofbench.detectors.checks import QUICK_OVERRIDES, check_detector, pairwise_auc


@pytest.fixture(scope="module")
def easy_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("easy")
    return (easy_split(root / "train", "train", 12, 0), easy_split(root / "dev", "dev", 6, 1),
            easy_split(root / "eval", "eval", 6, 2))


def _registered_specs() -> list[str]:
    """Every detector and preset, but the toys that test modules register for themselves."""
    return [spec for spec in list_detectors(presets=True)
            if not get_entry(split_spec(spec)[0]).source.startswith("test_")]


@pytest.mark.parametrize("spec", _registered_specs())
def test_every_detector_and_preset_meets_the_contract(spec, easy_corpus):
    train, dev, test = easy_corpus
    check_detector(spec, train, test, dev)


def test_quick_table_names_registered_families_and_real_parameters():
    for family, overrides in QUICK_OVERRIDES.items():
        assert family in list_detectors()
        det = create_detector(family, **overrides)  # raises on an unknown parameter or a value out of range
        assert set(overrides) <= set(det.param_names())


def test_pairwise_auc():
    y = np.array([1, 1, 0, 0])
    assert pairwise_auc(np.array([3.0, 2.0, 1.0, 0.0]), y) == 1.0
    assert pairwise_auc(np.array([0.0, 1.0, 2.0, 3.0]), y) == 0.0
    assert pairwise_auc(np.array([1.0, 1.0, 1.0, 1.0]), y) == 0.5


class _Base(Detector):
    """A correct toy: threshold on the mean absolute sample value (noise is louder on average than tones)."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def _stat(self, trials):
        from spoofbench.protocols import load_audio
        return np.array([np.mean(np.abs(load_audio(p))) for p in trials["path"]])

    def fit(self, train, dev=None):
        self.threshold_ = float(np.median(self._stat(train)))
        return self

    def score(self, trials):
        self.check_fitted()
        return self.scale * (self.threshold_ - self._stat(trials))

    def get_state(self):
        return {"threshold": np.float64(self.threshold_)}

    def set_state(self, state):
        self.threshold_ = float(state["threshold"])


def _register(name, cls):
    return register_detector(name, presets={"default": {}}, default_preset="default")(cls)


@pytest.mark.parametrize("flaw", ["fit_returns_none", "state_without_underscore", "init_does_work",
                                  "inverted_scores", "load_loses_state", "fit_changes_params"])
def test_check_detector_catches_each_flaw(flaw, easy_corpus):
    """The check can fail: each broken variant of a correct toy detector is caught, with its reason."""
    train, dev, test = easy_corpus
    _register("toy-correct", type("Correct", (_Base,), {}))
    check_detector("toy-correct", train, test, dev)  # the unbroken toy passes

    def fit_returns_none(self, train, dev=None):
        _Base.fit(self, train)

    def state_without_underscore(self, train, dev=None):
        _Base.fit(self, train)
        self.learned = 1
        return self

    def init_does_work(self, scale=1.0):
        self.scale = scale
        self.buffer = []

    def inverted(self, trials):
        return -_Base.score(self, trials)

    def set_state_forgets(self, state):
        self.threshold_ = 0.0

    def fit_changes_params(self, train, dev=None):
        self.scale = 2.0
        return _Base.fit(self, train)

    body, message = {
        "fit_returns_none": ({"fit": fit_returns_none}, "must return self"),
        "state_without_underscore": ({"fit": state_without_underscore}, "must end in '_'"),
        "init_does_work": ({"__init__": init_does_work}, "exactly its hyperparameters"),
        "inverted_scores": ({"score": inverted}, "bona fide trials must score higher"),
        "load_loses_state": ({"set_state": set_state_forgets}, "after save"),
        "fit_changes_params": ({"fit": fit_changes_params}, "changed hyperparameters"),
    }[flaw]
    _register(f"toy-{flaw.replace('_', '-')}", type(flaw, (_Base,), body))
    with pytest.raises(AssertionError, match=message):
        check_detector(f"toy-{flaw.replace('_', '-')}", train, test, dev)
