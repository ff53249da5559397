"""Orchestration of ``bench run``: corpus -> audio pre-scan -> per detector fit/score -> fusion -> report.

Every stage that costs time is cached in ``DIR/manifest.json`` under a key hashed from all its inputs (the
protocol files' hashes, the trial lists, the detector spec and its resolved hyperparameters, the seed, the
files left out as bad audio). Killing ``bench run`` anywhere and running the same command again continues
where it stopped, and a finished run re-run only rebuilds the report.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from spoofbench.detectors.registry import plugin_errors
from spoofbench.protocols.errors import BenchError, ConfigError

from .audio_scan import scan_audio
from .corpus import Corpus, ensure_demo_corpus, load_corpus
from .fusion_stage import FusionRun, run_fusions
from .leftovers import remove_stale_fusion_scores, remove_temporary_files
from .log import Log, log_to_stderr
from .planning import plan_systems
from .request import RunRequest, check_detector_names, check_fusion_names
from .systems import SystemRun, collect_scores, run_system
from .workspace import Manifest, RunLock, default_out_dir, prepare_out_dir


@dataclass
class RunOutcome:
    out: Path
    corpus: Corpus
    systems: list[SystemRun]
    fusions: list[FusionRun]
    seeds: list[int | None]
    stage_times: dict[str, float]
    scores: dict[int | None, dict[str, np.ndarray]]       # seed -> system -> eval scores (aligned with eval trials)
    dev_scores: dict[int | None, dict[str, np.ndarray]]   # seed -> system -> dev scores
    report: object = None


def run_benchmark(req: RunRequest, log: Log = log_to_stderr,
                  finish: Callable[[RunOutcome], object] | None = None) -> RunOutcome:
    """Run (or resume) the benchmark the request describes; returns everything the report needs.
    ``finish`` (the report) runs while the output folder is still locked; its result is ``outcome.report``."""
    for plugin, error in plugin_errors().items():  # a broken plugin is named, the others still run
        log(f"warning: detector plugin {plugin!r} failed to load: {error}")
    specs = check_detector_names(req.detectors)
    req.config.check_names(specs)
    for spec in specs:  # every hyperparameter checked before any work
        req.config.resolve(spec)
    fusion_methods = check_fusion_names(req.fusion)
    if req.data is not None and not os.path.isdir(req.data):
        raise BenchError(f"{req.data}: corpus folder not found")
    if req.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available here (use --device cpu or leave it out)")
    seeds: list[int | None] = list(req.seeds) if req.seeds else [None]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds lists a seed twice: {seeds}")
    stage_times: dict[str, float] = {}

    t0 = time.perf_counter()
    data_root = req.data or ensure_demo_corpus(log=log)
    if req.data is None:
        stage_times["demo_corpus"] = time.perf_counter() - t0
    out = Path(req.out) if req.out else default_out_dir(req, data_root)
    prepare_out_dir(out)
    with RunLock(out, req.command):
        remove_temporary_files(out, log=log)
        manifest = Manifest(out / "manifest.json", log=log)
        t0 = time.perf_counter()
        corpus = load_corpus(data_root, req.protocol, asv_override=req.asv_scores, fraction=req.fraction,
                             max_trials=req.max_trials, subset_seed=req.subset_seed, log=log)
        stage_times["load_corpus"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        scan_audio(corpus, req.on_bad_audio, log=log)
        stage_times["audio_scan"] = time.perf_counter() - t0

        runs = plan_systems(specs, seeds, req, corpus, out)
        for i, run in enumerate(runs, 1):
            log(f"[{i}/{len(runs)}] {run.system}")
            t0 = time.perf_counter()
            run_system(run, corpus, out, manifest, log=log)
            stage_times[f"system:{run.system}"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        dev_scores, eval_scores = collect_scores(runs, corpus, seeds)
        fusions = run_fusions(fusion_methods, runs, corpus, seeds, dev_scores, eval_scores, out, log=log)
        remove_stale_fusion_scores(out, [f.score_file for f in fusions], log=log)
        stage_times["fusion"] = time.perf_counter() - t0
        outcome = RunOutcome(out, corpus, runs, fusions, seeds, stage_times, eval_scores, dev_scores)
        if finish is not None:
            outcome.report = finish(outcome)
    return outcome
