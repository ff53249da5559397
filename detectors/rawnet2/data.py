"""Waveform inputs for RawNet2: the official fixed-length rule, random crops, an optional in-memory cache,
and the equal error rate used for model selection (the official DET construction, ties by input order)."""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from spoofbench.protocols.audio import load_audio

from .model import fit_length, sliding_windows

#: Cache decoded training audio in memory when it takes at most this many bytes ("auto").
AUTO_CACHE_BYTES = 2 << 30


def crop(wave: np.ndarray, n_samples: int, mode: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """"first": the official rule (first ``n_samples``, or tiled). "random": a random window of a longer
    utterance (the ASVspoof 5 baseline's training crop; its start may be any valid offset), tiled if shorter."""
    if mode == "random" and len(wave) > n_samples:
        start = int(rng.integers(0, len(wave) - n_samples + 1))
        return np.asarray(wave[start:start + n_samples], dtype=np.float32)
    return fit_length(wave, n_samples)


class TrainingWaves(torch.utils.data.Dataset):
    """(wave, label) pairs of a trial table. Crops are a pure function of (seed, epoch, index), so the data
    are the same whatever the number of loader workers or ranks, and after a resume."""

    def __init__(self, paths, labels, n_samples: int, sample_rate: int, crop_mode: str = "first",
                 seed: int = 0, cache: bool = False, progress: bool = False):
        self.paths, self.labels = list(paths), np.asarray(labels, dtype=np.int64)
        self.n_samples, self.sample_rate, self.crop_mode, self.seed = n_samples, sample_rate, crop_mode, seed
        self.epoch = 0
        self._cache = None
        if cache:
            it = tqdm(self.paths, desc="loading audio", unit="file", disable=not progress, leave=False)
            waves = [load_audio(p, sample_rate) for p in it]
            # "first" crops never change: keep only the fixed-length input
            self._cache = np.stack([fit_length(w, n_samples) for w in waves]) if crop_mode == "first" else waves

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        if self._cache is not None and self.crop_mode == "first":
            wave = self._cache[index]
        else:
            raw = self._cache[index] if self._cache is not None else load_audio(self.paths[index], self.sample_rate)
            rng = np.random.default_rng([self.seed, self.epoch, index])
            wave = crop(raw, self.n_samples, self.crop_mode, rng)
        return torch.from_numpy(np.ascontiguousarray(wave)), int(self.labels[index])


class ScoringWaves(torch.utils.data.Dataset):
    """The input windows of each utterance: the official first window, or sliding windows over all of it."""

    def __init__(self, paths, n_samples: int, sample_rate: int, mode: str = "first", hop: int | None = None):
        self.paths, self.n_samples, self.sample_rate = list(paths), n_samples, sample_rate
        self.mode, self.hop = mode, hop or n_samples // 2

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        wave = load_audio(self.paths[index], self.sample_rate)
        if self.mode == "sliding":
            return torch.from_numpy(sliding_windows(wave, self.n_samples, self.hop)), index
        return torch.from_numpy(fit_length(wave, self.n_samples)[None]), index


def collate_windows(items):
    """Stack the windows of several utterances; ``owner[i]`` is the utterance index of window i."""
    windows = torch.cat([w for w, _ in items])
    owner = torch.cat([torch.full((len(w),), i, dtype=torch.long) for w, i in items])
    return windows, owner


def equal_error_rate(bonafide: np.ndarray, spoof: np.ndarray) -> float:
    """EER (fraction) by the official ASVspoof DET construction: stable sort of [bona fide, spoof] scores,
    ties split by input order, EER = mean of miss and false-alarm rates at the first minimum of their gap."""
    bonafide, spoof = np.asarray(bonafide, dtype=np.float64), np.asarray(spoof, dtype=np.float64)
    if len(bonafide) == 0 or len(spoof) == 0:
        return float("nan")
    scores = np.concatenate([bonafide, spoof])
    labels = np.concatenate([np.ones(len(bonafide)), np.zeros(len(spoof))])
    order = np.argsort(scores, kind="mergesort")
    labels = labels[order]
    miss = np.concatenate([[0.0], np.cumsum(labels) / len(bonafide)])
    false_alarm = np.concatenate([[1.0], 1.0 - np.cumsum(1 - labels) / len(spoof)])
    i = int(np.argmin(np.abs(miss - false_alarm)))
    return float((miss[i] + false_alarm[i]) / 2)
