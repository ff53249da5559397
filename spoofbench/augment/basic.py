"""Simple transforms: gain and clipping (the other families live in their own modules)."""
from __future__ import annotations

import re

import numpy as np

from .base import Transform, TransformError, register_transform
from .signal import parse_db, signal_power

__all__ = ["Clip", "Gain", "parse_db", "signal_power"]


class Gain(Transform):
    def __init__(self, db: float):
        self.db, self.spec = db, f"gain:{db:g}dB"

    def transform(self, wave, sample_rate, rng):
        return wave * np.float32(10 ** (self.db / 20))


@register_transform("gain", "gain:±NdB", "scale the waveform by a fixed gain")
def _gain(arg):
    return Gain(parse_db(arg, f"gain:{arg}"))


class Clip(Transform):
    """Hard clipping at a fraction of the utterance's peak (``clip:0.5``) or at a level below it
    (``clip:-6dB``): the overdriven microphone or amplifier."""

    def __init__(self, fraction: float, spec: str):
        self.fraction, self.spec = fraction, spec

    def transform(self, wave, sample_rate, rng):
        peak = float(np.max(np.abs(wave))) if wave.size else 0.0
        limit = np.float32(peak * self.fraction)
        return np.clip(wave, -limit, limit)


@register_transform("clip", "clip:FRACTION|-NdB", "hard clipping at a fraction of the peak (clip:0.3, clip:-10dB)")
def _clip(arg):
    spec = f"clip:{arg}"
    if arg and arg.endswith("dB"):
        db = parse_db(arg, spec)
        if db >= 0:
            raise TransformError(f"{spec!r}: the clipping level must be below the peak (a negative dB value)")
        return Clip(10 ** (db / 20), f"clip:{db:g}dB")
    if not arg or not re.fullmatch(r"\d*\.?\d+", arg) or not 0 < float(arg) < 1:
        raise TransformError(f"{spec!r}: expected clip:FRACTION with 0 < FRACTION < 1 (of the peak) or clip:-NdB")
    return Clip(float(arg), f"clip:{float(arg):g}")
