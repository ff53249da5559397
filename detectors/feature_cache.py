"""On-disk cache of per-file front-end features, with parallel extraction.

Layout: ``<cache_dir>/<kind>-<hash of the full parameter set>/<hash of the file identity>.feat`` (plus a
``params.json`` per parameter set, for humans). The file identity is (real path, size, mtime in ns): editing
or replacing an audio file gives it a new entry. An entry holds the exact float32 frames in about half their
size (:mod:`spoofbench.detectors.feature_entries`) with a BLAKE2b digest; an entry whose size or digest does
not match is treated as missing, recomputed and rewritten. Entries are written to a temporary name and renamed
into place, so two runs can share a cache: readers never see a half-written entry, and the last of two
identical writes wins.

``cache_dir`` None means ``$BENCH_CACHE_DIR/features`` (else ``$SPOOFBENCH_CACHE/features``, else
``~/.cache/spoofbench/features``); ``False`` (or "") disables caching. :func:`cache_usage` and
:func:`clear_cache` measure and free a cache folder (``bench cache info|clear``).
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spoofbench.protocols.audio import load_audio
from spoofbench.protocols.errors import AudioError, BenchError
from spoofbench.protocols.files import cache_root, write_bytes_atomic
from spoofbench.protocols.workers import worker_pool

from . import frontends
from .feature_entries import decode_entry, encode_entry

#: Bump when the meaning of a parameter set changes (a fix in a front end), to orphan old entries.
FEATURE_VERSION = 1


@dataclass(frozen=True)
class AugmentedCopy:
    """Copy number ``copy`` of each file through ``augmentation`` (a :class:`spoofbench.augment.Augmentation`),
    drawn for (seed, copy, file name). ``key`` names the augmentation, its seed and (for babble) the speech it
    mixes: the cache folder of these copies."""

    augmentation: Any
    seed: int
    copy: int
    key: str

    def apply(self, wave: np.ndarray, sample_rate: int, path: str) -> np.ndarray:
        return self.augmentation.apply(wave, sample_rate, seed=self.seed, utt_id=Path(path).stem, epoch=self.copy)


def default_cache_dir() -> Path:
    """``<root>/features`` where root is ``$BENCH_CACHE_DIR``, else the toolkit's cache folder
    (:func:`spoofbench.protocols.files.cache_root`: ``$SPOOFBENCH_CACHE``, ``$XDG_CACHE_HOME/spoofbench`` or
    ``~/.cache/spoofbench``)."""
    root = os.environ.get("BENCH_CACHE_DIR")
    return (Path(root).expanduser() if root else cache_root()) / "features"


def resolve_cache_dir(cache_dir) -> Path | None:
    """None -> the default folder; False or "" -> no cache; anything else -> that folder."""
    if cache_dir is None:
        return default_cache_dir()
    if cache_dir is False or cache_dir == "":
        return None
    return Path(cache_dir).expanduser()


def params_digest(kind: str, params: dict[str, Any]) -> str:
    blob = json.dumps({"kind": kind, "params": params, "version": FEATURE_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def file_identity(path: str) -> str:
    """Hash of (real path, size, mtime_ns); raises AudioError for a missing file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AudioError(path, "audio file not found") from None
    except OSError as exc:
        raise AudioError(path, f"cannot stat audio file ({exc.strerror})") from None
    key = f"{os.path.realpath(path)}\0{st.st_size}\0{st.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class FeatureExtractor:
    """Features of audio files for one front end and parameter set, cached on disk and extracted in
    parallel. ``last_hits`` / ``last_extracted`` tell how the last call was served."""

    def __init__(self, kind: str, params: dict[str, Any], cache_dir=None, n_jobs: int | None = None,
                 progress: bool = True):
        self.kind = kind
        self.params = dict(params)
        self.sample_rate = int(self.params["sample_rate"])
        self.n_jobs = n_jobs
        self.progress = progress
        root = resolve_cache_dir(cache_dir)
        self.directory = root / f"{kind}-{params_digest(kind, self.params)}" if root is not None else None
        self.last_hits = 0
        self.last_extracted = 0
        self._warned = False

    # ---- cache ---------------------------------------------------------------------------------------
    def entry_path(self, audio_path: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{file_identity(audio_path)}.feat"

    def _prepare_directory(self) -> None:
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            info = self.directory / "params.json"
            if not info.exists():
                write_bytes_atomic(info, json.dumps({"kind": self.kind, "params": self.params,
                                                "version": FEATURE_VERSION}, indent=1, sort_keys=True).encode())
        except OSError as exc:
            self._disable(exc)

    def _disable(self, exc: OSError) -> None:
        if not self._warned:
            warnings.warn(f"feature cache {self.directory} is not usable ({exc.strerror or exc}); "
                          "continuing without caching", RuntimeWarning, stacklevel=3)
            self._warned = True
        self.directory = None

    def _read(self, entry: Path | None) -> np.ndarray | None:
        if entry is None:
            return None
        try:
            blob = entry.read_bytes()
        except OSError:
            return None
        return decode_entry(blob)

    # ---- extraction ------------------------------------------------------------------------------------
    def features(self, paths: Sequence[str], desc: str | None = None,
                 augmented: AugmentedCopy | None = None) -> list[np.ndarray]:
        """One ``(frames, dims)`` float32 array per path, in order (of an augmented copy of each file when
        ``augmented`` is given)."""
        out: list[np.ndarray] = []
        for _, feats in self.batches(paths, batch_files=max(1, len(paths)), desc=desc, augmented=augmented):
            out.extend(feats)
        return out

    def batches(self, paths: Sequence[str], batch_files: int = 2000, desc: str | None = None,
                augmented: AugmentedCopy | None = None):
        """Yield ``(start, features of paths[start:start + batch_files])``: bounded memory for large sets, one
        progress bar, ``last_hits``/``last_extracted`` summed over the batches."""
        from tqdm.auto import tqdm

        paths = [str(p) for p in paths]
        self._prepare_directory()
        self.last_hits = self.last_extracted = 0
        bar = tqdm(total=len(paths), desc=desc or f"{self.kind} features", unit="file",
                   disable=not self.progress, leave=False)
        try:
            for start in range(0, len(paths), batch_files):
                yield start, self._batch(paths[start:start + batch_files], bar, augmented)
        finally:
            bar.close()

    def augmented_entry_path(self, audio_path: str, augmented: AugmentedCopy) -> Path | None:
        """Entries of augmented copies live in a folder per (augmentation, seed): reused by every fit with
        the same augmentation, never mistaken for the clean features."""
        if self.directory is None:
            return None
        return self.directory / f"aug-{augmented.key}" / f"{file_identity(audio_path)}.{augmented.copy}.feat"

    def _batch(self, paths: list[str], bar, augmented: AugmentedCopy | None = None) -> list[np.ndarray]:
        if augmented is None:
            entries = [self.entry_path(p) for p in paths]
        else:
            entries = [self.augmented_entry_path(p, augmented) for p in paths]
            if self.directory is not None and entries:
                try:
                    entries[0].parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    self._disable(exc)
                    entries = [None] * len(paths)
        out: list[np.ndarray | None] = [self._read(e) for e in entries]
        missing = [i for i, f in enumerate(out) if f is None]
        self.last_hits += len(paths) - len(missing)
        self.last_extracted += len(missing)
        bar.update(len(paths) - len(missing))
        if not missing:
            return out  # type: ignore[return-value]
        jobs = [(paths[i], str(entries[i]) if entries[i] is not None else None, augmented) for i in missing]
        workers = self._workers(len(jobs))
        if workers <= 1:
            with _single_blas_thread():  # small matrix products: threads only contend
                self._collect((_extract_job(self.kind, self.params, job) for job in jobs), missing, out, bar)
        else:
            with worker_pool(workers, initializer=_worker_init) as pool:
                chunk = max(1, min(16, len(jobs) // (4 * workers)))
                results = pool.map(_extract_job, [self.kind] * len(jobs), [self.params] * len(jobs), jobs,
                                   chunksize=chunk)
                self._collect(results, missing, out, bar)
        return out  # type: ignore[return-value]

    def _collect(self, results, missing, out, bar) -> None:
        for i, (feats, problem, cache_error) in zip(missing, results):
            if problem is not None:
                raise AudioError(problem[0], problem[1])
            if cache_error is not None and self.directory is not None:
                self._disable(OSError(cache_error))
            out[i] = feats
            bar.update(1)

    def _workers(self, n_jobs_pending: int) -> int:
        n = self.n_jobs
        if n is None or n < 1:
            n = available_cores()
        return max(1, min(n, n_jobs_pending))


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _single_blas_thread():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def _worker_init() -> None:
    _single_blas_thread()  # one BLAS thread per worker: the workers are the parallelism


def _extract_job(kind: str, params: dict[str, Any], job: tuple[str, str | None, AugmentedCopy | None]):
    """Load, (augment,) extract and cache one file. Returns (features, problem, cache_error); problems travel
    back as plain strings because the toolkit's exceptions do not survive pickling between processes."""
    path, entry, augmented = job
    try:
        wave = load_audio(path, params["sample_rate"])
        if augmented is not None:
            wave = augmented.apply(wave, params["sample_rate"], path)
        feats = frontends.extract(kind, wave, params)
    except BenchError as exc:
        return None, (getattr(exc, "path", path), getattr(exc, "problem", str(exc))), None
    except ValueError as exc:
        return None, (path, f"cannot extract {kind} features ({exc})"), None
    cache_error = None
    if entry is not None:
        try:
            write_bytes_atomic(entry, encode_entry(feats, params))
        except OSError as exc:
            cache_error = f"{exc.strerror or exc}"
    return feats, None, cache_error


# ---- usage and clean-up (bench cache) ------------------------------------------------------------------
def parameter_sets(root: Path) -> list[tuple[str, Path]]:
    """``(front end, folder)`` for each parameter-set folder under ``root`` (``<kind>-<digest>``)."""
    if not root.is_dir():
        return []
    return sorted((d.name.rsplit("-", 1)[0], d) for d in root.iterdir()
                  if d.is_dir() and "-" in d.name)


def _entry_files(folder: Path) -> list[tuple[Path, os.stat_result]]:
    found = []
    for path in folder.iterdir():
        if path.is_dir() and path.name.startswith("aug-"):  # features of augmented copies
            found.extend(_entry_files(path))
        elif path.name.endswith(".feat") and not path.name.startswith("."):  # ".x.feat.tmp…": unfinished writes
            try:
                found.append((path, path.stat()))
            except FileNotFoundError:  # removed meanwhile by another process
                pass
    return found


def cache_usage(root) -> dict[str, dict[str, Any]]:
    """Per front end: ``entries``, ``bytes``, ``parameter_sets`` and the ``oldest``/``newest`` entry's write
    time (POSIX seconds, None when empty). Entries that vanish while being counted (another process clearing
    the cache) are skipped."""
    usage: dict[str, dict[str, Any]] = {}
    for kind, folder in parameter_sets(Path(root)):
        row = usage.setdefault(kind, {"entries": 0, "bytes": 0, "parameter_sets": 0, "oldest": None,
                                      "newest": None})
        row["parameter_sets"] += 1
        try:
            files = _entry_files(folder)
        except OSError:
            continue
        for _, st in files:
            row["entries"] += 1
            row["bytes"] += st.st_size
            row["oldest"] = st.st_mtime if row["oldest"] is None else min(row["oldest"], st.st_mtime)
            row["newest"] = st.st_mtime if row["newest"] is None else max(row["newest"], st.st_mtime)
    return usage


def clear_cache(root, frontend: str | None = None, older_than: float | None = None) -> dict[str, int]:
    """Delete the entries under ``root`` (only front end ``frontend`` when given, only entries written more
    than ``older_than`` seconds ago when given); a parameter-set folder left without entries goes too.
    Returns ``{"entries": removed, "bytes": freed}``."""
    import shutil
    import time

    now = time.time()
    removed = freed = 0
    for kind, folder in parameter_sets(Path(root)):
        if frontend is not None and frontend not in (kind, folder.name):
            continue
        try:
            files = _entry_files(folder)
        except OSError:
            continue
        kept = 0
        for path, st in files:
            if older_than is not None and now - st.st_mtime <= older_than:
                kept += 1
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed += 1
            freed += st.st_size
        if not kept:  # params.json and temporary files of interrupted writes go with the last entry
            shutil.rmtree(folder, ignore_errors=True)
    return {"entries": removed, "bytes": freed}
