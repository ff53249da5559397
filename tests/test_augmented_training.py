"""augment= for every detector: a Detector subclass that never declared it (a plugin, spectral-lr) is registered
with the generic route, which trains it on the clean trials plus cached augmented copies of them."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from _easy_corpus import easy_split

from spoofbench.detectors import Detector, create_detector, register_detector
from spoofbench.detectors.augmented_training import (
    augmented_training_table,
    default_cache_dir,
    with_training_augmentation,
)
from spoofbench.detectors.checks import _check_declarations
from spoofbench.protocols import TrialTable, write_audio
from spoofbench.protocols.errors import ConfigError


@register_detector("test-recording", presets={"default": {}}, default_preset="default")
class Recording(Detector):
    """Learns the mean RMS of each class; remembers the training table it was given."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, train, dev=None):
        self.seen_ = train
        rms = np.array([np.sqrt(np.mean(sf.read(p)[0] ** 2)) for p in train["path"]])
        self.threshold_ = np.array(rms.mean())
        return self

    def score(self, trials):
        return np.array([-np.sqrt(np.mean(sf.read(p)[0] ** 2)) for p in trials["path"]])

    def get_state(self):
        return {"threshold": self.threshold_}

    def set_state(self, state):
        self.threshold_ = state["threshold"]


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    return easy_split(tmp_path_factory.mktemp("easy"), "train", n_per_class=3, seed=0)


def _snr(clean: np.ndarray, noisy: np.ndarray) -> float:
    return 10 * np.log10(np.mean(clean ** 2) / np.mean((noisy - clean) ** 2))


def test_registered_class_gains_augment_and_stays_itself(private_cache):
    det = create_detector("test-recording", augment="noise:white@10dB", augment_copies=2)
    assert isinstance(det, Recording) and type(det).__name__ == "Recording"
    assert det.get_params() == {"seed": 0, "augment": "noise:white@10dB", "augment_copies": 2}
    assert "augment" in det.result_param_names()  # a change retrains: it is in the run's stage key
    _check_declarations("test-recording", det)
    # a class that declares augment itself keeps its own (the neural engine and the GMMs augment their way)
    rawnet2 = type(create_detector("rawnet2.small"))
    assert with_training_augmentation(rawnet2) is rawnet2


def test_fit_sees_clean_trials_plus_copies_with_the_promised_snr(train, private_cache):
    det = create_detector("test-recording", augment="noise:white@10dB", augment_copies=2).fit(train)
    seen = det.seen_
    assert len(seen) == 3 * len(train)
    assert list(seen["utt_id"][:len(train)]) == list(train["utt_id"])
    assert list(seen["utt_id"][len(train):2 * len(train)]) == [f"{u}#aug1" for u in train["utt_id"]]
    assert list(seen["label"]) == list(train["label"]) * 3
    for i in range(len(train)):
        clean = sf.read(train["path"][i])[0]
        first, second = (sf.read(seen["path"][i + k * len(train)])[0] for k in (1, 2))
        assert abs(_snr(clean, first) - 10) < 0.5 and abs(_snr(clean, second) - 10) < 0.5
        assert not np.array_equal(first, second)  # each copy is its own draw
    assert all(Path(p).is_relative_to(default_cache_dir()) for p in seen["path"][len(train):])


def test_copies_are_cached_and_the_same_seed_gives_the_same_bytes(train, private_cache):
    first = augmented_training_table(train, "rawboost:3", 1, seed=5)
    files = sorted(default_cache_dir().rglob("*.wav"))
    assert len(files) == len(train)
    stamps = {f: f.stat().st_mtime_ns for f in files}
    again = augmented_training_table(train, "rawboost:3", 1, seed=5)
    assert list(again["path"]) == list(first["path"])
    assert {f: f.stat().st_mtime_ns for f in files} == stamps  # reused, not rewritten
    other = augmented_training_table(train, "rawboost:3", 1, seed=6)
    assert all(a != b for a, b in zip(other["path"][len(train):], first["path"][len(train):]))
    assert not np.array_equal(sf.read(other["path"][len(train)])[0], sf.read(first["path"][len(train)])[0])


def test_probabilistic_terms_leave_some_copies_clean(train, private_cache):
    table = augmented_training_table(train, "0.5*gain:-6dB", 4, seed=1)
    copies = table["path"][len(train):]
    clean = sum(p in set(train["path"]) for p in copies)
    assert 0 < clean < len(copies)  # 24 draws at p = 0.5: all or none would be a broken draw
    assert len(table) == 5 * len(train)


def test_a_copy_that_cannot_be_made_is_left_out_with_a_warning(tmp_path, train, private_cache):
    silent = tmp_path / "silent.wav"
    write_audio(silent, np.zeros(8000), 16000)
    rows = [dict(utt_id=u, path=p, label=lab, attack=a, speaker="s", split="train")
            for u, p, lab, a in zip(train["utt_id"], train["path"], train["label"], train["attack"])]
    rows.append(dict(utt_id="silent", path=str(silent), label="bonafide", attack="-", speaker="s", split="train"))
    table = TrialTable.from_records(rows)
    with pytest.warns(RuntimeWarning, match=r"1 augmented copy could not be made .*silent"):
        out = augmented_training_table(table, "noise:white@10dB", 1)
    assert len(out) == 2 * len(table) - 1 and "silent#aug1" not in set(out["utt_id"])


def test_save_load_keeps_the_augmentation_and_scores(tmp_path, train, private_cache):
    det = create_detector("spectral-lr", augment="noise:pink@15dB").fit(train)
    plain = create_detector("spectral-lr").fit(train)
    assert not np.allclose(det.score(train), plain.score(train))  # the copies changed what it learned
    det.save(tmp_path / "m.det")
    loaded = Detector.load(tmp_path / "m.det")
    assert loaded.augment == "noise:pink@15dB" and type(loaded) is type(det)
    np.testing.assert_allclose(loaded.score(train), det.score(train), rtol=1e-9)


@pytest.mark.parametrize("value, message", [
    ("nois:white@10dB", "unknown transform 'nois'"),
    ("adv:pgd@40dB", "set adversarial_training=pgd@40dB"),
    ("0.7*gain:-6dB+0.7*rawboost:3", "add up to 1.4"),
])
def test_bad_augment_values_are_one_line_errors(value, message):
    with pytest.raises(ConfigError, match=message) as info:
        create_detector("spectral-lr", augment=value)
    assert "\n" not in str(info.value) and str(info.value).startswith("spectral-lr: augment")


def test_augment_copies_must_be_positive():
    with pytest.raises(ConfigError, match="augment_copies"):
        create_detector("spectral-lr", augment="gain:-6dB", augment_copies=0)


def test_a_class_declaring_only_augment_copies_is_refused():
    class Half(Detector):
        def __init__(self, augment_copies: int = 1):
            self.augment_copies = augment_copies

    with pytest.raises(TypeError, match="declares 'augment_copies' but not 'augment'"):
        with_training_augmentation(Half)


def test_cache_folder_follows_spoofbench_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SPOOFBENCH_CACHE", os.fspath(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" / "augmented-audio"
