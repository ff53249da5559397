"""Signal helpers shared by the transform families: levels, resampling, filtering and alignment."""
from __future__ import annotations

import re

import numpy as np

from .base import TransformError, TransformFailed


def signal_power(wave: np.ndarray) -> float:
    return float(np.mean(np.square(wave, dtype=np.float64))) if wave.size else 0.0


def parse_db(text: str, spec: str) -> float:
    m = re.fullmatch(r"([-+]?\d+(?:\.\d+)?)dB", text or "")
    if not m:
        raise TransformError(f"{spec!r}: expected a level like 10dB, got {text!r}")
    return float(m.group(1))


def parse_rate(text: str, spec: str) -> float:
    """'8k' -> 8000.0, '11.025k' -> 11025.0, '12.2k' -> 12200.0, '16000' -> 16000.0."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(k?)", text or "")
    if not m:
        raise TransformError(f"{spec!r}: expected a rate like 8k or 16000, got {text!r}")
    return float(m.group(1)) * (1000 if m.group(2) else 1)


def mix_at_snr(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``wave + g * noise`` with g chosen so that the mixture's signal-to-noise ratio is exactly ``snr_db``
    (powers over the whole utterance)."""
    if signal_power(wave) <= 0:
        raise TransformFailed("input is digital silence: a signal-to-noise ratio is undefined")
    p_noise = signal_power(noise)
    if p_noise <= 0:
        raise TransformFailed("the noise is digital silence: it cannot reach a signal-to-noise ratio")
    gain = np.sqrt(signal_power(wave) / (10 ** (snr_db / 10)) / p_noise)
    return (wave.astype(np.float64) + gain * noise).astype(np.float32)


def fit_to_length(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random window of ``n`` samples of ``noise``, tiled when it is shorter."""
    if len(noise) >= n:
        start = int(rng.integers(0, len(noise) - n + 1))
        return noise[start:start + n]
    start = int(rng.integers(0, len(noise)))
    return np.tile(np.roll(noise, -start), n // len(noise) + 1)[:n]


def resample(wave: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """soxr's high-quality resampler (the toolkit's audio loader uses it too); a no-op at equal rates."""
    if int(rate_in) == int(rate_out):
        return np.asarray(wave, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(wave, dtype=np.float32), int(rate_in), int(rate_out), quality="HQ")


def bandpass(wave: np.ndarray, sample_rate: int, low: float, high: float, order: int = 8) -> np.ndarray:
    """Zero-phase Butterworth band-pass (forward and backward, so the output stays aligned). A band edge at
    or above Nyquist makes it a high-pass."""
    from scipy import signal as sps

    nyquist = sample_rate / 2
    if high >= nyquist * 0.999:
        sos = sps.butter(order, low, btype="highpass", fs=sample_rate, output="sos")
    else:
        sos = sps.butter(order, [low, high], btype="bandpass", fs=sample_rate, output="sos")
    if len(wave) <= 3 * (2 * sos.shape[0] + 1):  # too short for filtfilt's edge padding
        return sps.sosfilt(sos, wave).astype(np.float32)
    return sps.sosfiltfilt(sos, wave).astype(np.float32)


def align_to(reference: np.ndarray, processed: np.ndarray, max_lag: int) -> np.ndarray:
    """``processed`` shifted by the lag (within ±``max_lag`` samples) that best matches ``reference`` (codec
    and resampler delays), then cut or zero-padded to the reference's length, so scores of the two compare."""
    n = len(reference)
    lag = 0
    if max_lag > 0 and np.any(reference) and np.any(processed):
        from scipy import signal as sps

        corr = sps.correlate(processed.astype(np.float64), reference.astype(np.float64), mode="full",
                             method="fft")
        lags = np.arange(-n + 1, len(processed))
        window = (lags >= -max_lag) & (lags <= max_lag)
        lag = int(lags[window][np.argmax(corr[window])])
    out = np.zeros(n, dtype=np.float32)
    if lag >= 0:
        part = processed[lag:lag + n]
        out[:len(part)] = part
    else:
        part = processed[:n + lag]
        out[-lag:-lag + len(part)] = part
    return out
