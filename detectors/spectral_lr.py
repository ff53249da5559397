"""The simplest real detector: logistic regression on log-spectrum statistics.

It exists to prove the detector interface end to end and to be the template a plugin author copies:
a constructor that only stores hyperparameters, ``fit``/``score`` on trial tables, and the learned
state exposed as numpy arrays for ``save``/``load``.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from spoofbench.protocols.audio import load_audio
from spoofbench.protocols.errors import ConfigError
from spoofbench.protocols.trials import TrialTable

from .base import Detector
from .param_checks import check_int, check_number
from .registry import register_detector


def spectral_statistics(wave: np.ndarray, sample_rate: int, n_fft: int = 512, n_bands: int = 32) -> np.ndarray:
    """Mean and standard deviation over frames of the log power in ``n_bands`` equal-width bands, plus the
    mean absolute frame-to-frame change (spectral flux): ``3 * n_bands`` numbers per utterance."""
    hop = n_fft // 2
    if len(wave) < n_fft:  # too short for one frame: zero-pad so every utterance gets a defined vector
        wave = np.pad(wave, (0, n_fft - len(wave)))
    frames = np.lib.stride_tricks.sliding_window_view(wave, n_fft)[::hop] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    edges = np.linspace(0, power.shape[1], n_bands + 1).astype(int)
    bands = np.stack([power[:, a:b].mean(axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)
    logb = np.log(bands + 1e-10)
    flux = np.abs(np.diff(logb, axis=0)).mean(axis=0) if len(logb) > 1 else np.zeros(n_bands)
    return np.concatenate([logb.mean(axis=0), logb.std(axis=0), flux])


@register_detector("spectral-lr", presets={"default": {}}, default_preset="default",
                   description="logistic regression on log-spectrum statistics (reference example)")
class SpectralLR(Detector):
    """Logistic regression on log-spectrum statistics (the reference example for plugin authors)."""

    def __init__(self, n_bands: int = 32, n_fft: int = 512, C: float = 1.0, sample_rate: int = 16000):
        self.n_bands = n_bands
        self.n_fft = n_fft
        self.C = C
        self.sample_rate = sample_rate

    # Every hyperparameter shapes the features or the fit: no runtime parameters (the base class's empty set).

    def validate_params(self) -> None:
        check_int(self, "n_bands", 1)
        check_int(self, "n_fft", 2)
        if self.n_bands > self.n_fft // 2 + 1:
            raise ConfigError(f"{self.name}: n_bands={self.n_bands!r} is not allowed; expected at most "
                              f"n_fft // 2 + 1 = {self.n_fft // 2 + 1} bands")
        check_number(self, "C", 0, exclusive_minimum=True)
        check_int(self, "sample_rate", 1)

    def _features(self, trials: TrialTable) -> np.ndarray:
        return np.stack([spectral_statistics(load_audio(p, self.sample_rate), self.sample_rate,
                                             self.n_fft, self.n_bands) for p in trials["path"]])

    def fit(self, train: TrialTable, dev: TrialTable | None = None) -> SpectralLR:
        self.check_params()
        x = self._features(train)
        self.mean_ = x.mean(axis=0)
        self.scale_ = x.std(axis=0) + 1e-8
        # Balanced weights: ASVspoof training sets hold ~9 spoofs per bona fide trial.
        clf = LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000)
        clf.fit((x - self.mean_) / self.scale_, train.y)
        self.coef_ = clf.coef_[0].astype(np.float64)
        self.intercept_ = np.float64(clf.intercept_[0])
        return self

    def score(self, trials: TrialTable) -> np.ndarray:
        self.check_fitted()
        x = (self._features(trials) - self.mean_) / self.scale_
        return x @ self.coef_ + self.intercept_  # log-odds of bona fide

    def get_state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean_, "scale": self.scale_, "coef": self.coef_, "intercept": self.intercept_}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.mean_, self.scale_, self.coef_ = state["mean"], state["scale"], state["coef"]
        self.intercept_ = np.float64(state["intercept"])
