"""A corpus where the classes are trivially separable: harmonic tones (bona fide) against white noise (spoof)."""
from __future__ import annotations

import numpy as np

from spoofbench.protocols import TrialTable, write_audio

FS = 16000


def tone_or_noise(rng: np.random.Generator, bonafide: bool, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    if bonafide:
        f0 = rng.uniform(120, 300)
        wave = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 6))
        return 0.3 * wave / np.max(np.abs(wave))
    return 0.3 * rng.uniform(-1, 1, size=t.size)


def easy_split(folder, split: str, n_per_class: int, seed: int) -> TrialTable:
    """``2 * n_per_class`` 16 kHz WAV files in ``folder``, bona fide and spoof alternating."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(2 * n_per_class):
        bona = i % 2 == 0
        path = folder / f"{split}{i:03d}.wav"
        write_audio(path, tone_or_noise(rng, bona), FS)
        records.append(dict(utt_id=path.stem, path=str(path), label="bonafide" if bona else "spoof",
                            attack="-" if bona else "A01", speaker="s", split=split))
    return TrialTable.from_records(records)
