"""Reverberation: ``reverb:rt60=0.6`` (rooms simulated with pyroomacoustics) and ``reverb:dir=/path`` (a folder of
measured room impulse responses, e.g. the RIRS_NOISES corpus, or a list file).

Simulated rooms are cheap on purpose: a bank of ``RIR_BANK`` small shoebox rooms per (RT60, sample rate) is
built once per process from fixed seeds; each utterance draws one of them with its own generator. Each impulse
response is the image method (pyroomacoustics, reflection order capped at ``MAX_ORDER``) for the direct path
and early reflections, and after ``LATE_SECONDS`` a diffuse tail of noise decaying by 60 dB over RT60, joined
at the image method's level there: the image method alone, at a low order, stops long before a 0.6 s room has
decayed. The impulse response is cut to start at its direct path (so the output lines up with the input) and
the reverberant output is scaled to the input's level.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from .base import Transform, TransformError, quote_path, register_transform
from .sources import AudioPool, list_audio

#: Simulated rooms per (RT60, rate); utterances draw among them.
RIR_BANK = 8
#: Cap on the image-source reflection order (the late part comes from the diffuse tail).
MAX_ORDER = 20
#: Where the early reflections end and the diffuse tail takes over.
LATE_SECONDS = 0.05


def _import_pra():
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise TransformError("reverb:rt60 needs pyroomacoustics: pip install 'spoofbench[robust]'") from None
    return pra


@lru_cache(maxsize=32)
def simulated_rirs(rt60: float, sample_rate: int) -> tuple[np.ndarray, ...]:
    """``RIR_BANK`` impulse responses of random small rooms with reverberation time ``rt60`` seconds."""
    pra = _import_pra()
    rng = np.random.default_rng([int(round(rt60 * 1000)), int(sample_rate), 2026])
    rirs = []
    while len(rirs) < RIR_BANK:
        room_dim = rng.uniform([3.0, 3.0, 2.4], [8.0, 6.0, 3.2])
        try:
            absorption, max_order = pra.inverse_sabine(rt60, room_dim)
        except ValueError:  # this RT60 is out of reach for this room size: draw another room
            continue
        room = pra.ShoeBox(room_dim, fs=int(sample_rate), materials=pra.Material(absorption),
                           max_order=min(int(max_order), MAX_ORDER))
        margin = 0.5
        room.add_source(rng.uniform(margin, room_dim - margin))
        room.add_microphone(rng.uniform(margin, room_dim - margin))
        room.compute_rir()
        rirs.append(with_diffuse_tail(np.asarray(room.rir[0][0], dtype=np.float64), rt60, sample_rate, rng))
    return tuple(rirs)


def with_diffuse_tail(rir: np.ndarray, rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """``rir`` from its direct path to ``LATE_SECONDS`` later, then Gaussian noise whose amplitude falls as
    exp(-6.91 t / rt60) (60 dB over rt60), scaled to the early part's RMS level around the join."""
    rir = rir[int(np.argmax(np.abs(rir))):]
    join = int(LATE_SECONDS * sample_rate)
    n = max(int(1.2 * rt60 * sample_rate), join + 1)
    envelope = np.exp(-6.91 * np.arange(n) / (rt60 * sample_rate))
    tail = rng.standard_normal(n) * envelope
    window = slice(max(0, join - join // 4), join)  # the last stretch of the early part
    early = rir[window] if len(rir) > join else rir[-max(1, join // 4):]
    level = float(np.sqrt(np.mean(early ** 2))) if early.size else 0.0
    tail *= level / max(float(np.sqrt(np.mean(tail[window] ** 2))), 1e-12)
    out = tail.copy()
    m = min(join, len(rir))
    out[:m] = rir[:m]
    return out


def reverberate(wave: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``wave`` convolved with ``rir`` from its direct path on, same length and level as the input."""
    from scipy import signal as sps

    start = int(np.argmax(np.abs(rir)))
    rir = rir[start:]
    wet = sps.oaconvolve(wave.astype(np.float64), rir)[:len(wave)]
    p_in, p_out = float(np.mean(wave.astype(np.float64) ** 2)), float(np.mean(wet ** 2))
    if p_out > 0:
        wet *= np.sqrt(p_in / p_out)
    return wet.astype(np.float32)


class SimulatedReverb(Transform):
    def __init__(self, rt60: float):
        self.rt60 = rt60
        self.spec = f"reverb:rt60={rt60:g}"

    def transform(self, wave, sample_rate, rng):
        bank = simulated_rirs(self.rt60, int(sample_rate))
        return reverberate(wave, bank[int(rng.integers(0, len(bank)))])


class FileReverb(Transform):
    def __init__(self, pool: AudioPool, spec: str):
        self.pool, self.spec = pool, spec

    def transform(self, wave, sample_rate, rng):
        return reverberate(wave, self.pool.draw(rng, sample_rate).astype(np.float64))


@register_transform("reverb", "reverb:rt60=SECONDS|dir=FOLDER", "room reverberation (simulated or measured RIRs)")
def _reverb(arg):
    spec = f"reverb:{arg}"
    key, _, value = (arg or "").partition("=")
    if key == "rt60" and re.fullmatch(r"\d*\.?\d+", value):
        rt60 = float(value)
        if not 0.05 <= rt60 <= 3.0:
            raise TransformError(f"{spec!r}: rt60 must be 0.05 to 3 seconds")
        _import_pra()
        return SimulatedReverb(rt60)
    if key == "dir" and value:
        return FileReverb(AudioPool(list_audio(value, spec)), f"reverb:dir={quote_path(value)}")
    raise TransformError(f"{spec!r}: expected reverb:rt60=SECONDS (e.g. reverb:rt60=0.6) or reverb:dir=FOLDER")
