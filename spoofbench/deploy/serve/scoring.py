"""How one served detector turns a waveform into its score, with the numbers of ``bench score``.

Neural detectors (``NeuralDetector``: RawNet2, AASIST, LFCC-LCNN) are scored in memory: the input windows of
``score_paths`` (the first window, tiled when short; sliding windows; or the whole utterance) go through the
network in micro-batches, and the windows of long audio give per-window scores at no extra cost (the first
sliding window is the first window). Other detectors (the GMM baselines) score through ``score_waves``, which
hands the waves to the detector as temporary files (its only way to read audio) and deletes them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spoofbench.detectors.base import Detector
from spoofbench.detectors.devices import resolve_device
from spoofbench.detectors.neural import NeuralDetector
from spoofbench.detectors.neural.data import fit_length, sliding_windows
from spoofbench.detectors.neural.inference import prepare_inference, score_batches, supported_fast_mode


@dataclass(frozen=True)
class Plan:
    """The work of one waveform: ``payloads`` for the batcher (each ``sizes[i]`` units) and how their
    results become the score (``combine``) and the per-window scores (``windows``: (start s, end s) each)."""

    payloads: list
    sizes: list[int]
    rule: str                                   # "first", "mean" or "single"
    windows: list[tuple[float, float]] | None   # spans of the per-window scores, None: no per-window scores


class WindowScorer:
    """A ``NeuralDetector`` scored window by window."""

    def __init__(self, det: NeuralDetector, max_batch: int):
        self.det, self.max_batch = det, int(max_batch)
        self.sample_rate = int(det.sample_rate)
        self.device = resolve_device(getattr(det, "device", "cpu") or "cpu")
        fast = supported_fast_mode(getattr(det, "fast_inference", "off") or "off", self.device)
        if "int8" in fast:
            self.device = torch.device("cpu")  # dynamically quantised layers run on the CPU only
        det.model_.to(self.device)
        self.model, self.autocast = prepare_inference(det.model_, fast, det.int8_modules, self.device)
        self.mode = det.score_mode
        self.n_samples = None if det.n_samples is None else int(det.n_samples)
        self.hop = det.window_hop or (self.n_samples // 2 if self.n_samples else None)

    @property
    def threads(self) -> int | None:
        return getattr(self.det, "threads", None)

    def plan(self, wave: np.ndarray, per_window: bool = True) -> Plan:
        n = self.n_samples
        if self.mode == "whole" or n is None:
            return Plan([wave[None]], [1], "single", None)
        long = len(wave) > n
        if self.mode == "sliding" or (per_window and long):
            windows = sliding_windows(wave, n, self.hop)
        else:
            windows = fit_length(wave, n)[None]
        spans = None
        if long and len(windows) > 1 and (per_window or self.mode == "sliding"):
            starts = [min(i * self.hop, len(wave) - n) for i in range(len(windows))]
            spans = [(s / self.sample_rate, (s + n) / self.sample_rate) for s in starts]
        chunks = [windows[i:i + self.max_batch] for i in range(0, len(windows), self.max_batch)]
        return Plan(chunks, [len(c) for c in chunks], "mean" if self.mode == "sliding" else "first",
                    spans if per_window else None)

    def run_batch(self, payloads: list[np.ndarray]) -> list[np.ndarray]:
        """Scores of the windows of each payload; payloads of one window length run as one forward pass."""
        out: list[np.ndarray | None] = [None] * len(payloads)
        by_length: dict[int, list[int]] = {}
        for i, p in enumerate(payloads):
            by_length.setdefault(p.shape[1], []).append(i)
        with torch.inference_mode():
            for idx in by_length.values():
                if len(idx) > 1 and self.mode == "whole":  # whole utterances: never batched with padding
                    parts = [self._forward(payloads[i]) for i in idx]
                else:
                    stacked = np.concatenate([payloads[i] for i in idx])
                    scores = self._forward(stacked)
                    bounds = np.cumsum([0] + [len(payloads[i]) for i in idx])
                    parts = [scores[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
                for i, part in zip(idx, parts):
                    out[i] = part
        return out

    def _forward(self, windows: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        return score_batches(self.model, x, self.device, max(len(x), 1), self.autocast, self.det.score_rule)


class WaveScorer:
    """Any other detector: whole waves through ``Detector.score_waves`` (no per-window scores)."""

    def __init__(self, det: Detector, max_batch: int):
        self.det, self.max_batch = det, int(max_batch)
        self.sample_rate = int(det.sample_rate)
        if "progress" in det.get_params():
            det.set_params(progress=False)

    @property
    def threads(self) -> int | None:
        return getattr(self.det, "threads", None)

    def plan(self, wave: np.ndarray, per_window: bool = True) -> Plan:
        return Plan([wave], [1], "single", None)

    def run_batch(self, payloads: list[np.ndarray]) -> list[np.ndarray]:
        scores = self.det.score_waves(list(payloads), self.sample_rate)
        return [scores[i:i + 1] for i in range(len(payloads))]


def make_scorer(det: Detector, max_batch: int):
    return WindowScorer(det, max_batch) if isinstance(det, NeuralDetector) else WaveScorer(det, max_batch)


def combine(plan: Plan, results: list[np.ndarray]) -> tuple[float, list[float] | None]:
    """The score of a planned waveform and its per-window scores."""
    scores = np.concatenate(results)
    score = float(scores[0]) if plan.rule in ("first", "single") else float(scores.mean())
    return score, (None if plan.windows is None else [float(s) for s in scores])
