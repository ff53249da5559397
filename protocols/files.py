"""Atomic file writes: a file is either absent, the old one, or the complete new one — never half-written.

Every writer of the toolkit (score files, reports, models, features, audio, plots) goes through
:func:`atomic_path`, so an interrupted run never leaves a partial file standing as a finished one.
"""
from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

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


def write_text_atomic(path: os.PathLike | str, text: str) -> None:
    """Write UTF-8 text with ``\\n`` line endings atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def write_bytes_atomic(path: os.PathLike | str, blob: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(blob)
