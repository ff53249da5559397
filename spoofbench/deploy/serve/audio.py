"""Uploaded audio, decoded in memory as ``bench score`` decodes files (``load_audio``: soundfile, float32, mono
mean of the channels, soxr to the detector's rate) with the same quality flags (too short, silent, clipped,
resampled, down-mixed). Nothing is written to disk."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from spoofbench.protocols import quality
from spoofbench.protocols.audio import AudioInfo, resample

# the same header checks and sample statistics that ``bench score`` flags files with
from spoofbench.protocols.describe import AudioCheck, _levels, _wav_truncation
from spoofbench.protocols.errors import AudioError


class TooLong(AudioError):
    """Audio longer than the service accepts (HTTP 413)."""


@dataclass(frozen=True)
class Decoded:
    wave: np.ndarray          # mono float32 at the detector's rate
    flags: list[str]
    seconds: float            # duration of the upload
    native_rate: int
    channels: int


def decode_upload(data: bytes, name: str, *, sample_rate: int, min_samples: int, max_seconds: float | None) -> Decoded:
    """Decode ``data`` (WAV, FLAC, OGG, MP3, ...). Raises :class:`AudioError` naming ``name`` for unusable audio,
    :class:`TooLong` beyond ``max_seconds`` (checked from the header, before decoding)."""
    if not data:
        raise AudioError(name, "audio file is empty (0 bytes)")
    try:
        header = sf.info(io.BytesIO(data))
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioError(name, f"cannot read audio header ({_last_line(exc)}); send WAV, FLAC, OGG or MP3") from None
    info = AudioInfo(int(header.samplerate), int(header.frames), int(header.channels), str(header.extra_info or ""))
    if max_seconds is not None and info.duration > max_seconds:
        raise TooLong(name, f"audio is {info.duration:.1f} s long; this service accepts at most {max_seconds:g} s")
    truncated = _wav_truncation(info.extra)
    if truncated:
        raise AudioError(name, truncated)
    try:
        data2d, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioError(name, f"cannot decode audio, the file is corrupt or truncated ({_last_line(exc)})") from None
    if data2d.shape[0] == 0:
        raise AudioError(name, "audio file holds no samples")
    if info.frames and data2d.shape[0] < info.frames:
        raise AudioError(name, f"truncated: the header announces {info.frames} samples, only {data2d.shape[0]} decode")
    if max_seconds is not None and data2d.shape[0] / rate > max_seconds:  # headers without a length (streams)
        raise TooLong(name, f"audio is {data2d.shape[0] / rate:.1f} s long; this service accepts at most "
                            f"{max_seconds:g} s")
    if not np.all(np.isfinite(data2d)):
        raise AudioError(name, "audio holds NaN or Inf samples")
    info = AudioInfo(int(rate), int(data2d.shape[0]), int(data2d.shape[1]), info.extra)
    check = AudioCheck(info.duration, None, None, info, _levels(data2d))
    flags = quality.quality_flags(check, sample_rate=sample_rate, min_samples=min_samples)
    wave = data2d.mean(axis=1) if data2d.shape[1] > 1 else data2d[:, 0]
    if rate != sample_rate:
        wave = resample(wave, rate, sample_rate)
    return Decoded(np.ascontiguousarray(wave, dtype=np.float32), flags, info.duration, int(rate), info.channels)


def _last_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1][:160] if text else type(exc).__name__
