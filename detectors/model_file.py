"""The ``.det`` file of a fitted detector: a zip holding ``meta.json`` (detector name, hyperparameters) and
``state.npz`` (numpy arrays, read without pickle), so a file can be inspected and loaded without executing
anything. The zip comment ends in the SHA-256 of every byte before that digest, so a file damaged anywhere
(disk, transfer, an edit) is refused instead of scoring with garbage."""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile

import numpy as np

from spoofbench.protocols.errors import BenchError
from spoofbench.protocols.files import write_bytes_atomic

FORMAT_VERSION = 2
_DIGEST_PREFIX = b"spoofbench-sha256:"
_DIGEST_HEX = 64


def write_detector_file(path: os.PathLike | str, meta: dict, state: dict[str, np.ndarray]) -> None:
    """Write ``path`` atomically; ``meta`` gets the format version."""
    arrays = io.BytesIO()
    np.savez(arrays, **state)
    blob = io.BytesIO()
    with zipfile.ZipFile(blob, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("meta.json", json.dumps({**meta, "format": FORMAT_VERSION}, indent=1, sort_keys=True))
        zf.writestr("state.npz", arrays.getvalue())
        zf.comment = _DIGEST_PREFIX + b"0" * _DIGEST_HEX  # placeholder of the digest's exact length
    body = blob.getvalue()[:-_DIGEST_HEX]
    write_bytes_atomic(path, body + hashlib.sha256(body).hexdigest().encode())


def read_detector_file(path: os.PathLike | str) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, state)`` of a file written by :func:`write_detector_file`, its checksum verified first."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BenchError(f"{path}: detector file not found")
    with open(path, "rb") as fh:
        data = fh.read()
    body, digest = data[:-_DIGEST_HEX], data[-_DIGEST_HEX:]
    if not body.endswith(_DIGEST_PREFIX) or not re.fullmatch(rb"[0-9a-f]{64}", digest):
        if not data.startswith(b"PK"):
            raise BenchError(f"{path}: not a detector file written by Detector.save")
        raise BenchError(f"{path}: detector file without a valid checksum (damaged, or written by an older "
                         "version); delete it and fit the detector again (bench run refits a missing model)")
    if hashlib.sha256(body).hexdigest().encode() != digest:
        raise BenchError(f"{path}: detector file is damaged (checksum mismatch); delete it and fit the detector "
                         "again (bench run refits a missing model)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            meta = json.loads(zf.read("meta.json"))
            with np.load(io.BytesIO(zf.read("state.npz")), allow_pickle=False) as npz:
                state = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, KeyError, ValueError, json.JSONDecodeError) as exc:
        raise BenchError(f"{path}: not a detector file written by Detector.save ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise BenchError(f"{path}: unsupported detector file format {found!r} (this version reads "
                         f"{FORMAT_VERSION})")
    if not isinstance(meta.get("detector"), str) or not isinstance(meta.get("params"), dict):
        raise BenchError(f"{path}: detector file lacks the detector name or its settings")
    return meta, state


def jsonable(value):
    """``value`` with numpy scalars and arrays turned into plain Python, for json.dumps."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
