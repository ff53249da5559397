"""The score over time: the detector re-scored on sliding windows of the file (one score per window), and for
the GMM baselines the frame-level log-likelihood ratio, whose mean is their score."""
from __future__ import annotations

import numpy as np


def window_scores(detector, wave: np.ndarray, sample_rate: int, window_s: float = 1.0,
                  hop_s: float = 0.25) -> dict:
    """Scores of ``window_s``-second windows every ``hop_s`` seconds (the last one aligned with the end; a file
    shorter than one window gives one window, the whole file). A network given a window shorter than its input
    tiles it, as it does for short files."""
    n, hop = max(1, int(round(window_s * sample_rate))), max(1, int(round(hop_s * sample_rate)))
    if len(wave) <= n:
        starts = [0]
    else:
        starts = list(range(0, len(wave) - n + 1, hop))
        if starts[-1] != len(wave) - n:
            starts.append(len(wave) - n)
    scores = detector.score_waves([wave[s:s + n] for s in starts], sample_rate)
    centres = (np.asarray(starts) + min(n, len(wave)) / 2) / sample_rate
    return {"window_s": min(n, len(wave)) / sample_rate, "hop_s": hop / sample_rate,
            "centre_s": centres, "scores": np.asarray(scores, dtype=np.float64)}


def frame_llr_trace(detector, path: str, n_samples: int, sample_rate: int) -> dict | None:
    """Frame times (s) and log-likelihood ratios of a GMM baseline (None for other detectors). Frames are
    spread evenly over the file (their exact hop depends on the front end; the plot needs no more)."""
    if not hasattr(detector, "frame_llr"):
        return None
    llr = detector.frame_llr([path])[0]
    times = (np.arange(len(llr)) + 0.5) * (n_samples / sample_rate) / max(1, len(llr))
    return {"times_s": times, "llr": np.asarray(llr, dtype=np.float64)}
