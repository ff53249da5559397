"""Waveform inputs of the neural engine: the official fixed-length rule (first window, short files tiled),
random training crops, sliding scoring windows, whole utterances (``n_samples=None``: batches zero-padded to
their longest item, as the NII toolkit's collate, ordered by length blocks as its sampler), and an optional
in-memory cache of decoded training audio."""
from __future__ import annotations

import os

import numpy as np
import torch
from tqdm.auto import tqdm

from spoofbench.protocols.audio import audio_info, load_audio

#: Cache decoded training audio in memory when it takes at most this many bytes ("auto").
AUTO_CACHE_BYTES = 2 << 30


def crop(wave: np.ndarray, n_samples: int, mode: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """"first": the official rule (first ``n_samples``, or tiled). "random": a random window of a longer
    utterance (the ASVspoof 5 baseline's training crop; its start may be any valid offset), tiled if shorter."""
    if mode == "random" and len(wave) > n_samples:
        start = int(rng.integers(0, len(wave) - n_samples + 1))
        return np.asarray(wave[start:start + n_samples], dtype=np.float32)
    return fit_length(wave, n_samples)


def fit_length(wave: np.ndarray, n_samples: int) -> np.ndarray:
    """The official input rule: the first ``n_samples`` samples, or the whole utterance tiled until long
    enough and then cut (``pad`` in the official data_utils)."""
    wave = np.asarray(wave, dtype=np.float32)
    if len(wave) == 0:
        raise ValueError("empty waveform")
    if len(wave) >= n_samples:
        return wave[:n_samples]
    return np.tile(wave, n_samples // len(wave) + 1)[:n_samples]


def sliding_windows(wave: np.ndarray, n_samples: int, hop: int) -> np.ndarray:
    """Windows of ``n_samples`` every ``hop`` samples covering the whole utterance (the last one aligned
    with its end); an utterance shorter than one window gives the single tiled window of ``fit_length``."""
    wave = np.asarray(wave, dtype=np.float32)
    if len(wave) <= n_samples:
        return fit_length(wave, n_samples)[None]
    starts = list(range(0, len(wave) - n_samples + 1, hop))
    if starts[-1] != len(wave) - n_samples:
        starts.append(len(wave) - n_samples)
    return np.stack([wave[s:s + n_samples] for s in starts])


def pad_batch(items):
    """Collate (wave, label) pairs of different lengths: zero-padded at the end to the longest of the batch
    (the NII toolkit's ``customize_collate``; the network sees the padding, as there)."""
    longest = max(len(w) for w, _ in items)
    waves = torch.zeros(len(items), longest)
    for i, (w, _) in enumerate(items):
        waves[i, :len(w)] = w
    return waves, torch.tensor([y for _, y in items], dtype=torch.long)


def length_block_order(lengths, batch_size: int, seed: int, epoch: int) -> torch.Tensor:
    """The NII toolkit's ``block_shuffle_by_length`` order: indices sorted by length, shuffled within blocks of
    ``4 * batch_size``, then whole blocks shuffled (a last partial block stays last). Consecutive batches thus
    hold utterances of similar length. A function of (seed, epoch) only."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = np.argsort(np.asarray(lengths), kind="stable")
    block = 4 * batch_size
    blocks = [order[i:i + block] for i in range(0, len(order), block)]
    blocks = [b[torch.randperm(len(b), generator=gen).numpy()] for b in blocks]
    n_full = len(order) // block
    shuffled = [blocks[i] for i in torch.randperm(n_full, generator=gen).tolist()] + blocks[n_full:]
    return torch.from_numpy(np.concatenate(shuffled) if shuffled else order.astype(np.int64))


class TrainingWaves(torch.utils.data.Dataset):
    """(wave, label) pairs of a trial table. Crops are a pure function of (seed, epoch, index), so the data
    are the same whatever the number of loader workers or ranks, and after a resume. ``n_samples=None``: each
    item is the whole utterance (collate with ``pad_batch``).

    ``augment`` (a :class:`spoofbench.augment.Augmentation`): applied to each crop on the fly, in the loader
    workers, a pure function of (seed, epoch, utterance); the crop is applied first (cheaper: RawBoost on 4 s,
    not on the whole file), and a transform that changes the length (time stretch) is cut or tiled back."""

    def __init__(self, paths, labels, n_samples: int | None, sample_rate: int, crop_mode: str = "first",
                 seed: int = 0, cache: bool = False, progress: bool = False, augment=None):
        self.paths, self.labels = list(paths), np.asarray(labels, dtype=np.int64)
        self.n_samples, self.sample_rate, self.crop_mode, self.seed = n_samples, sample_rate, crop_mode, seed
        self.augment = augment
        if augment is not None:
            augment.warm_up(sample_rate)
        self.epoch = 0
        self._cache = None
        if cache:
            it = tqdm(self.paths, desc="loading audio", unit="file", disable=not progress, leave=False)
            waves = [load_audio(p, sample_rate) for p in it]
            # "first" crops never change: keep only the fixed-length input
            fixed = crop_mode == "first" and n_samples is not None
            self._cache = np.stack([fit_length(w, n_samples) for w in waves]) if fixed else waves

    def __len__(self) -> int:
        return len(self.paths)

    def lengths(self) -> np.ndarray:
        """Samples of each utterance at ``sample_rate`` (from the cache, else from the file headers)."""
        if self._cache is not None and self.n_samples is None:
            return np.array([len(w) for w in self._cache])
        infos = [audio_info(p) for p in self.paths]
        return np.array([round(i.frames * self.sample_rate / i.sample_rate) for i in infos])

    def __getitem__(self, index: int):
        if self.n_samples is None:  # whole utterances
            raw = self._cache[index] if self._cache is not None else load_audio(self.paths[index], self.sample_rate)
            wave = np.asarray(raw, dtype=np.float32)
        elif self._cache is not None and self.crop_mode == "first":
            wave = self._cache[index]
        else:
            raw = self._cache[index] if self._cache is not None else load_audio(self.paths[index], self.sample_rate)
            rng = np.random.default_rng([self.seed, self.epoch, index])
            wave = crop(raw, self.n_samples, self.crop_mode, rng)
        if self.augment is not None:
            wave = self.augment.apply(wave, self.sample_rate, seed=self.seed, utt_id=_utt_id(self.paths[index]),
                                      epoch=self.epoch)
            if self.n_samples is not None and len(wave) != self.n_samples:
                wave = fit_length(wave, self.n_samples)
        return torch.from_numpy(np.ascontiguousarray(wave)), int(self.labels[index])


def _utt_id(path) -> str:
    """The utterance's name (file name without extension): augmentation draws do not depend on where the
    corpus lies."""
    name = os.path.basename(str(path))
    return name.rsplit(".", 1)[0] if "." in name else name


class ScoringWaves(torch.utils.data.Dataset):
    """The input windows of each utterance: the official first window, sliding windows over all of it, or
    (``mode="whole"``) the whole utterance as one window."""

    def __init__(self, paths, n_samples: int, sample_rate: int, mode: str = "first", hop: int | None = None):
        self.paths, self.n_samples, self.sample_rate = list(paths), n_samples, sample_rate
        self.mode, self.hop = mode, hop or (n_samples // 2 if n_samples else None)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        wave = load_audio(self.paths[index], self.sample_rate)
        if self.mode == "sliding":
            return torch.from_numpy(sliding_windows(wave, self.n_samples, self.hop)), index
        if self.mode == "whole":
            return torch.from_numpy(wave[None]), index
        return torch.from_numpy(fit_length(wave, self.n_samples)[None]), index


def collate_windows(items):
    """Stack the windows of several utterances; ``owner[i]`` is the utterance index of window i."""
    windows = torch.cat([w for w, _ in items])
    owner = torch.cat([torch.full((len(w),), i, dtype=torch.long) for w, i in items])
    return windows, owner
