"""The ``augment=`` hyperparameter of every detector: which transform each training utterance gets.

Notation (one string, so it works the same in Python, in a config file and with ``--set``):

* ``rawboost:3`` — every training utterance gets the transform (the official RawBoost recipe);
* ``0.5*rawboost:3+0.3*codec:mp3@32k`` — each utterance gets ``rawboost:3`` with probability 0.5,
  ``codec:mp3@32k`` with 0.3, and stays clean with the remaining 0.2 (the probabilities add up to at most 1).

A term is ``P*SPEC`` or a bare ``SPEC`` (probability 1, alone only); SPEC is any transform spec, ``chain(...)``
included. The draw is a pure function of (seed, epoch, utterance): the same on every run and in every
data-loader worker, and different from one epoch to the next.
"""
from __future__ import annotations

import re
import warnings

import numpy as np

from .base import Transform, TransformError, TransformFailed, compact_spec, parse_transform, rng_for, top_level

_TERM = re.compile(r"(\d*\.?\d+(?:e-?\d+)?)\*(.+)", re.IGNORECASE)
#: a '+' that starts a new term (followed by a probability): pitch:+1 and gain:+3dB keep their sign
_TERM_START = re.compile(r"\+(?=\d*\.?\d+(?:e-?\d+)?\*)", re.IGNORECASE)


class Augmentation:
    """A parsed ``augment=`` value: (probability, transform) terms; the rest of the probability is clean."""

    def __init__(self, terms: list[tuple[float, Transform]], spec: str):
        self.terms, self.spec = terms, spec

    @classmethod
    def parse(cls, text: str) -> Augmentation:
        """:class:`TransformError` (one line) for a malformed value."""
        if not isinstance(text, str) or not text.strip():
            raise TransformError("augment: expected a transform spec such as rawboost:3 or "
                                 "0.5*rawboost:3+0.3*codec:mp3@32k")
        compact = compact_spec(text)
        parts = _split_terms(compact)
        terms = []
        for part in parts:
            m = _TERM.fullmatch(part)
            if m:
                prob, spec = float(m.group(1)), m.group(2)
                if not 0 < prob <= 1:
                    raise TransformError(f"augment {text!r}: probability {m.group(1)} must be in (0, 1]")
            elif len(parts) == 1:
                prob, spec = 1.0, part
            else:
                raise TransformError(f"augment {text!r}: give each of several transforms a probability, "
                                     "e.g. 0.5*rawboost:3+0.3*codec:mp3@32k")
            if spec.lower().startswith("adv:"):  # not a fixed transform: it needs the model being trained
                raise TransformError(f"augment {text!r}: adversarial examples are crafted against the model as it "
                                     f"trains; set adversarial_training={spec[4:]} instead (neural detectors)")
            terms.append((prob, parse_transform(spec)))
        total = sum(p for p, _ in terms)
        if total > 1 + 1e-9:
            raise TransformError(f"augment {text!r}: the probabilities add up to {total:g}, more than 1")
        canonical = terms[0][1].spec if len(terms) == 1 and terms[0][0] == 1 else \
            "+".join(f"{p:g}*{t.spec}" for p, t in terms)
        return cls(terms, canonical)

    @property
    def needs_speech(self) -> bool:
        return any(t.needs_speech for _, t in self.terms)

    def bind_speech(self, paths) -> Augmentation:
        """Babble terms draw from these files (the bona fide training utterances)."""
        if not self.needs_speech:
            return self
        return Augmentation([(p, t.bind_speech(paths)) for p, t in self.terms], self.spec)

    def warm_up(self, sample_rate: int) -> None:
        """Run each transform once on a second of noise: its libraries are imported (scipy.signal alone can
        take seconds) and its caches filled (the simulated rooms) in this process, so data-loader workers
        forked from it each epoch start warm instead of paying that every epoch."""
        probe = (0.01 * np.random.default_rng(0).standard_normal(int(sample_rate))).astype(np.float32)
        for _, transform in self.terms:
            try:
                transform.apply(probe, sample_rate, seed=0, utt_id="warm-up")
            except (TransformFailed, TransformError):
                pass

    def choose(self, seed: int, key: str) -> Transform | None:
        """The transform drawn for this (seed, key), or None (clean)."""
        u = rng_for(seed, key, "augment:" + self.spec).random()
        edge = 0.0
        for prob, transform in self.terms:
            edge += prob
            if u < edge:
                return transform
        return None

    def draw(self, seed: int, utt_id: str, epoch: int = 0) -> tuple[Transform | None, str]:
        """The transform one (seed, epoch, utterance) gets (None: clean) and the utterance key it is applied
        with (so each epoch's copy differs)."""
        key = f"{utt_id}\0epoch{int(epoch)}"
        return self.choose(seed, key), key

    def apply(self, wave: np.ndarray, sample_rate: int, *, seed: int, utt_id: str, epoch: int = 0) -> np.ndarray:
        """The augmented waveform for one (seed, epoch, utterance). A transform that cannot process this
        utterance (a codec on a very short file) leaves it clean, with one warning per process."""
        transform, key = self.draw(seed, utt_id, epoch)
        if transform is None:
            return np.asarray(wave, dtype=np.float32)
        try:
            return transform.apply(wave, sample_rate, seed=seed, utt_id=key)
        except TransformFailed as exc:
            _warn_once(f"augmentation skipped for some training utterances, e.g. {utt_id}: {exc}")
            return np.asarray(wave, dtype=np.float32)

    def __repr__(self) -> str:
        return f"<augment {self.spec}>"


def _split_terms(text: str) -> list[str]:
    """Split at the top-level '+' that start a probability term (none inside chain(...))."""
    parts, depth, start = [], 0, 0
    mask = top_level(text)  # a '+' inside a quoted folder path starts nothing
    for i, c in enumerate(mask):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "+" and depth == 0 and i > start and _TERM_START.match(mask, i):
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


_warned = False


def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def parse_augment(value) -> Augmentation | None:
    """None (or "" / "none") -> no augmentation; a spec string -> its :class:`Augmentation`."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    if not isinstance(value, str):
        raise TransformError(f"augment={value!r}: expected a spec string such as rawboost:3")
    return Augmentation.parse(value)
