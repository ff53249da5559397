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
from dataclasses import dataclass, field
from typing import Any, Callable

from spoofbench.protocols.errors import ConfigError

ENTRY_POINT_GROUP = "bench.detectors"


@dataclass
class DetectorEntry:
    name: str
    factory: Callable[..., Any]
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_preset: str | None = None
    description: str = ""
    source: str = "builtin"


_DETECTORS: dict[str, DetectorEntry] = {}
_PLUGIN_ERRORS: dict[str, str] = {}
_loaded = False


def register_detector(name: str, *, presets: dict[str, dict[str, Any]] | None = None,
                      default_preset: str | None = None, description: str = ""):
    """Decorator registering a Detector subclass (or a factory returning one) under ``name``."""
    if "." in name:
        raise ValueError(f"detector names may not contain '.', it separates presets: {name!r}")

    def wrap(factory):
        presets_ = dict(presets or {})
        if default_preset is not None and default_preset not in presets_:
            raise ValueError(f"{name}: default preset {default_preset!r} is not among {list(presets_)}")
        doc = description or (factory.__doc__ or "").strip().split("\n")[0]
        module = getattr(factory, "__module__", "") or ""
        source = "builtin" if module.startswith("spoofbench.") else module.split(".")[0]
        _DETECTORS[name] = DetectorEntry(name, factory, presets_, default_preset, doc, source)
        if isinstance(factory, type):
            factory.name = name
        return factory

    return wrap


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from . import builtin  # noqa: F401  (imports the built-in detector families)
    _load_plugins()


def _load_plugins() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # a broken plugin must not take the others down
            _PLUGIN_ERRORS[ep.name] = f"{type(exc).__name__}: {exc}"


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
    name, preset = split_spec(spec)
    entry = get_entry(name)
    preset = preset or entry.default_preset
    if preset is None:
        return {}
    if preset not in entry.presets:
        close = difflib.get_close_matches(preset, list(entry.presets), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"detector {name!r} has no preset {preset!r}{hint}; presets: "
                          f"{', '.join(entry.presets) or '(none)'}")
    return dict(entry.presets[preset])


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
    if hasattr(det, "check_params"):  # a bad value fails here, in one line, before any work
        det.check_params()
    return det


def list_detectors(pattern: str = "*", *, presets: bool = False) -> list[str]:
    """Registered detector names matching a glob; with ``presets=True`` also every ``name.preset``."""
    _ensure_loaded()
    out = []
    for name, entry in sorted(_DETECTORS.items()):
        candidates = [name] + ([f"{name}.{p}" for p in entry.presets] if presets else [])
        out.extend(c for c in candidates if fnmatch.fnmatch(c, pattern))
    return out
