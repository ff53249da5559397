"""Detector registry in the style of timm: one decorator registers a factory by name, with named presets.

    @register_detector("lfcc-gmm", presets={"asvspoof2019": {...}, "small": {...}}, default_preset="asvspoof2019")
    class LFCCGMM(Detector): ...

    create_detector("lfcc-gmm.small", n_components=64)
    list_detectors("*gmm")

Third-party packages register detectors through the ``bench.detectors`` entry-point group: each entry point
names a module (or an object in it) whose import calls :func:`register_detector`.
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable
from typing import Any

from spoofbench.protocols.errors import ConfigError

ENTRY_POINT_GROUP = "bench.detectors"


class DetectorEntry:
    """A registered detector. ``target`` is its factory, or ``"module:attr"`` for a family declared without
    importing it (the built-ins: naming and listing them must not import torch): the module is imported, and its
    ``@register_detector`` fills this entry in, the first time :attr:`factory` or :attr:`presets` is needed."""

    def __init__(self, name: str, target: Callable[..., Any] | str, preset_names: tuple[str, ...],
                 default_preset: str | None, description: str, source: str,
                 presets: dict[str, dict[str, Any]] | None = None):
        self.name, self.target, self.preset_names = name, target, tuple(preset_names)
        self.default_preset, self.description, self.source = default_preset, description, source
        self._presets = presets

    @property
    def loaded(self) -> bool:
        return not isinstance(self.target, str)

    @property
    def factory(self) -> Callable[..., Any]:
        self._load()
        return self.target  # type: ignore[return-value]

    @property
    def presets(self) -> dict[str, dict[str, Any]]:
        """Preset name -> hyperparameters (imports the family's module; :attr:`preset_names` does not)."""
        self._load()
        return self._presets or {}

    def _load(self) -> None:
        if self.loaded:
            return
        module = str(self.target).partition(":")[0]
        importlib.import_module(module)  # runs @register_detector, which fills this entry in
        if not self.loaded:
            raise RuntimeError(f"{module} did not register the detector {self.name!r} it is declared to hold")

    def __repr__(self) -> str:
        return f"DetectorEntry({self.name!r}, presets={list(self.preset_names)}, source={self.source!r})"


_DETECTORS: dict[str, DetectorEntry] = {}
_PLUGIN_ERRORS: dict[str, str] = {}
_loaded = False


def declare_detector(name: str, target: str, *, presets: tuple[str, ...] = (), default_preset: str | None = None,
                     description: str) -> None:
    """Register ``name`` without importing it: ``target`` is ``"module:Class"``, whose module must register
    ``name`` with the same preset names when imported. For the built-in families (see ``builtin.py``)."""
    if name in _DETECTORS:  # its module was imported first: the full entry stands, the declaration must match
        entry = _DETECTORS[name]
        _check_declared(name, tuple(presets), default_preset, entry.preset_names, entry.default_preset)
        return
    _DETECTORS[name] = DetectorEntry(name, target, tuple(presets), default_preset, description, "builtin")


def _check_declared(name: str, declared: tuple[str, ...], declared_default: str | None,
                    registered: tuple[str, ...], registered_default: str | None) -> None:
    """A declaration (builtin.py) that drifted from its module's ``@register_detector`` is a bug: say so."""
    if declared != registered or declared_default != registered_default:
        raise RuntimeError(f"detector {name!r}: declared presets {list(declared)} (default {declared_default!r}) "
                           f"differ from the registered {list(registered)} (default {registered_default!r})")


def register_detector(name: str, *, presets: dict[str, dict[str, Any]] | None = None,
                      default_preset: str | None = None, description: str = ""):
    """Decorator registering a Detector subclass (or a factory returning one) under ``name``. A subclass that
    does not declare ``augment`` is registered, and returned, as its subclass with ``augment=`` and
    ``augment_copies=`` (:func:`spoofbench.detectors.augmented_training.with_training_augmentation`)."""
    if "." in name:
        raise ValueError(f"detector names may not contain '.', it separates presets: {name!r}")

    def wrap(factory):
        presets_ = dict(presets or {})
        if default_preset is not None and default_preset not in presets_:
            raise ValueError(f"{name}: default preset {default_preset!r} is not among {list(presets_)}")
        if isinstance(factory, type):
            from .augmented_training import with_training_augmentation
            from .base import Detector

            if issubclass(factory, Detector):  # every detector accepts augment= (see augmented_training)
                factory = with_training_augmentation(factory)
            factory.name = name
        declared = _DETECTORS.get(name)
        if declared is not None and not declared.loaded:  # a lazily declared built-in being imported
            _check_declared(name, declared.preset_names, declared.default_preset, tuple(presets_),
                            default_preset)
            declared.target, declared._presets = factory, presets_
            return factory
        doc = description or (factory.__doc__ or "").strip().split("\n")[0]
        module = getattr(factory, "__module__", "") or ""
        source = "builtin" if module.startswith("spoofbench.") else module.split(".")[0]
        _DETECTORS[name] = DetectorEntry(name, factory, tuple(presets_), default_preset, doc, source, presets_)
        return factory

    return wrap


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from spoofbench.protocols.plugins import load_entry_points

    from . import builtin  # noqa: F401  (declares the built-in families; their modules load on first use)

    _PLUGIN_ERRORS.update(load_entry_points(ENTRY_POINT_GROUP))


def plugin_errors() -> dict[str, str]:
    """Entry points of the ``bench.detectors`` group that failed to import, with their error."""
    _ensure_loaded()
    return dict(_PLUGIN_ERRORS)


def get_entry(name: str) -> DetectorEntry:
    _ensure_loaded()
    if name not in _DETECTORS:
        known = sorted(_DETECTORS)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown detector {name!r}{hint}; known: {', '.join(known)}")
    return _DETECTORS[name]


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"rawnet2.small"`` -> ``("rawnet2", "small")``; ``"lfcc-gmm"`` -> ``("lfcc-gmm", None)``."""
    name, _, preset = spec.partition(".")
    return name, (preset or None)


def preset_params(spec: str) -> dict[str, Any]:
    """The hyperparameters a ``name[.preset]`` spec stands for (before overrides)."""
    entry, preset = check_spec(spec)
    preset = preset or entry.default_preset
    return {} if preset is None else dict(entry.presets[preset])


def check_spec(spec: str) -> tuple[DetectorEntry, str | None]:
    """The registry entry and preset a ``name[.preset]`` spec names; an unknown name or preset is a one-line
    ConfigError with the closest one suggested. Imports no detector family (a cheap check before any work)."""
    name, preset = split_spec(spec)
    entry = get_entry(name)
    if preset is not None and preset not in entry.preset_names:
        close = difflib.get_close_matches(preset, list(entry.preset_names), n=1)
        hint = f" (did you mean '{name}.{close[0]}'?)" if close else ""
        raise ConfigError(f"detector {name!r} has no preset {preset!r}{hint}; presets: "
                          f"{', '.join(entry.preset_names) or '(none)'}")
    return entry, preset


def create_detector(spec: str, **overrides):
    """Build a detector from ``"name"`` or ``"name.preset"``; keyword overrides win over the preset."""
    name, _ = split_spec(spec)
    entry = get_entry(name)
    params = preset_params(spec)
    params.update(overrides)
    factory = entry.factory
    if isinstance(factory, type):
        valid = factory.param_names()
        unknown = [k for k in params if k not in valid]
        if unknown:
            raise ConfigError(f"{name}: unknown parameter {unknown[0]!r}; valid: {', '.join(valid)}")
    det = factory(**params)
    if not getattr(det, "name", ""):
        det.name = name
    # a bad value fails here, in one line, before any work (also for a factory whose product is no Detector)
    if hasattr(det, "check_params"):
        det.check_params()
    elif hasattr(det, "validate_params"):
        det.validate_params()
    return det


def list_detectors(pattern: str = "*", *, presets: bool = False) -> list[str]:
    """Registered detector names matching a glob; with ``presets=True`` also every ``name.preset``."""
    _ensure_loaded()
    out = []
    for name, entry in sorted(_DETECTORS.items()):
        candidates = [name] + ([f"{name}.{p}" for p in entry.preset_names] if presets else [])
        out.extend(c for c in candidates if fnmatch.fnmatch(c, pattern))
    return out
