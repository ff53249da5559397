"""Simple transforms: gain and white noise at a target SNR (the others live in their own modules)."""
from __future__ import annotations

import re

import numpy as np

from .base import Transform, TransformError, register_transform


def signal_power(wave: np.ndarray) -> float:
    return float(np.mean(np.square(wave, dtype=np.float64))) if wave.size else 0.0


def parse_db(text: str, spec: str) -> float:
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)dB", text or "")
    if not m:
        raise TransformError(f"{spec!r}: expected a level like 10dB, got {text!r}")
    return float(m.group(1))


class Gain(Transform):
    def __init__(self, db: float):
        self.db, self.spec = db, f"gain:{db:g}dB"

    def transform(self, wave, sample_rate, rng):
        return wave * np.float32(10 ** (self.db / 20))


@register_transform("gain", "gain:±NdB", "scale the waveform by a fixed gain")
def _gain(arg):
    return Gain(parse_db(arg, f"gain:{arg}"))


class WhiteNoise(Transform):
    def __init__(self, snr_db: float):
        self.snr_db, self.spec = snr_db, f"noise:white@{snr_db:g}dB"

    def transform(self, wave, sample_rate, rng):
        noise = rng.standard_normal(wave.shape)
        p_sig = signal_power(wave)
        scale = np.sqrt(p_sig / (10 ** (self.snr_db / 10)) / max(signal_power(noise), 1e-20))
        return (wave + scale * noise).astype(np.float32)


@register_transform("noise", "noise:white@SNRdB", "additive noise at a target signal-to-noise ratio")
def _noise(arg):
    kind, _, level = (arg or "").partition("@")
    if kind != "white":
        raise TransformError(f"noise:{arg}: expected noise:white@SNRdB")
    return WhiteNoise(parse_db(level, f"noise:{arg}"))
