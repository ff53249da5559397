"""Registry of corpus formats ("protocols"): each turns a corpus root into a TrialTable."""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from typing import Callable

from .errors import BenchError, ConfigError
from .trials import TrialTable


@dataclass(frozen=True)
class ProtocolReader:
    name: str
    read: Callable[..., TrialTable]           # read(root, *, keys=None) -> TrialTable
    detect: Callable[[str], bool]             # detect(root) -> True when root is in this format
    description: str = ""
    priority: int = 0                         # higher is tried first by auto-detection


_PROTOCOLS: dict[str, ProtocolReader] = {}


def register_protocol(name: str, *, detect: Callable[[str], bool], description: str = "", priority: int = 0):
    """Decorator: register ``read(root, *, keys=None) -> TrialTable`` under ``name``."""

    def wrap(read):
        _PROTOCOLS[name] = ProtocolReader(name, read, detect, description or (read.__doc__ or "").strip().split("\n")[0],
                                          priority)
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
        raise ConfigError(f"unknown protocol {name!r}{hint}; known: {', '.join(sorted(_PROTOCOLS))}")
    return _PROTOCOLS[name]


def detect_protocol(root: os.PathLike | str) -> str:
    """Name of the format of the corpus at ``root``; raises a clear error when none matches."""
    _ensure_builtin()
    root = str(root)
    if not os.path.isdir(root):
        raise BenchError(f"{root}: corpus folder not found")
    for reader in sorted(_PROTOCOLS.values(), key=lambda r: -r.priority):
        if reader.detect(root):
            return reader.name
    raise BenchError(f"{root}: cannot tell the corpus format; pass --protocol with one of: "
                     f"{', '.join(sorted(_PROTOCOLS))}")


def load_trials(root: os.PathLike | str, protocol: str | None = None, *, keys: os.PathLike | str | None = None,
                **selection) -> TrialTable:
    """Read the corpus at ``root`` (format auto-detected unless ``protocol`` names it) into one TrialTable.

    ``selection`` goes to :meth:`TrialTable.select` (split, attack, speaker, label, fraction, max_count, seed).
    """
    name = protocol or detect_protocol(root)
    table = get_protocol(name).read(str(root), keys=None if keys is None else str(keys))
    return table.select(**selection) if selection else table


def _ensure_builtin() -> None:
    # Importing the readers registers them; done lazily so `import protocols` stays cheap.
    from . import readers  # noqa: F401
