"""Audio pools that transforms draw from: a folder of files (noise, room impulse responses; MUSAN's and the
RIR corpora's layouts work as they are, files are found recursively), a text file listing one path a line, or
a list of paths handed over by the caller (the bona fide training speech a babble transform mixes)."""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from spoofbench.protocols.audio import load_audio
from spoofbench.protocols.errors import AudioError

from .base import TransformError, TransformFailed

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au", ".opus")
#: Decoded files kept per pool and process (a training epoch draws from the same few files again and again).
CACHED_FILES = 64


def list_audio(source: str, spec: str) -> list[str]:
    """The audio files of a folder (recursive, sorted: the order, and so each draw, is the same on any
    machine) or of a list file (one path a line, relative to the list's folder)."""
    path = Path(os.path.expanduser(source))
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    elif path.is_file():
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
        files = [str(path.parent / ln) if not os.path.isabs(ln) else ln for ln in lines if ln and ln[0] != "#"]
    else:
        raise TransformError(f"{spec!r}: {source} is neither a folder nor a list file")
    if not files:
        raise TransformError(f"{spec!r}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in {source}")
    return files


class AudioPool:
    """Files to draw from, decoded on first use at the rate asked for (a small cache per process)."""

    def __init__(self, files: list[str]):
        self.files = list(files)
        self._cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int, sample_rate: int) -> np.ndarray:
        key = (self.files[index], int(sample_rate))
        wave = self._cache.get(key)
        if wave is None:
            try:
                wave = load_audio(self.files[index], sample_rate)
            except AudioError as exc:
                raise TransformFailed(str(exc)) from None
            self._cache[key] = wave
            if len(self._cache) > CACHED_FILES:
                self._cache.popitem(last=False)
        return wave

    def draw(self, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
        return self.load(int(rng.integers(0, len(self.files))), sample_rate)

    def __getstate__(self):  # data-loader workers get the file list, not the decoded audio
        return {"files": self.files}

    def __setstate__(self, state):
        self.__init__(state["files"])
