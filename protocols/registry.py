"""Registry of corpus formats ("protocols"): each turns a corpus root into a TrialTable.

Third-party packages add formats through the ``bench.protocols`` entry-point group, as detectors do through
``bench.detectors``: each entry point names a module whose import calls :func:`register_protocol`. A plugin
that fails to import is recorded (:func:`plugin_errors`) and named where a format is looked up; the others
keep working.
"""
from __future__ import annotations

import fnmatch
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass

from .errors import BenchError, ConfigError
from .trials import TrialTable

ENTRY_POINT_GROUP = "bench.protocols"


@dataclass(frozen=True)
class ProtocolReader:
    """One corpus format.

    ``read(root, *, keys=None, findings=None) -> TrialTable``: ``keys`` is the folder of separately
    distributed keys (ASVspoof 2021); ``findings`` (a :class:`spoofbench.protocols.parsing.Findings`) makes the reader
    record every problem and go on instead of raising at the first one (``bench data describe``).
    ``asv_scores(root, split, keys=None) -> path | None``: where the corpus keeps the ASV score file of a
    split (for the t-DCF); the file's *contents* are parsed elsewhere (``benchmark/scorefiles.py``).
    ``sample_rate``: the rate the format fixes (``None`` when files may have any rate).
    """

    name: str
    read: Callable[..., TrialTable]
    detect: Callable[[str], bool]             # detect(root) -> True when root is in this format
    description: str = ""
    priority: int = 0                         # higher is tried first by auto-detection
    asv_scores: Callable[..., str | None] | None = None
    sample_rate: int | None = None

    @property
    def collects_findings(self) -> bool:
        return "findings" in inspect.signature(self.read).parameters


_PROTOCOLS: dict[str, ProtocolReader] = {}
_PLUGIN_ERRORS: dict[str, str] = {}
_loaded = False


def register_protocol(name: str, *, detect: Callable[[str], bool], description: str = "", priority: int = 0,
                      asv_scores: Callable[..., str | None] | None = None, sample_rate: int | None = None):
    """Decorator: register ``read(root, *, keys=None[, findings=None]) -> TrialTable`` under ``name``."""

    def wrap(read):
        summary = description or (read.__doc__ or "").strip().split("\n")[0]
        _PROTOCOLS[name] = ProtocolReader(name, read, detect, summary, priority, asv_scores, sample_rate)
        return read

    return wrap


def list_protocols(pattern: str = "*") -> list[str]:
    _ensure_builtin()
    return sorted(n for n in _PROTOCOLS if fnmatch.fnmatch(n, pattern))


def get_protocol(name: str) -> ProtocolReader:
    _ensure_builtin()
    if name not in _PROTOCOLS:
        import difflib

        close = difflib.get_close_matches(name, _PROTOCOLS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown protocol {name!r}{hint}; known: {', '.join(sorted(_PROTOCOLS))}"
                          f"{_broken_plugins()}")
    return _PROTOCOLS[name]


def detect_protocol(root: os.PathLike | str) -> str:
    """Name of the format of the corpus at ``root``; raises a clear error when none matches."""
    _ensure_builtin()
    root = str(root)
    if not os.path.exists(root):
        raise BenchError(f"{root}: corpus folder not found")
    for reader in sorted(_PROTOCOLS.values(), key=lambda r: (-r.priority, r.name)):
        if reader.detect(root):
            return reader.name
    raise BenchError(f"{root}: cannot tell the corpus format; pass --protocol with one of: "
                     f"{', '.join(sorted(_PROTOCOLS))}{_broken_plugins()}")


def load_trials(root: os.PathLike | str, protocol: str | None = None, *, keys: os.PathLike | str | None = None,
                **selection) -> TrialTable:
    """Read the corpus at ``root`` (format auto-detected unless ``protocol`` names it) into one TrialTable.

    Paths in the table are absolute. The first malformed protocol line raises a one-line
    :class:`~spoofbench.protocols.errors.ProtocolError`; audio files are not opened here (``bench data describe``
    checks them).
    ``selection`` goes to :meth:`TrialTable.select` (split, attack, speaker, label, fraction, max_count, seed).
    """
    root = str(root)
    if not os.path.exists(root):  # a folder, or a manifest file for the csv protocol
        raise BenchError(f"{root}: corpus folder not found")
    name = protocol or detect_protocol(root)
    table = get_protocol(name).read(root, keys=None if keys is None else str(keys))
    return table.select(**selection) if selection else table


def asv_score_file(root: os.PathLike | str, split: str, protocol: str | None = None, *,
                   keys: os.PathLike | str | None = None) -> str | None:
    """Path of the corpus's ASV score file for ``split`` (for the t-DCF), or ``None`` when it has none or
    the file is not there."""
    name = protocol or detect_protocol(root)
    reader = get_protocol(name)
    if reader.asv_scores is None:
        return None
    path = reader.asv_scores(str(root), split, keys=None if keys is None else str(keys))
    return path if path and os.path.isfile(path) else None


def plugin_errors() -> dict[str, str]:
    """Entry points of the ``bench.protocols`` group that failed to import, with their error."""
    _ensure_builtin()
    return dict(_PLUGIN_ERRORS)


def _broken_plugins() -> str:
    """A note for lookup errors: the format asked for may be one whose plugin did not load."""
    if not _PLUGIN_ERRORS:
        return ""
    failed = "; ".join(f"{name}: {error}" for name, error in _PLUGIN_ERRORS.items())
    return f" (protocol plugins that failed to load: {failed})"


def _ensure_builtin() -> None:
    # Importing the readers registers them; done lazily so `import protocols` stays cheap. Plugins load once,
    # after the built-ins (the flag is set first: a plugin may itself call list_protocols while importing).
    global _loaded
    from . import readers  # noqa: F401

    if _loaded:
        return
    _loaded = True
    from .plugins import load_entry_points

    _PLUGIN_ERRORS.update(load_entry_points(ENTRY_POINT_GROUP))
