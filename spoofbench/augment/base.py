"""The transform interface, its registry and the spec grammar.

A spec is ``NAME``, ``NAME:ARG`` or ``chain(SPEC,SPEC,...)``; ARG is the family's own short form
(``codec:opus@12k``, ``noise:white@0dB``, ``reverb:rt60=0.6``, ``rawboost:3``). A family registers a factory
``factory(arg: str | None) -> Transform`` under NAME with :func:`register_transform`; the factory validates
ARG and raises :class:`TransformError` naming what it accepts.

Whitespace is ignored, except inside quotes: a folder path that holds spaces, commas or parentheses is written
in single or double quotes (``noise:dir="/data/My Noises"@5dB``); the factory gets it without them, and a
canonical spec quotes it again (:func:`quote_path`).
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from spoofbench.protocols.errors import BenchError


class TransformError(BenchError):
    """A spec is malformed or names no transform (the message lists the valid ones)."""


class TransformFailed(BenchError):
    """A transform cannot process this audio (a codec on a file too short, say): the caller lists the trial
    and skips it for that condition only; the input is never passed through unchanged instead."""


class Transform:
    """One waveform transform. Subclasses implement :meth:`transform`; :meth:`apply` is what callers use."""

    #: canonical spec string (also the condition's key in robustness.json)
    spec: str = ""

    def transform(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def apply(self, wave: np.ndarray, sample_rate: int, *, seed: int = 0, utt_id: str = "") -> np.ndarray:
        """The transformed float32 mono waveform at ``sample_rate`` (a codec resamples back to it), a pure
        function of (wave, sample_rate, seed, utt_id)."""
        wave = np.asarray(wave, dtype=np.float32)
        out = self.transform(wave, int(sample_rate), rng_for(seed, utt_id, self.spec))
        return np.ascontiguousarray(out, dtype=np.float32)

    def bind_speech(self, paths) -> Transform:
        """This transform with a pool of bona fide speech files to draw from (babble noise). Training binds
        the bona fide files of its training split; transforms that need no speech return themselves."""
        return self

    @property
    def needs_speech(self) -> bool:
        """Whether :meth:`bind_speech` must be called before :meth:`apply`."""
        return False

    def __repr__(self) -> str:
        return f"<transform {self.spec}>"


def rng_for(seed: int, utt_id: str, spec: str) -> np.random.Generator:
    """The random generator of one (seed, utterance, transform): independent of call order and process."""
    digest = hashlib.sha256(f"{int(seed)}\0{utt_id}\0{spec}".encode()).digest()
    return np.random.default_rng(np.frombuffer(digest[:16], dtype=np.uint32))


@dataclass(frozen=True)
class _Entry:
    factory: Callable[[str | None], Transform]
    syntax: str       # e.g. "noise:white|pink|brown|babble@SNRdB"
    summary: str


_REGISTRY: dict[str, _Entry] = {}

#: modules that register the built-in families, imported on first use (keeps ``import`` cheap)
_BUILTIN_MODULES: tuple[str, ...] = tuple(f"spoofbench.augment.{m}" for m in (
    "basic", "noise", "codecs", "rawboost", "rooms", "channel"))
_loaded = False


def register_transform(name: str, syntax: str, summary: str):
    """Decorator: register ``factory(arg) -> Transform`` under ``name``."""
    def wrap(factory):
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise ValueError(f"transform {name!r} is already registered")
        _REGISTRY[name] = _Entry(factory, syntax, summary)
        return factory
    return wrap


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)


def available_transforms() -> dict[str, tuple[str, str]]:
    """name -> (syntax, summary) of every registered transform family."""
    _load_builtins()
    return {name: (e.syntax, e.summary) for name, e in sorted(_REGISTRY.items())}


_QUOTES = "\"'"


def _scan(text: str):
    """Each character of ``text`` with whether it is a quote delimiter and whether it stands inside quotes."""
    quote = None
    for c in text:
        if quote is None and c in _QUOTES:
            quote = c
            yield c, True, True
        elif quote is not None and c == quote:
            quote = None
            yield c, True, True
        else:
            yield c, False, quote is not None
    if quote is not None:
        raise TransformError(f"{text!r}: unclosed quote")


def compact_spec(text: str) -> str:
    """``text`` without its whitespace, but for what stands inside quotes (kept, quotes included)."""
    return "".join(c for c, _, quoted in _scan(text) if quoted or not c.isspace())


def top_level(text: str) -> str:
    """``text`` with every quoted part (quotes included) blanked out, same length: what the grammar's
    parentheses, commas and plus signs are looked for in."""
    return "".join("_" if quoted else c for c, _, quoted in _scan(text))


def unquote(text: str) -> str:
    """``text`` with its quotes taken away (what they held stays)."""
    return "".join(c for c, delimiter, _ in _scan(text) if not delimiter)


def quote_path(path: str) -> str:
    """``path`` as a spec holds it: in quotes when it has whitespace or the grammar's characters."""
    if not any(c.isspace() or c in "(),+'\"" for c in path):
        return path
    return f"'{path}'" if '"' in path else f'"{path}"'


