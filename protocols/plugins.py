"""Plugins from other installed packages: each entry point of a group names a module whose import registers
what it brings (``bench.protocols`` corpus formats, ``bench.detectors`` detectors)."""
from __future__ import annotations


def load_entry_points(group: str) -> dict[str, str]:
    """Import every entry point of ``group``; returns ``{name: "ErrorType: message"}`` of those that failed
    (a broken plugin must not take the others down)."""
    from importlib.metadata import entry_points

    errors = {}
    for ep in entry_points(group=group):
        try:
            ep.load()
        except Exception as exc:
            errors[ep.name] = f"{type(exc).__name__}: {exc}"
    return errors
