"""Channel effects: band-pass filtering, packet loss, time stretch and pitch shift."""
from __future__ import annotations

import re

import numpy as np

from .base import Transform, TransformError, TransformFailed, register_transform
from .signal import bandpass

#: Length of one lost packet (VoIP frames).
PACKET_SECONDS = 0.02
#: librosa's STFT length: time stretch and pitch shift need at least this many samples.
STFT_SAMPLES = 2048


def _long_enough(wave: np.ndarray, spec: str) -> None:
    if len(wave) < STFT_SAMPLES:
        raise TransformFailed(f"{spec}: input of {len(wave)} samples is shorter than the {STFT_SAMPLES}-sample "
                              "analysis window")


class BandPass(Transform):
    def __init__(self, low: float, high: float):
        self.low, self.high = low, high
        self.spec = f"bandpass:{low:g}-{high:g}"

    def transform(self, wave, sample_rate, rng):
        if self.low >= sample_rate / 2:
            return np.zeros_like(wave)
        return bandpass(wave, sample_rate, self.low, self.high)


@register_transform("bandpass", "bandpass:LOW-HIGH", "zero-phase band-pass filter (Hz), e.g. bandpass:300-3400")
def _bandpass(arg):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)", arg or "")
    if not m or not 0 < float(m.group(1)) < float(m.group(2)):
        raise TransformError(f"'bandpass:{arg}': expected bandpass:LOW-HIGH in Hz with 0 < LOW < HIGH")
    return BandPass(float(m.group(1)), float(m.group(2)))


class PacketLoss(Transform):
    """Each 20 ms frame is lost (zeroed, no concealment) with the given probability."""

    def __init__(self, rate: float):
        self.rate = rate
        self.spec = f"packetloss:{rate * 100:g}%"

    def transform(self, wave, sample_rate, rng):
        frame = max(1, int(round(PACKET_SECONDS * sample_rate)))
        n_frames = -(-len(wave) // frame)
        lost = np.repeat(rng.random(n_frames) < self.rate, frame)[:len(wave)]
        out = wave.copy()
        out[lost] = 0
        return out


@register_transform("packetloss", "packetloss:N%", "drop 20 ms frames at random (N % of them)")
def _packetloss(arg):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)%", arg or "")
    if not m or not 0 < float(m.group(1)) < 100:
        raise TransformError(f"'packetloss:{arg}': expected packetloss:N% with 0 < N < 100")
    return PacketLoss(float(m.group(1)) / 100)


class TimeStretch(Transform):
    """Faster (factor > 1) or slower speech at the same pitch (librosa's phase vocoder): the length changes."""

    def __init__(self, factor: float):
        self.factor = factor
        self.spec = f"stretch:{factor:g}"

    def transform(self, wave, sample_rate, rng):
        import librosa

        _long_enough(wave, self.spec)
        return librosa.effects.time_stretch(wave, rate=self.factor)


@register_transform("stretch", "stretch:FACTOR", "time stretch at the same pitch, FACTOR 0.5-2 (e.g. 1.05)")
def _stretch(arg):
    if not arg or not re.fullmatch(r"\d*\.?\d+", arg) or not 0.5 <= float(arg) <= 2:
        raise TransformError(f"'stretch:{arg}': expected stretch:FACTOR with 0.5 <= FACTOR <= 2")
    return TimeStretch(float(arg))


class PitchShift(Transform):
    """Pitch shifted by a number of semitones at the same duration (librosa)."""

    def __init__(self, semitones: float):
        self.semitones = semitones
        self.spec = f"pitch:{semitones:+g}"

    def transform(self, wave, sample_rate, rng):
        import librosa

        _long_enough(wave, self.spec)
        return librosa.effects.pitch_shift(wave, sr=sample_rate, n_steps=self.semitones)


@register_transform("pitch", "pitch:±SEMITONES", "pitch shift in semitones, -12 to 12 (e.g. pitch:+1)")
def _pitch(arg):
    if not arg or not re.fullmatch(r"[+-]?\d*\.?\d+", arg) or not 0 < abs(float(arg)) <= 12:
        raise TransformError(f"'pitch:{arg}': expected pitch:±SEMITONES, 0 < |SEMITONES| <= 12")
    return PitchShift(float(arg))
