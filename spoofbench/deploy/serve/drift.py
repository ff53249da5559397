"""Drift of live scores against the dev score distribution saved with the model.

The reference is a set of dev score quantiles (deciles by default); live scores fall into the bins between
them, which hold equal shares on dev. Two statistics over the last ``window`` live scores: the population
stability index (PSI; by the usual rule of thumb < 0.1 stable, 0.1-0.25 moderate, > 0.25 a shifted
population) and the Kolmogorov-Smirnov distance between the live and dev distributions at the quantiles.
"""
from __future__ import annotations

import threading
from collections import deque

import numpy as np

#: Live scores needed before the statistics are reported (fewer give noise, not drift).
MIN_LIVE = 30
_EPS = 1e-4  # share given to an empty bin, so that PSI stays finite


def reference_quantiles(dev_scores, n_bins: int = 10) -> list[float]:
    """The ``n_bins - 1`` inner quantiles of dev scores: the bin edges of the drift statistics."""
    scores = np.asarray(dev_scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    if scores.size < n_bins:
        raise ValueError(f"{scores.size} dev scores are too few for {n_bins} drift bins")
    return [float(q) for q in np.quantile(scores, np.arange(1, n_bins) / n_bins)]


class DriftMonitor:
    def __init__(self, edges, window: int = 500):
        self.edges = np.asarray(sorted(edges), dtype=np.float64)
        self.expected = np.full(len(self.edges) + 1, 1.0 / (len(self.edges) + 1))
        self._live: deque[float] = deque(maxlen=int(window))
        self._lock = threading.Lock()

    def add(self, score: float) -> None:
        with self._lock:
            self._live.append(float(score))

    def count(self) -> int:
        return len(self._live)

    def _shares(self) -> np.ndarray | None:
        with self._lock:
            live = np.fromiter(self._live, dtype=np.float64)
        if live.size < MIN_LIVE:
            return None
        counts = np.bincount(np.searchsorted(self.edges, live, side="right"), minlength=len(self.expected))
        return counts / live.size

    def psi(self) -> float:
        """Population stability index of the live window (NaN until ``MIN_LIVE`` scores)."""
        actual = self._shares()
        if actual is None:
            return float("nan")
        a, e = np.maximum(actual, _EPS), self.expected
        return float(np.sum((a - e) * np.log(a / e)))

    def ks(self) -> float:
        """Largest gap between the live and dev cumulative shares at the dev quantiles (NaN until enough)."""
        actual = self._shares()
        if actual is None:
            return float("nan")
        return float(np.max(np.abs(np.cumsum(actual)[:-1] - np.cumsum(self.expected)[:-1])))
