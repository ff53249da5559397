"""The bad-audio pre-scan: every audio file decoded once (cached by path, size and mtime) before any training."""
from __future__ import annotations

import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from spoofbench.protocols.errors import AudioError, BenchError, ConfigError
from spoofbench.protocols.files import cache_root, file_sha256, write_text_atomic

from ..provenance import hash_json
from .corpus import Corpus, trials_hash
from .log import Log, log_to_stderr


def scan_audio(corpus: Corpus, on_bad_audio: str, *, verify: bool = False, splits: tuple[str, ...] | None = None,
               log: Log = log_to_stderr) -> None:
    """Decode every audio file once (cached by path, size and mtime) and find the ones no detector can use:
    missing, empty, undecodable, NaN/Inf samples, a rate the format forbids. ``fail``: stop before any
    training with the list; ``skip``: leave their trials out of every split (the report lists them).

    Each file's content hash is kept (``corpus.audio_sha256``) for the stage keys, so changed audio is
    re-scored. It is recomputed when a file's size or mtime changed; ``verify`` rehashes every file (audio
    rewritten with its old size and mtime kept). ``splits``: only these splits' audio is read (default: all the
    corpus's tables), e.g. not the train split of a corpus whose systems are all pre-trained."""
    from spoofbench.protocols import get_protocol

    if on_bad_audio not in ("skip", "fail"):
        raise ConfigError(f"--on-bad-audio must be skip or fail, got {on_bad_audio!r}")
    expected_rate = getattr(get_protocol(corpus.protocol), "sample_rate", None)
    scanned = {s: t for s, t in corpus.tables.items() if splits is None or s in splits}
    paths = sorted({p for t in scanned.values() for p in t["path"]})
    cache_file = cache_root() / "audio-scan" / f"{hashlib.sha256(corpus.root.encode()).hexdigest()[:16]}.json"
    cache = _read_records(cache_file)
    results: dict[str, dict] = {}
    todo = []
    for path in paths:
        stamp = file_stamp(path)
        hit = cache.get(path)
        if (hit is not None and stamp is not None and hit.get("stamp") == stamp and hit.get("rate") == expected_rate
                and hit.get("sha256") and not verify):
            results[path] = hit
        else:
            todo.append(path)
    if todo:
        from tqdm import tqdm

        with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
            for path, res in zip(todo, tqdm(pool.map(lambda p: _check_audio(p, expected_rate), todo),
                                            total=len(todo), desc="audio check", unit="file", leave=False,
                                            disable=len(todo) < 200)):
                results[path] = res
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            records = {p: r for p, r in results.items() if r.get("stamp")}
            write_text_atomic(cache_file, json.dumps({"sha256": hash_json(records), "records": records}))
        except OSError:
            pass  # the cache is an optimisation; a read-only cache folder must not stop a run
    corpus.audio_sha256 = {p: results[p].get("sha256") for p in paths}
    bad = [(p, results[p]["problem"]) for p in paths if results[p].get("problem")]
    for split, table in scanned.items():
        corpus.durations[split] = float(sum(results[p].get("seconds", 0.0) for p in table["path"]))
    if not bad:
        return
    lines = "\n".join(f"  {p}: {problem}" for p, problem in bad)
    if on_bad_audio == "fail":
        raise AudioError(f"{len(bad)} audio file(s)",
                         f"cannot be used, nothing was trained:\n{lines}\n"
                         "fix or remove them, or rerun with --on-bad-audio skip to leave their trials out")
    bad_paths = {p for p, _ in bad}
    for p, problem in bad:
        log(f"skipping {p}: {problem}")
    for split, table in corpus.tables.items():
        keep = ~np.isin(table["path"], list(bad_paths))
        corpus.tables[split] = table[keep]
        for required in ("bonafide", "spoof"):
            if required not in set(corpus.tables[split]["label"]):
                raise BenchError(f"{corpus.root}: after leaving out bad audio, the {split} split has no "
                                 f"{required} trials")
    corpus.skipped = bad
    corpus.trials_hash = trials_hash(corpus)
    log(f"left out {len(bad)} bad audio file(s); they are listed in the report")


def _check_audio(path: str, expected_rate: int | None) -> dict:
    """The corpus layer's full check of one file (header, every sample), as a cacheable record."""
    from spoofbench.protocols.describe import check_audio_file

    stamp = file_stamp(path)
    result = check_audio_file(path, expected_rate, decode=True)
    record = {"stamp": stamp, "rate": expected_rate, "seconds": float(result.duration or 0.0),
              "sha256": _content_hash(path)}
    if result.problem:
        # libsndfile repeats the path inside its message; the report names each file once
        record["problem"] = re.sub(r"Error opening '.*?': ", "", result.problem).replace(path, "the file")
    return record


def _content_hash(path: str) -> str | None:
    try:
        return file_sha256(path)
    except OSError:  # missing or unreadable: the check names the problem
        return None


def audio_hash(corpus: Corpus, splits: tuple[str, ...]) -> str:
    """Hash of the audio content of these splits' trials (paths relative to the corpus root, so a moved
    corpus keeps its stage keys): part of the stage keys, so changed audio is scored again."""
    h = hashlib.sha256()
    for split in splits:
        for path in sorted(set(corpus.tables[split]["path"])):
            rel = os.path.relpath(path, corpus.root) if os.path.isabs(path) else path
            h.update(f"{split}\t{rel}\t{corpus.audio_sha256.get(path)}\n".encode())
    return h.hexdigest()


def file_stamp(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _read_records(path: Path) -> dict:
    """The audio-scan records kept for this corpus, or none when the file is absent, unreadable, of the old
    format or damaged (its sha256 does not match): then every file is checked again."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, dict) or data.get("sha256") != hash_json(records):
        return {}
    return records
