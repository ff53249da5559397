"""Orchestration of ``bench run``: corpus -> audio pre-scan -> per detector fit/score -> fusion -> report.

Every stage that costs time is cached in ``DIR/manifest.json`` under a key hashed from all its inputs (the
protocol files' hashes, the trial lists, the detector spec and its resolved hyperparameters, the seed, the
files left out as bad audio). Killing ``bench run`` anywhere and running the same command again continues
where it stopped, and a finished run re-run only rebuilds the report.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spoofbench.detectors.registry import plugin_errors
from spoofbench.protocols.errors import BenchError, ConfigError

from ..config import check_seeds
from .asv import check_asv_file
from .audio_scan import scan_audio
from .cache_usage import feature_cache_usage
from .corpus import Corpus, ensure_demo_corpus, load_corpus
from .decisions_stage import save_decision_policies
from .fusion_stage import FusionRun, run_fusions
from .leftovers import remove_stale_fusion_scores, remove_temporary_files
from .log import Log, log_to_stderr
from .planning import plan_systems, resolve_systems
from .request import RunRequest, check_detector_names, check_fusion_names
from .soft_scores import fail_hard_decision_fusions, fail_hard_decision_systems
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
    feature_cache: dict = field(default_factory=dict)    # cache folder -> bytes and entries (per front end)
    train_corpus: Corpus | None = None   # --train-data: where the trained systems learnt (None: ``corpus`` itself)
    robustness: object = None            # --conditions: the degradation benchmark's RobustnessResult


def check_request(req: RunRequest) -> tuple[list, list[int | None], list, list[str]]:
    """Everything the user gave, checked before any work (corpus, training), each problem one line:
    detector, preset and fusion names, saved model files, hyperparameter names and values (each detector's
    validate_params), seeds, the corpus folders, --on-bad-audio, the device, the ASV score file. Returns the
    systems, seeds, planned systems and fusion methods."""
    specs = check_detector_names(req.detectors)
    req.config.check_names(specs)
    seeds: list[int | None] = check_seeds(req.seeds, "seeds") if req.seeds else [None]
    planned = resolve_systems(specs, seeds, req)
    fusion_methods = check_fusion_names(req.fusion)
    for folder in (req.data, req.train_data):
        if folder is not None and not os.path.isdir(folder):
            raise BenchError(f"{folder}: corpus folder not found")
    if req.on_bad_audio not in ("skip", "fail"):  # [run] on_bad_audio in a config file is not a click choice
        raise ConfigError(f"on_bad_audio must be skip or fail, got {req.on_bad_audio!r}")
    if req.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available here (use --device cpu or leave it out)")
    if req.asv_scores:
        if not os.path.isfile(req.asv_scores):
            raise BenchError(f"{req.asv_scores}: ASV score file not found")
        check_asv_file(req.asv_scores)
    if req.conditions:
        _check_conditions(req.conditions, planned)
    elif req.degrade_dev:
        raise ConfigError("--degrade-dev applies the --conditions to dev: name the conditions too")
    if req.train_data is not None and req.train_protocol is None:  # no corpus there: named before any work
        from spoofbench.protocols import detect_protocol

        detect_protocol(req.train_data)
    return specs, seeds, planned, fusion_methods


def _check_conditions(conditions: list[str], planned: list) -> None:
    """Condition names and the systems a transfer attack is crafted on, checked before any work."""
    from ..robustness import parse_conditions

    systems = {p.system for p in planned} | {p.system.split(".seed")[0] for p in planned}
    for c in parse_conditions(conditions):
        if c.source is not None and c.source not in systems:
            raise ConfigError(f"condition {c.spec!r}: {c.source!r} is not a system of this run "
                              f"(systems: {', '.join(sorted(systems))})")


def run_benchmark(req: RunRequest, log: Log = log_to_stderr,
                  finish: Callable[[RunOutcome], object] | None = None) -> RunOutcome:
    """Run (or resume) the benchmark the request describes; returns everything the report needs.
    ``finish`` (the report) runs while the output folder is still locked; its result is ``outcome.report``."""
    for plugin, error in plugin_errors().items():  # a broken plugin is named, the others still run
        log(f"warning: detector plugin {plugin!r} failed to load: {error}")
    specs, seeds, planned, fusion_methods = check_request(req)
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
        trains = any(p.needs_training and p.model_file is None for p in planned)
        cross = req.train_data is not None and os.path.abspath(req.train_data) != os.path.abspath(data_root)
        splits = ("dev", "eval") if cross or not trains else ("train", "dev", "eval")  # only what is read
        t0 = time.perf_counter()
        corpus = load_corpus(data_root, req.protocol, asv_override=req.asv_scores, fraction=req.fraction,
                             max_trials=req.max_trials, subset_seed=req.subset_seed, splits=splits, log=log)
        if not req.asv_scores and corpus.asv_files.get("eval"):
            check_asv_file(corpus.asv_files["eval"])
        train_corpus = None
        if cross:  # read (and so checked) even when no system trains: a wrong folder is named, not ignored
            train_corpus = load_corpus(req.train_data, req.train_protocol, fraction=req.fraction,
                                       max_trials=req.max_trials, subset_seed=req.subset_seed,
                                       splits=("train", "dev"), log=log)
            if not trains:
                log(f"note: no system of this run trains (all pre-trained or saved): {req.train_data} is not used")
                train_corpus = None
        stage_times["load_corpus"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        scan_audio(corpus, req.on_bad_audio, verify=req.verify_audio, log=log)
        if train_corpus is not None:
            scan_audio(train_corpus, req.on_bad_audio, verify=req.verify_audio, log=log)
        stage_times["audio_scan"] = time.perf_counter() - t0

        runs = plan_systems(planned, corpus, out, train_corpus)
        for i, run in enumerate(runs, 1):
            log(f"[{i}/{len(runs)}] {run.system}")
            t0 = time.perf_counter()
            run_system(run, corpus, out, manifest, log=log, train_corpus=train_corpus)
            stage_times[f"system:{run.system}"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        tdcf = bool(corpus.asv_files.get("eval"))  # without ASV scores there are no t-DCF columns to refuse
        dev_scores, eval_scores = collect_scores(runs, corpus, seeds)
        if tdcf:
            fail_hard_decision_systems(runs, dev_scores, eval_scores, corpus.tables["eval"], out, log=log)
        fusions = run_fusions(fusion_methods, runs, corpus, seeds, dev_scores, eval_scores, out, log=log)
        if tdcf:
            fail_hard_decision_fusions(fusions, eval_scores, corpus.tables["eval"], log=log)
        remove_stale_fusion_scores(out, [f.score_file for f in fusions], log=log)
        stage_times["fusion"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        save_decision_policies(runs, corpus, out, manifest, log=log)
        stage_times["decisions"] = time.perf_counter() - t0
        outcome = RunOutcome(out, corpus, runs, fusions, seeds, stage_times, eval_scores, dev_scores,
                             train_corpus=train_corpus)
        if req.conditions:
            from ..robustness import StageOptions, parse_conditions, run_conditions

            t0 = time.perf_counter()
            options = StageOptions(cache_dir=req.condition_cache, n_bootstrap=req.n_bootstrap,
                                   degrade_dev=req.degrade_dev)
            outcome.robustness = run_conditions(outcome, parse_conditions(req.conditions), options, log=log)
            stage_times["robustness"] = time.perf_counter() - t0
        outcome.feature_cache = feature_cache_usage([r.params["cache_dir"] for r in runs
                                                     if r.params.get("cache_dir")])
        if finish is not None:
            outcome.report = finish(outcome)
    return outcome
