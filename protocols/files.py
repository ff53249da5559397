"""Atomic file writes: a file is either absent, the old one, or the complete new one — never half-written.

Every writer of the toolkit (score files, reports, models, features, audio, plots) goes through
:func:`atomic_path`, so an interrupted run never leaves a partial file standing as a finished one.
"""
from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The names :func:`atomic_path` gives its temporary files; one left behind was cut off by a kill or a crash.
TEMPORARY_NAME = re.compile(r"^\..+\.tmp\d+\.[0-9a-f]{8}$")


@contextmanager
def atomic_path(path: os.PathLike | str) -> Iterator[str]:
    """Yield a temporary name beside ``path`` (its folder is created); on success rename it to ``path``,
    on failure remove it. The name is unique per process and call, so concurrent writers never collide."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass  # (absent, or the disk turned read-only): never hide why the write failed; the next run sweeps it
        if isinstance(exc, OSError) and exc.filename in (None, tmp):  # name the file, not its temporary name
            raise OSError(exc.errno, exc.strerror or str(exc), path) from exc
        raise


#: The toolkit's cache folder (demo corpus, feature cache, audio-scan records).
CACHE_ENV = "SPOOFBENCH_CACHE"


def cache_root() -> Path:
    """``$SPOOFBENCH_CACHE``, else ``$XDG_CACHE_HOME/spoofbench``, else ``~/.cache/spoofbench``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spoofbench"


def file_sha256(path: os.PathLike | str) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text_atomic(path: os.PathLike | str, text: str) -> None:
    """Write UTF-8 text with ``\\n`` line endings atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def write_bytes_atomic(path: os.PathLike | str, blob: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(blob)
