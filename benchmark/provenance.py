"""Provenance of a run: content hashes, the toolkit's git revision, package versions, and the ``run.json`` record.

Shared by the run pipeline (stage keys, protocol-file hashes) and the report (``run.json``), so neither reaches
into the other for it.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import time
from pathlib import Path

from spoofbench.detectors.base import jsonable


def hash_json(obj) -> str:
    return hashlib.sha256(json.dumps(jsonable(obj), sort_keys=True, default=str).encode()).hexdigest()


def environment() -> dict:
    """Package versions and machine facts for the provenance record."""
    from importlib.metadata import PackageNotFoundError, version

    from spoofbench.detectors.cpu import cpu_isa, processor_name

    pkgs = {}
    for name in ("spoofbench", "numpy", "scipy", "torch", "scikit-learn", "xgboost", "librosa", "soundfile",
                 "soxr", "matplotlib", "tabulate", "click"):
        try:
            pkgs[name] = version(name)
        except PackageNotFoundError:
            pkgs[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(),
            "processor": processor_name(), "cpu_isa": cpu_isa(), "cpu_count": os.cpu_count(), "packages": pkgs}



def git_revision() -> dict:
    """The toolkit's git revision (and whether its tree had uncommitted changes), when it runs from a clone."""
    import subprocess

    here = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return {"revision": None}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"revision": None}


def run_record(outcome, req, started: float | None) -> dict:
    """What ``run.json`` holds for a finished ``bench run`` (a RunOutcome and its RunRequest)."""
    c, train = outcome.corpus, getattr(outcome, "train_corpus", None)
    systems = {}
    for r in outcome.systems:
        systems[r.system] = {"spec": r.spec, "seed": r.seed, "params": r.params, "status": r.status,
                             "error": r.error, "cached": r.cached, "n_parameters": r.n_parameters,
                             "timings": r.timings, "stage_key": r.key,
                             "real_time_factor_eval": (r.timings or {}).get("rtf_eval"),
                             "trained_by_this_run": getattr(r, "trains", True),
                             "training": getattr(r, "origin", {}), "pretrained": getattr(r, "pretrained", None),
                             "model_file": getattr(r, "model_file", None)}
    fusions = {f.system: {"method": f.method, "members": f.members, "left_out": f.left_out, "status": f.status,
                          "error": f.error, "parameters": f.parameters} for f in outcome.fusions}
    return {
        "command": req.command,
        "cwd": os.getcwd(),
        "config": {"file": req.config.source, "run": req.config.run, "file_params": req.config.file_params,
                   "set": req.config.cli_params},
        "options": {"detectors": req.detectors, "train_data": req.train_data, "train_protocol": req.train_protocol,
                    "fusion": req.fusion, "seeds": req.seeds, "device": req.device,
                    "on_bad_audio": req.on_bad_audio, "verify_audio": req.verify_audio,
                    "n_bootstrap": req.n_bootstrap, "protocol": c.protocol,
                    "fraction": req.fraction, "max_trials": req.max_trials, "subset_seed": req.subset_seed},
        "git": git_revision(),
        "environment": environment(),
        "corpus": corpus_record(c),
        "train_corpus": corpus_record(train) if train is not None else None,
        "seeds": outcome.seeds,
        "feature_cache": getattr(outcome, "feature_cache", {}),
        "systems": systems,
        "fusions": fusions,
        "wall_time_s": {**outcome.stage_times,
                        **({"total": time.perf_counter() - started} if started is not None else {})},
        "finished": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def corpus_record(c) -> dict:
    """A corpus as run.json names it: where, which format, the hashes of its protocol files and trials."""
    return {"root": c.root, "protocol": c.protocol, "protocol_files_sha256": c.sources,
            "asv_scores": c.asv_files, "trials": {s: len(t) for s, t in c.tables.items()},
            "audio_seconds": c.durations, "trials_sha256": c.trials_hash,
            "skipped_audio": [{"path": p, "problem": q} for p, q in c.skipped]}
