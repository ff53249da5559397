"""Checks of detector hyperparameters, each failing with one line that names the detector, the parameter, the
value and what is allowed. ``validate_params`` methods are written with the range checks; ``check_types``
checks every hyperparameter against the type of its ``__init__`` default (or its annotation), the guard for
settings read from a file."""
from __future__ import annotations

import inspect
import numbers
from collections.abc import Iterable
from typing import Any

from spoofbench.protocols.errors import ConfigError

#: Annotation words understood by :func:`check_types` (annotations are read as text, never evaluated).
_TYPE_WORDS = {"int": (numbers.Integral,), "float": (numbers.Real,), "str": (str,), "bool": (bool,),
               "None": (type(None),), "dict": (dict,), "list": (list, tuple), "tuple": (list, tuple)}


def fail(det, name: str, allowed: str) -> None:
    label = getattr(det, "name", "") or type(det).__name__
    raise ConfigError(f"{label}: {name}={getattr(det, name)!r} is not allowed; {allowed}")


def check_int(det, name: str, minimum: int | None = None, maximum: int | None = None, *,
              optional: bool = False) -> None:
    """An integer (not a bool) in ``[minimum, maximum]``; ``optional``: None is allowed too."""
    value = getattr(det, name)
    if optional and value is None:
        return
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        fail(det, name, "expected " + ("None or " if optional else "") + "an integer" + _bounds(minimum, maximum))


def check_number(det, name: str, minimum: float | None = None, maximum: float | None = None, *,
                 exclusive_minimum: bool = False) -> None:
    """A finite real number in ``[minimum, maximum]`` (``(minimum, ...`` with ``exclusive_minimum``)."""
    value = getattr(det, name)
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value \
        and abs(value) != float("inf")
    if ok and minimum is not None:
        ok = value > minimum if exclusive_minimum else value >= minimum
    ok = ok and (maximum is None or value <= maximum)
    if not ok:
        bounds = ([f"> {minimum}" if exclusive_minimum else f">= {minimum}"] if minimum is not None else []) \
            + ([f"<= {maximum}"] if maximum is not None else [])
        fail(det, name, " ".join(["expected a finite number", " and ".join(bounds)]).strip())


def check_choice(det, name: str, choices: Iterable[Any]) -> None:
    choices = list(choices)
    value = getattr(det, name)
    if not any(value == c and type(value) is type(c) for c in choices):
        fail(det, name, "expected one of " + ", ".join(repr(c) for c in choices))


def _bounds(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    return f" <= {maximum}" if maximum is not None else ""


def expected_types(cls, name: str) -> list[str] | None:
    """The type words (``int``, ``float``, ``str``, ``bool``, ``None``, ``dict``, ``list``, ``tuple``) that ``name``
    may hold, from its annotation (read as text: ``"int | None"``) or else from the type of its default; None
    when neither says (then anything goes)."""
    param = inspect.signature(cls.__init__).parameters[name]
    annotation = param.annotation
    if isinstance(annotation, type):
        annotation = annotation.__name__
    if isinstance(annotation, str) and annotation:
        words = [w.strip() for w in annotation.split("|")]
        return words if all(w in _TYPE_WORDS for w in words) else None
    default = param.default
    if default is inspect.Parameter.empty or default is None:
        return None
    word = type(default).__name__
    return [word] if word in _TYPE_WORDS else None


def check_types(det) -> None:
    """Every hyperparameter of ``det`` holds a value of its declared type (a bool is not a number here)."""
    for name in det.param_names():
        words = expected_types(type(det), name)
        if words is None:
            continue
        value = getattr(det, name)
        types = tuple(t for w in words for t in _TYPE_WORDS[w])
        ok = isinstance(value, types) and (bool in types or not isinstance(value, bool))
        if not ok:
            fail(det, name, f"expected {' or '.join(words)}, got {type(value).__name__}")
