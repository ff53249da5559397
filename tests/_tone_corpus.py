"""A corpus where a detector can only rely on one band: bona fide and spoof files are the same kind of harmonic
"speech" below 3.5 kHz, and every spoof also carries a faint tone at 6.3-6.7 kHz (band 6 of eight 1 kHz bands)."""
from __future__ import annotations

import numpy as np

from spoofbench.protocols import TrialTable, write_audio

FS = 16000
TONE_BAND = 6  # of 8 equal-width bands over 0-8 kHz: 6-7 kHz


def speech_like(rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    f0 = rng.uniform(100, 220)
    wave = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 20) if k * f0 < 3500)
    wave = wave * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(2, 5) * t))
    return 0.3 * wave / np.abs(wave).max() + 0.003 * rng.standard_normal(t.size)


def tone_split(folder, n_per_class: int, seed: int, split: str = "eval") -> TrialTable:
    """``2 * n_per_class`` WAV files, bona fide and spoof (attack ``T1``) alternating, and a ``manifest.csv``
    (the csv protocol) beside them."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    records, lines = [], ["path,label,attack,split"]
    for i in range(2 * n_per_class):
        bona = i % 2 == 0
        wave = speech_like(rng)
        if not bona:
            wave = wave + 0.05 * np.sin(2 * np.pi * rng.uniform(6300, 6700) * np.arange(wave.size) / FS)
        path = folder / f"{split}{i:03d}.wav"
        write_audio(path, wave.astype(np.float32), FS)
        label, attack = ("bonafide", "-") if bona else ("spoof", "T1")
        records.append(dict(utt_id=path.stem, path=str(path), label=label, attack=attack, speaker="s", split=split))
        lines.append(f"{path.name},{label},{attack},{split}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return TrialTable.from_records(records)
