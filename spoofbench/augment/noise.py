"""Additive noise at a target signal-to-noise ratio (powers over the whole utterance):

* ``noise:white@SNRdB``, ``noise:pink@SNRdB`` (power ∝ 1/f), ``noise:brown@SNRdB`` (∝ 1/f²): generated;
* ``noise:babble@SNRdB``: several talkers of bona fide speech mixed; the speech comes from the caller
  (:meth:`Transform.bind_speech`: training binds its split's bona fide files) or from the spec,
  ``noise:babble=/path/to/folder_or_list@SNRdB``;
* ``noise:dir=/path/to/folder@SNRdB``: a random segment of a random file of a folder (recursively: MUSAN's
  ``musan/noise`` works as it is) or of a list file.
"""
from __future__ import annotations

import numpy as np

from .base import Transform, TransformError, quote_path, register_transform
from .signal import fit_to_length, mix_at_snr, parse_db
from .sources import AudioPool, list_audio

#: Talkers summed into babble noise.
BABBLE_TALKERS = 6
_COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # exponent of 1/f in the power spectrum


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose power spectrum falls as 1/f**exponent (white: 0, pink: 1, brown: 2)."""
    white = rng.standard_normal(n)
    if exponent == 0 or n < 2:
        return white
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]  # no infinite gain at DC
    shaped = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return shaped - shaped.mean()


class ColouredNoise(Transform):
    def __init__(self, colour: str, snr_db: float):
        self.colour, self.snr_db = colour, snr_db
        self.spec = f"noise:{colour}@{snr_db:g}dB"

    def transform(self, wave, sample_rate, rng):
        return mix_at_snr(wave, coloured_noise(len(wave), _COLOURS[self.colour], rng), self.snr_db)


class FileNoise(Transform):
    """A random stretch of a random file of a pool, at the target SNR."""

    def __init__(self, pool: AudioPool, snr_db: float, spec: str):
        self.pool, self.snr_db, self.spec = pool, snr_db, spec

    def transform(self, wave, sample_rate, rng):
        noise = fit_to_length(self.pool.draw(rng, sample_rate), len(wave), rng)
        return mix_at_snr(wave, noise, self.snr_db)


class Babble(Transform):
    """``BABBLE_TALKERS`` bona fide utterances, each at the same power, summed: many people talking."""

    def __init__(self, snr_db: float, pool: AudioPool | None, spec: str):
        self.snr_db, self.pool, self.spec = snr_db, pool, spec

    @property
    def needs_speech(self) -> bool:
        return self.pool is None

    def bind_speech(self, paths) -> Babble:
        if self.pool is not None:  # a pool named in the spec wins
            return self
        paths = [str(p) for p in paths]
        if not paths:
            raise TransformError(f"{self.spec}: no bona fide speech to mix babble from")
        return Babble(self.snr_db, AudioPool(paths), self.spec)

    def transform(self, wave, sample_rate, rng):
        if self.pool is None:
            raise TransformError(f"{self.spec} has no speech to mix: training binds it to its bona fide files; "
                                 f"elsewhere name them, e.g. noise:babble=/path/to/speech@{self.snr_db:g}dB")
        babble = np.zeros(len(wave), dtype=np.float64)
        for _ in range(BABBLE_TALKERS):
            talker = fit_to_length(self.pool.draw(rng, sample_rate), len(wave), rng).astype(np.float64)
            power = float(np.mean(talker ** 2))
            if power > 0:
                babble += talker / np.sqrt(power)
        return mix_at_snr(wave, babble, self.snr_db)


_SYNTAX = "noise:white|pink|brown|babble[=SPEECH]|dir=FOLDER@SNRdB"


@register_transform("noise", _SYNTAX, "additive noise at a target signal-to-noise ratio")
def _noise(arg):
    spec = f"noise:{arg}"
    kind, _, level = (arg or "").rpartition("@")
    if not kind:
        raise TransformError(f"{spec!r}: expected {_SYNTAX}")
    snr = parse_db(level, spec)
    name, _, source = kind.partition("=")
    if name in _COLOURS and not source:
        return ColouredNoise(name, snr)
    canonical = f"noise:{name}{'=' + quote_path(source) if source else ''}@{snr:g}dB"
    if name == "babble":
        pool = AudioPool(list_audio(source, spec)) if source else None
        return Babble(snr, pool, canonical)
    if name == "dir" and source:
        return FileNoise(AudioPool(list_audio(source, spec)), snr, canonical)
    raise TransformError(f"{spec!r}: unknown noise {kind!r}; valid: {_SYNTAX}")
