"""Audio I/O: FLAC/WAV through soundfile, mono mixdown, soxr resampling, float32 in [-1, 1]."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from .errors import AudioError
from .files import atomic_path

DEFAULT_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    frames: int
    channels: int
    extra: str = field(default="", compare=False, repr=False)  # libsndfile's extra_info (chunk sizes of a WAV)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def audio_info(path: os.PathLike | str) -> AudioInfo:
    """Header facts of an audio file, without decoding it. Raises AudioError for a missing or unreadable file."""
    _check_exists(path)
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as exc:  # LibsndfileError subclasses RuntimeError in new versions
        raise AudioError(path, f"cannot read audio header ({_short(exc)})") from None
    return AudioInfo(int(info.samplerate), int(info.frames), int(info.channels), str(info.extra_info or ""))


def load_audio(path: os.PathLike | str, sample_rate: int | None = DEFAULT_SAMPLE_RATE,
               *, expected_rate: int | None = None) -> np.ndarray:
    """Decode ``path`` to a mono float32 waveform in [-1, 1] at ``sample_rate`` (``None`` keeps the file's rate).

    ``expected_rate``: refuse files whose native rate differs (for corpora whose format fixes the rate)
    instead of silently resampling them. Every problem is raised as a one-line :class:`AudioError`.
    """
    _check_exists(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioError(path, f"cannot decode audio, the file is corrupt or truncated ({_short(exc)})") from None
    if data.shape[0] == 0:
        raise AudioError(path, "audio file holds no samples")
    if expected_rate is not None and rate != expected_rate:
        raise AudioError(path, f"sample rate is {rate} Hz, the protocol expects {expected_rate} Hz")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(wave)):
        raise AudioError(path, "audio holds NaN or Inf samples")
    if sample_rate is not None and rate != sample_rate:
        wave = resample(wave, rate, sample_rate)
    return np.ascontiguousarray(wave, dtype=np.float32)


def resample(wave: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """High-quality resampling with soxr (the same library as ffmpeg's and sox's best modes)."""
    if orig_rate == target_rate:
        return wave
    import soxr

    return soxr.resample(wave, orig_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def write_audio(path: os.PathLike | str, wave: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM (FLAC or WAV by the file extension), atomically: no half-written file is left behind."""
    path = str(path)
    fmt = "FLAC" if path.lower().endswith(".flac") else "WAV"
    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(wave, -1.0, 1.0), sample_rate, subtype="PCM_16", format=fmt)


def _check_exists(path) -> None:
    if not os.path.exists(path):
        raise AudioError(path, "audio file not found")
    if os.path.isdir(path):
        raise AudioError(path, "expected an audio file, found a folder")
    if os.path.getsize(path) == 0:
        raise AudioError(path, "audio file is empty (0 bytes)")


def _short(exc: Exception, limit: int = 200) -> str:
    return str(exc).strip().splitlines()[-1][:limit] if str(exc).strip() else type(exc).__name__
