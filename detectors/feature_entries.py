"""The on-disk format of one feature-cache entry: exact float32 frames in about half their size.

Cepstral features are static coefficients followed by their deltas (and delta-deltas), computed from the
float64 statics and rounded to float32. An entry keeps the float32 statics as they are and, for the delta
columns, only the difference between their float32 bit patterns and deltas recomputed from the stored
statics (a few units in the last place, mostly zero), byte-shuffled and zlib-compressed. Decoding recomputes
the same deltas and adds the difference back, so the frames come back bit for bit; the entry's BLAKE2b
digest is of the decoded frames, so a damaged entry, or one decoded differently, reads as missing (then it
is recomputed). Lossy storage was measured and rejected: float16 frames moved GMM scores by up to 1.0.

Format 2 (``SBFEAT02``): header (magic, frames, dims, static dims, delta orders, delta half-width, delta
normalisation, digest), float32 statics, zlib(shuffled uint32 residual). Format 1 (``SBFEAT01``: header with
the digest of the payload, then all float32 frames), written before, is still read.
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from typing import Any

import numpy as np

from .frontends import deltas

_V1_MAGIC, _V2_MAGIC = b"SBFEAT01", b"SBFEAT02"
_V1_HEADER = struct.Struct("<8sqq32s")  # magic, frames, dims, blake2b-256 of the payload
_V2_HEADER = struct.Struct("<8sqqqqqq32s")  # magic, frames, dims, static dims, deltas, half-width, normalise, digest
_ZLIB_LEVEL = 1  # the residual is mostly zero bytes: higher levels save little and cost much more time


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def _delta_columns(static: np.ndarray, n_deltas: int, halfwidth: int, normalize: bool) -> np.ndarray:
    """The float32 delta columns as the front ends would compute them from ``static`` (float64 arithmetic)."""
    parts = [static.astype(np.float64)]
    for _ in range(n_deltas):
        parts.append(deltas(parts[-1], halfwidth, normalize))
    return np.concatenate(parts[1:], axis=1).astype(np.float32)


def _shuffle(a: np.ndarray) -> bytes:
    """Bytes grouped by significance (all first bytes, then all second bytes, ...): zlib finds the zeros."""
    return np.ascontiguousarray(a).view(np.uint8).reshape(-1, a.itemsize).T.tobytes()


def _unshuffle(blob: bytes, rows: int, cols: int) -> np.ndarray:
    return np.frombuffer(blob, np.uint8).reshape(4, -1).T.copy().view("<u4").reshape(rows, cols)


def encode_entry(features: np.ndarray, params: dict[str, Any] | None = None) -> bytes:
    """An entry for ``features``; ``params`` (the front end's, with ``deltas``, ``delta_halfwidth``,
    ``delta_normalize``) tells how the delta columns were made. Without them all columns are kept as they are."""
    data = np.ascontiguousarray(features, dtype="<f4")
    rows, cols = data.shape
    n_deltas = int((params or {}).get("deltas", 0))
    if n_deltas < 1 or cols % (n_deltas + 1) or rows == 0:
        n_deltas = 0
    n_static = cols // (n_deltas + 1)
    halfwidth = int(params["delta_halfwidth"]) if n_deltas else 0
    normalize = int(bool(params["delta_normalize"])) if n_deltas else 0
    static = np.ascontiguousarray(data[:, :n_static])
    payload = static.tobytes()
    if n_deltas:
        predicted = _delta_columns(static, n_deltas, halfwidth, bool(normalize))
        residual = np.ascontiguousarray(data[:, n_static:]).view("<u4") - predicted.view("<u4")  # wraps mod 2^32
        payload += zlib.compress(_shuffle(residual), _ZLIB_LEVEL)
    header = _V2_HEADER.pack(_V2_MAGIC, rows, cols, n_static, n_deltas, halfwidth, normalize, _digest(data.tobytes()))
    return header + payload


def decode_entry(blob: bytes) -> np.ndarray | None:
    """The frames of an entry (either format), or None when it is truncated, corrupted or not an entry."""
    magic = blob[:8]
    if magic == _V2_MAGIC:
        return _decode_v2(blob)
    if magic == _V1_MAGIC:
        return _decode_v1(blob)
    return None


def encode_entry_v1(features: np.ndarray, params: dict[str, Any] | None = None) -> bytes:
    """The former entry format, plain float32 frames after a header: still read, no longer written
    (``bench perf cache`` measures the current format against it). ``params`` is unused: the signature is
    :func:`encode_entry`'s."""
    data = np.ascontiguousarray(features, "<f4")
    payload = data.tobytes()
    return _V1_HEADER.pack(_V1_MAGIC, *data.shape, _digest(payload)) + payload


def _decode_v1(blob: bytes) -> np.ndarray | None:
    if len(blob) < _V1_HEADER.size:
        return None
    _, rows, cols, digest = _V1_HEADER.unpack_from(blob)
    payload = blob[_V1_HEADER.size:]
    if rows < 0 or cols < 0 or len(payload) != rows * cols * 4 or _digest(payload) != digest:
        return None
    return np.frombuffer(payload, dtype="<f4").reshape(rows, cols).astype(np.float32)


def _decode_v2(blob: bytes) -> np.ndarray | None:
    if len(blob) < _V2_HEADER.size:
        return None
    _, rows, cols, n_static, n_deltas, halfwidth, normalize, digest = _V2_HEADER.unpack_from(blob)
    if min(rows, cols, n_static, n_deltas, halfwidth) < 0 or n_static * (n_deltas + 1) != cols:
        return None
    static_bytes = rows * n_static * 4
    body = blob[_V2_HEADER.size:]
    if len(body) < static_bytes:
        return None
    static = np.frombuffer(body[:static_bytes], dtype="<f4").reshape(rows, n_static)
    if n_deltas:
        try:
            shuffled = zlib.decompress(body[static_bytes:])
        except zlib.error:
            return None
        if len(shuffled) != rows * (cols - n_static) * 4:
            return None
        predicted = _delta_columns(static, n_deltas, halfwidth, bool(normalize))
        restored = (predicted.view("<u4") + _unshuffle(shuffled, rows, cols - n_static)).view("<f4")
        frames = np.concatenate([static, restored], axis=1)
    elif len(body) == static_bytes:
        frames = static
    else:
        return None
    frames = np.ascontiguousarray(frames, dtype="<f4")
    if _digest(frames.tobytes()) != digest:
        return None
    return frames.astype(np.float32)