def parse_transform(spec: str) -> Transform:
    """The transform a spec names; :class:`TransformError` (one line, listing the valid names) otherwise."""
    _load_builtins()
    if not isinstance(spec, str) or not spec.strip():
        raise TransformError(f"empty transform spec; valid: {_valid_names()}")
    text = compact_spec(spec)
    if text.startswith("chain(") and text.endswith(")"):
        parts = _split_top_level(text[len("chain("):-1], spec)
        if not parts:
            raise TransformError(f"{spec!r}: chain() needs at least one transform")
        return Chain([parse_transform(p) for p in parts])
    if any(c in top_level(text) for c in "(),"):
        raise TransformError(f"{spec!r}: malformed spec (write chain(A,B,...) to combine transforms)")
    name, _, arg = text.partition(":")
    arg = unquote(arg)
    entry = _REGISTRY.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TransformError(f"unknown transform {name!r} in {spec!r}{hint}; valid: {_valid_names()}")
    return entry.factory(arg or None)


def _valid_names() -> str:
    return ", ".join(f"{e.syntax}" for _, e in sorted(_REGISTRY.items())) + ", chain(A,B,...)"


def split_specs(text: str) -> list[str]:
    """A comma-separated list of specs split at its top-level commas only, so ``chain(A,B),C`` is two specs
    (``--conditions``); empty items are dropped. :class:`TransformError` for unbalanced parentheses."""
    return [p.strip() for p in _split_top_level(text, text, allow_empty=True) if p.strip()]


def _split_top_level(body: str, spec: str, allow_empty: bool = False) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(top_level(body)):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise TransformError(f"{spec!r}: unbalanced parentheses")
        elif c == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    if depth != 0:
        raise TransformError(f"{spec!r}: unbalanced parentheses")
    parts.append(body[start:])
    if not allow_empty and any(not p for p in parts):
        raise TransformError(f"{spec!r}: empty item in chain()")
    return parts


class Chain(Transform):
    """Transforms applied in order; each draws from its own generator (seeded by its position and spec)."""

    def __init__(self, items: list[Transform]):
        self.items = items
        self.spec = "chain(" + ",".join(t.spec for t in items) + ")"

    def bind_speech(self, paths) -> Chain:
        return Chain([t.bind_speech(paths) for t in self.items])

    @property
    def needs_speech(self) -> bool:
        return any(t.needs_speech for t in self.items)

    def transform(self, wave, sample_rate, rng):
        seeds = rng.integers(0, 2**63 - 1, size=len(self.items))
        for t, s in zip(self.items, seeds):
            wave = t.transform(np.asarray(wave, dtype=np.float32), sample_rate, rng_for(int(s), "", t.spec))
        return wave
