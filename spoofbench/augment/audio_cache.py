"""An on-disk cache of transformed audio: each (transform, source file, utterance, seed) processed once.

An entry is keyed by the transform's spec (a condition of the degradation benchmark, or a training copy), the
source file's content digest, the utterance id (transforms draw their randomness from it) and the seed, so the
same file under the same transform is never processed twice, whatever run, system or output folder asks for
it, and a changed source file gets a new entry. Entries are 32-bit float WAV (no requantisation beyond what the
transform itself does), written atomically: a killed run leaves no half-written file behind. ``salt`` keys
what else an entry depends on (the model an adversarial example was crafted on, the speech babble mixes).
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from spoofbench.protocols.audio import load_audio
from spoofbench.protocols.files import atomic_path, file_sha256
from spoofbench.protocols.trials import TrialTable

from .base import TransformFailed


@dataclass
class DegradedTable:
    """The trials of one split under one condition: ``table`` has the degraded audio's paths (trials the
    condition could not process are left out and listed in ``failed`` as (utt_id, reason))."""

    table: TrialTable
    failed: list[tuple[str, str]] = field(default_factory=list)
    created: int = 0     # entries made by this call (the others came from the cache)


class AudioDigests:
    """Content digests of source audio files, from the corpus scan where it hashed them, else computed once."""

    def __init__(self, known: dict[str, str | None] | None = None):
        self._known = {k: v for k, v in (known or {}).items() if v}

    def __call__(self, path: str) -> str:
        if path not in self._known:
            self._known[path] = file_sha256(path)
        return self._known[path]


def entry_path(cache_dir: Path, condition: str, digest: str, utt_id: str, seed: int, salt: str = "") -> Path:
    key = hashlib.sha256(f"{condition}\0{digest}\0{utt_id}\0{seed}\0{salt}".encode()).hexdigest()
    folder = hashlib.sha256(f"{condition}\0{salt}".encode()).hexdigest()[:16]
    return cache_dir / folder / key[:2] / f"{key}.wav"


def write_wave(path: Path, wave: np.ndarray, sample_rate: int) -> None:
    with atomic_path(path) as tmp:
        sf.write(tmp, np.asarray(wave, dtype=np.float32), int(sample_rate), subtype="FLOAT", format="WAV")


def degrade_table(table: TrialTable, condition: str, apply: Callable[[np.ndarray, int, str], np.ndarray],
                  cache_dir: Path, digests: AudioDigests, *, seed: int = 0, salt: str = "",
                  only: np.ndarray | None = None, progress: bool = True, desc: str = "") -> DegradedTable:
    """``table`` with each file replaced by its degraded version (made by ``apply(wave, rate, utt_id)`` at the
    file's own rate, or taken from the cache). ``only`` (a boolean mask): process those trials, keep the
    others' audio as it is (an attacker perturbs only spoofs). A :class:`TransformFailed` leaves that trial out
    (listed in ``failed``); any other error propagates (the condition fails)."""
    paths = list(table["path"])
    new_paths, keep, failed, created = [], [], [], 0
    todo = np.ones(len(table), dtype=bool) if only is None else np.asarray(only, dtype=bool)
    bar = tqdm(range(len(table)), desc=desc or condition, unit="file", leave=False, disable=not progress)
    for i in bar:
        utt, src = str(table["utt_id"][i]), paths[i]
        if not todo[i]:
            new_paths.append(src)
            keep.append(i)
            continue
        target = entry_path(cache_dir, condition, digests(src), utt, seed, salt)
        if not target.is_file():
            wave = load_audio(src, None)
            rate = _rate(src)
            try:
                out = apply(wave, rate, utt)
            except TransformFailed as exc:
                failed.append((utt, str(exc)))
                continue
            write_wave(target, out, rate)
            created += 1
        new_paths.append(str(target))
        keep.append(i)
    kept = table[np.asarray(keep, dtype=np.int64)]
    return DegradedTable(kept.with_column("path", new_paths), failed, created)


def _rate(path: str) -> int:
    return int(sf.info(os.fspath(path)).samplerate)
