"""Where a run's files live: the cache folder, the output folder, its run lock and the stage manifest.

Output folder::

    DIR/scores/<system>.<split>.txt     CM scores, ASVspoof 2019 format (UTT ATTACK KEY SCORE); fused: eval only
    DIR/models/<system>.det             fitted detectors (Detector.save; load with `bench score --checkpoint`)
    DIR/work/<system>-<key>/            detector working files (e.g. RawNet2's per-epoch checkpoints)
    DIR/logs/<system>.traceback.txt     the traceback of a failed detector
    DIR/.lock, DIR/.lock.holder         the run lock (see RunLock)
    DIR/manifest.json                   the stage cache; DIR/metrics.json, report.*, run.json: see report.py
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from filelock import FileLock, Timeout

from spoofbench.protocols.errors import BenchError
from spoofbench.protocols.files import file_sha256, write_text_atomic

from ..provenance import hash_json
from .log import Log, log_to_stderr
from .request import RunRequest

MANIFEST_VERSION = 2  # 2: the manifest carries the sha256 of its records


def default_out_dir(req: RunRequest, data_root: str) -> Path:
    """``results/<corpus>-<hash of the request>``: the same command finds the same folder (and resumes)."""
    ident = {"detectors": req.detectors, "data": os.path.abspath(data_root), "protocol": req.protocol,
             "seeds": req.seeds, "sets": req.config.cli_params, "config": req.config.file_params,
             "device": req.device, "subset": [req.fraction, req.max_trials, req.subset_seed]}
    if req.train_data is not None:  # only when given, so the folders of earlier runs are found again
        ident["train_data"] = [os.path.abspath(req.train_data), req.train_protocol]
    corpus = re.sub(r"[^A-Za-z0-9_.-]+", "-", os.path.basename(os.path.normpath(data_root))) or "corpus"
    return Path("results") / f"{corpus}-{hash_json(ident)[:8]}"


def prepare_out_dir(out: Path) -> None:
    """Create the output folder and prove it is writable before any work is done."""
    try:
        for sub in ("", "scores", "models", "work", "logs"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise BenchError(f"{out}: output folder is not writable ({exc.strerror or exc}); "
                         "choose another with --out") from None


class RunLock:
    """One ``bench run`` per output folder at a time (a second would interleave the manifest).

    An OS lock (flock) on ``DIR/.lock``: the kernel drops it when its holder exits, however it ends, so a lock
    left by a killed run or a reboot never blocks. The file itself stays (removing a locked file would let a
    third process lock a new one while a second still waits on the old). Who holds it (pid and command line)
    is written to ``DIR/.lock.holder`` once the lock is taken, for the message a second run gets."""

    def __init__(self, out: Path, command: list[str] | None = None):
        self.path = out / ".lock"
        self.holder_path = out / ".lock.holder"
        self.command = command
        self._lock = FileLock(self.path)

    def __enter__(self):
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise BenchError(f"{self.path.parent}: another bench run ({self._holder()}) is writing this folder; "
                             "wait for it to finish or stop it") from None
        try:
            command = " ".join(self.command) if self.command else " ".join(sys.argv)
            write_text_atomic(self.holder_path, f"pid {os.getpid()}: {command}\n")
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        # Never let the clean-up replace the error that ended the run (e.g. a disk turned read-only).
        try:
            self.holder_path.unlink(missing_ok=True)
        except OSError:
            pass  # a stale note is harmless: it is read only while a lock is held, and each holder rewrites it
        try:
            self._lock.release()
        except OSError:
            if exc is None:
                raise
        return False

    def _holder(self) -> str:
        try:
            return self.holder_path.read_text(encoding="utf-8").strip() or "pid unknown"
        except (OSError, UnicodeDecodeError):
            return "pid unknown"  # it took the lock and has not written its note yet


class Manifest:
    """``DIR/manifest.json``: per system the key of its inputs, its status, timings and output files.

    Every stage that costs time is recorded under a key hashed from all its inputs; a stage whose key is
    unchanged and whose output files are intact is not run again. The manifest is updated only after a
    stage's files are in place, so a partial file never stands as a finished one. It carries the sha256 of its
    own records: a damaged or hand-edited manifest is named in a warning and none of its records is trusted, so
    the run recomputes what they vouched for instead of reusing files on the word of altered records."""

    def __init__(self, path: Path, *, log: Log = log_to_stderr):
        self.path = path
        self.data = {"version": MANIFEST_VERSION, "systems": {}}
        if not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log(f"warning: {path}: unreadable ({exc}); not trusting it, every stage is recomputed")
            return
        version = data.get("version") if isinstance(data, dict) else None
        if version != MANIFEST_VERSION:  # its keys may mean other things (or the version itself was damaged)
            log(f"warning: {path}: manifest format {version!r}, not {MANIFEST_VERSION}; its records are not used, "
                "every stage is recomputed")
            return
        if data.get("sha256") != _records_sha256(data):
            log(f"warning: {path}: damaged (its checksum does not match its records); not trusting it, "
                "every stage is recomputed")
            return
        if isinstance(data.get("systems"), dict):
            self.data = {"version": MANIFEST_VERSION, "systems": data["systems"]}

    def get(self, system: str, key: str) -> dict:
        rec = self.data["systems"].get(system)
        return rec if rec and rec.get("key") == key else {"key": key}

    def put(self, system: str, record: dict) -> None:
        self.data["systems"][system] = record
        data = dict(self.data, sha256=_records_sha256(self.data))
        write_text_atomic(self.path, json.dumps(data, indent=1, sort_keys=True))


def _records_sha256(data: dict) -> str:
    return hash_json({"version": data.get("version"), "systems": data.get("systems")})


def file_record(path: Path) -> dict:
    """What the manifest keeps of an output file, to recognise it later."""
    return {"sha256": file_sha256(path), "size": path.stat().st_size}


def file_matches(path: Path, record: dict | None) -> bool:
    """The file exists and is the one the manifest recorded (not a leftover of another run)."""
    if not record or not path.is_file():
        return False
    return path.stat().st_size == record.get("size") and file_sha256(path) == record.get("sha256")
