"""Orchestration of ``bench run``: corpus -> audio pre-scan -> per detector fit/score -> fusion -> metrics -> report.

Every stage that costs time is cached in ``DIR/manifest.json`` under a key hashed from all its inputs (the
protocol files' hashes, the trial lists, the detector spec and its resolved hyperparameters, the seed, the
files left out as bad audio). A stage whose key is unchanged and whose output files are intact is not run
again, so killing ``bench run`` anywhere and running the same command again continues where it stopped,
and a finished run re-run only rebuilds the report. Each output is written under a temporary name and then
renamed, and the manifest is updated only after its files are in place: a partial file never stands as a
finished one. A detector that raises is recorded as failed (error and traceback) and the others go on.

Output folder::

    DIR/scores/<system>.<split>.txt     CM scores, ASVspoof 2019 format (UTT ATTACK KEY SCORE); fused: eval only
    DIR/models/<system>.det             fitted detectors (Detector.save; load with `bench score --checkpoint`)
    DIR/work/<system>-<key>/            detector working files (e.g. RawNet2's per-epoch checkpoints)
    DIR/logs/<system>.traceback.txt     the traceback of a failed detector
    DIR/manifest.json                   the stage cache; DIR/metrics.json, report.*, run.json: see report.py
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import re
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from spoofbench.detectors import Detector, create_detector
from spoofbench.detectors.base import jsonable
from spoofbench.protocols.files import write_text_atomic
from spoofbench.detectors.registry import get_entry, list_detectors, plugin_errors, split_spec
from spoofbench.protocols.errors import AudioError, BenchError, ConfigError
from spoofbench.protocols.trials import TrialTable

from .config import RunConfig
from .fusion import FUSION_METHODS, FusionError, fuse

CACHE_ENV = "SPOOFBENCH_CACHE"
SPLITS = ("train", "dev", "eval")
MANIFEST_VERSION = 1
#: Hyperparameters that say where files go or how fast work runs, never what the numbers are: left out of
#: the stage keys so that moving a cache does not retrain anything.
NON_RESULT_PARAMS = frozenset({"cache_dir", "checkpoint_dir", "keep_checkpoints", "cache_audio", "n_jobs", "num_workers",
                               "verbose", "progress"})
#: Environment errors that must stop the run (retrying the next detector cannot succeed).
FATAL_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES}
DEMO_SEED = 0

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cache_root() -> Path:
    """Where the demo corpus, the feature cache and the audio-scan cache live: ``$SPOOFBENCH_CACHE``, else
    ``$XDG_CACHE_HOME/spoofbench``, else ``~/.cache/spoofbench``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spoofbench"


# ---- the request and what comes out ---------------------------------------------------------------
@dataclass
class RunRequest:
    detectors: list[str]
    data: str | None = None
    protocol: str | None = None
    fusion: list[str] = field(default_factory=lambda: ["logreg", "mean"])
    seeds: list[int] | None = None
    out: str | None = None
    device: str | None = None
    on_bad_audio: str = "fail"
    asv_scores: str | None = None
    n_bootstrap: int = 1000
    plots: bool = True
    fraction: float | None = None
    max_trials: int | None = None
    subset_seed: int = 0
    config: RunConfig = field(default_factory=RunConfig)
    command: list[str] = field(default_factory=list)


@dataclass
class Corpus:
    root: str
    protocol: str
    tables: dict[str, TrialTable]                 # split -> trials (bad audio already left out when skipping)
    sources: dict[str, str]                       # protocol file (relative to root) -> sha256
    asv_files: dict[str, str | None]              # split -> ASV score file used for the t-DCF
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (audio path, problem)
    durations: dict[str, float] = field(default_factory=dict)      # split -> seconds of audio
    trials_hash: str = ""


@dataclass
class SystemRun:
    """One detector at one seed."""

    system: str
    spec: str
    params: dict
    seed: int | None
    key: str
    status: str = "pending"          # done | failed
    error: str | None = None
    cached: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    n_parameters: int | None = None
    score_files: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "done"

    @property
    def label(self) -> str:
        """The system's name without its seed suffix (the row it has in the report)."""
        return _base_system(self.system)


@dataclass
class FusionRun:
    system: str
    method: str
    seed: int | None
    members: list[str]
    left_out: dict[str, str]         # system -> why it is not in the fusion
    status: str = "done"
    error: str | None = None
    parameters: dict = field(default_factory=dict)
    score_file: str | None = None

    @property
    def label(self) -> str:
        """The fusion's name without its seed suffix (the row it has in the report)."""
        return _base_system(self.system)


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


# ---- entry point ----------------------------------------------------------------------------------
def run_benchmark(req: RunRequest, log: Log = _stderr,
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
    with RunLock(out):
        manifest = Manifest(out / "manifest.json")
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
        dev_scores, eval_scores = collect_scores(runs, corpus, out, seeds)
        fusions = run_fusions(fusion_methods, runs, corpus, seeds, dev_scores, eval_scores, out, log=log)
        stage_times["fusion"] = time.perf_counter() - t0
        outcome = RunOutcome(out, corpus, runs, fusions, seeds, stage_times, eval_scores, dev_scores)
        if finish is not None:
            outcome.report = finish(outcome)
    return outcome


# ---- checks of the request ------------------------------------------------------------------------
def check_detector_names(names: list[str]) -> list[str]:
    """Validate ``name[.preset]`` specs early (before any work); unknown names get the closest suggestion."""
    specs = [n.strip() for n in names if n.strip()]
    if not specs:
        raise ConfigError("no detectors given; e.g. --detectors rawnet2.small,lfcc-gmm.small "
                          f"(registered: {', '.join(list_detectors())})")
    seen = set()
    for spec in specs:
        if spec in seen:
            raise ConfigError(f"--detectors lists {spec!r} twice")
        seen.add(spec)
        name, preset = split_spec(spec)
        broken = plugin_errors()
        if name in broken and name not in list_detectors():
            raise ConfigError(f"detector {name!r} comes from a plugin that failed to load: {broken[name]}")
        entry = get_entry(name)
        if preset is not None and preset not in entry.presets:
            import difflib

            close = difflib.get_close_matches(preset, list(entry.presets), n=1)
            hint = f" (did you mean '{name}.{close[0]}'?)" if close else ""
            raise ConfigError(f"detector {name!r} has no preset {preset!r}{hint}; presets: "
                              f"{', '.join(entry.presets) or '(none)'}")
    return specs


def check_fusion_names(methods: list[str]) -> list[str]:
    methods = [m.strip() for m in methods if m.strip() and m.strip() != "none"]
    for m in methods:
        if m not in FUSION_METHODS + ("calibrate",):
            import difflib

            close = difflib.get_close_matches(m, FUSION_METHODS + ("calibrate",), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown fusion {m!r}{hint}; choose from {', '.join(FUSION_METHODS)}, calibrate, none")
    return methods


# ---- output folder --------------------------------------------------------------------------------
def default_out_dir(req: RunRequest, data_root: str) -> Path:
    """``results/<corpus>-<hash of the request>``: the same command finds the same folder (and resumes)."""
    ident = {"detectors": req.detectors, "data": os.path.abspath(data_root), "protocol": req.protocol,
             "seeds": req.seeds, "sets": req.config.cli_params, "config": req.config.file_params,
             "device": req.device, "subset": [req.fraction, req.max_trials, req.subset_seed]}
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
    """One ``bench run`` per output folder at a time (a second would interleave the manifest)."""

    def __init__(self, out: Path):
        self.path = out / ".lock"

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                return self
            except FileExistsError:
                if _pid_alive(self.path):
                    raise BenchError(f"{self.path.parent}: another bench run (pid {self.path.read_text().strip()}) "
                                     "is writing this folder") from None
                self.path.unlink(missing_ok=True)  # left by a run that was killed
        raise BenchError(f"{self.path}: cannot take the run lock")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _pid_alive(lock: Path) -> bool:
    try:
        pid = int(lock.read_text().strip())
    except (OSError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- manifest (the stage cache) ---------------------------------------------------------------------
class Manifest:
    """``DIR/manifest.json``: per system the key of its inputs, its status, timings and output files."""

    def __init__(self, path: Path):
        self.path = path
        self.data = {"version": MANIFEST_VERSION, "systems": {}}
        if path.exists():
            try:
                data = json.loads(path.read_text())
                if data.get("version") == MANIFEST_VERSION:
                    self.data = data
            except (OSError, ValueError):
                pass  # unreadable manifest: start afresh (atomic writes make this a hand-edited file)

    def get(self, system: str, key: str) -> dict:
        rec = self.data["systems"].get(system)
        return rec if rec and rec.get("key") == key else {"key": key}

    def put(self, system: str, record: dict) -> None:
        self.data["systems"][system] = record
        write_text_atomic(self.path, json.dumps(self.data, indent=1, sort_keys=True))


# ---- corpus -----------------------------------------------------------------------------------------
def ensure_demo_corpus(seed: int = DEMO_SEED, log: Log = _stderr) -> str:
    """The built-in demo corpus in the cache folder: built on first use (atomically, by the generator),
    reused as it is afterwards, rebuilt only when the generator's version changed."""
    from spoofbench.protocols.demo import make_demo_corpus, read_demo_marker

    root = cache_root() / "demo-corpus"
    marker = read_demo_marker(root)
    if marker is None or marker.get("params", {}).get("seed") != seed:
        log(f"building the demo corpus in {root} (once) ...")
    t0 = time.perf_counter()
    make_demo_corpus(root, seed=seed, jobs=os.cpu_count() or 1, force=True)
    if time.perf_counter() - t0 > 1:
        log(f"demo corpus ready in {time.perf_counter() - t0:.1f} s")
    return str(root)


def load_corpus(root: str, protocol: str | None, *, asv_override: str | None = None, fraction: float | None = None,
                max_trials: int | None = None, subset_seed: int = 0, log: Log = _stderr) -> Corpus:
    """Read the corpus into train/dev/eval tables and hash the protocol files it was read from.
    ``fraction``/``max_trials``: a random subset of each split (seeded), for a first run on a big corpus."""
    from spoofbench.protocols import detect_protocol, get_protocol

    if not os.path.isdir(root):
        raise BenchError(f"{root}: corpus folder not found")
    name = protocol or detect_protocol(root)
    reader = get_protocol(name)
    table, sources = _read_with_sources(reader, root)
    tables = {}
    for split in SPLITS:
        part = table[table["split"] == split]
        if fraction is not None or max_trials is not None:
            part = part.select(fraction=fraction, max_count=max_trials, seed=subset_seed)
        if len(part) == 0:
            raise BenchError(f"{root}: the {name} corpus has no {split!r} trials; bench run needs train, dev "
                             f"and eval (found splits: {', '.join(sorted(set(table['split']))) or 'none'})")
        labels = set(part["label"])
        if split != "train" and labels != {"bonafide", "spoof"}:
            raise BenchError(f"{root}: the {split} split needs both bona fide and spoof trials "
                             f"(found: {', '.join(sorted(labels))})")
        tables[split] = part
    if set(tables["train"]["label"]) != {"bonafide", "spoof"}:
        raise BenchError(f"{root}: the train split needs both bona fide and spoof trials")
    hashes = {}
    for path in sources:
        rel = os.path.relpath(path, root)
        hashes[rel] = file_sha256(path)
    asv_files = {}
    for split in ("dev", "eval"):
        asv_files[split] = _asv_file(root, name, split)
    if asv_override:
        if not os.path.isfile(asv_override):
            raise BenchError(f"{asv_override}: ASV score file not found")
        asv_files["eval"] = os.path.abspath(asv_override)
    for path in asv_files.values():
        if path:
            hashes.setdefault(os.path.relpath(path, root), file_sha256(path))
    corpus = Corpus(root=os.path.abspath(root), protocol=name, tables=tables, sources=hashes, asv_files=asv_files)
    corpus.trials_hash = trials_hash(corpus)
    counts = ", ".join(f"{s} {len(t)}" for s, t in tables.items())
    log(f"corpus {corpus.root} ({name}): {counts} trials")
    return corpus


def _read_with_sources(reader, root: str) -> tuple[TrialTable, list[str]]:
    """Read strictly, but learn which protocol files were read (readers that collect findings list them)."""
    if reader.collects_findings:
        from spoofbench.protocols.parsing import Findings

        findings = Findings()
        table = reader.read(root, keys=None, findings=findings)
        if findings.errors:
            raise findings.errors[0]
        return table, [p for p in dict.fromkeys(findings.sources) if os.path.isfile(p)]
    return reader.read(root, keys=None), []


def _asv_file(root: str, protocol: str, split: str) -> str | None:
    from spoofbench.protocols.registry import asv_score_file

    path = asv_score_file(root, split, protocol)
    return os.path.abspath(path) if path else None


def trials_hash(corpus: Corpus) -> str:
    """Hash of what the detectors see: every trial's id, label, attack, split and audio path (relative to the
    corpus root, so a moved corpus keeps its cache), plus the protocol files' own hashes."""
    h = hashlib.sha256()
    for split in SPLITS:
        t = corpus.tables[split]
        for cols in zip(t["utt_id"], t["label"], t["attack"], t["split"], t["path"]):
            rel = os.path.relpath(cols[4], corpus.root) if os.path.isabs(cols[4]) else cols[4]
            h.update("\t".join((*cols[:4], rel)).encode())
            h.update(b"\n")
    h.update(json.dumps(corpus.sources, sort_keys=True).encode())
    return h.hexdigest()


# ---- bad-audio pre-scan ---------------------------------------------------------------------------------
def scan_audio(corpus: Corpus, on_bad_audio: str, *, log: Log = _stderr) -> None:
    """Decode every audio file once (cached by path, size and mtime) and find the ones no detector can use:
    missing, empty, undecodable, NaN/Inf samples, a rate the format forbids. ``fail``: stop before any
    training with the list; ``skip``: leave their trials out of every split (the report lists them)."""
    from spoofbench.protocols import get_protocol

    if on_bad_audio not in ("skip", "fail"):
        raise ConfigError(f"--on-bad-audio must be skip or fail, got {on_bad_audio!r}")
    expected_rate = getattr(get_protocol(corpus.protocol), "sample_rate", None)
    paths = sorted({p for t in corpus.tables.values() for p in t["path"]})
    cache_file = cache_root() / "audio-scan" / f"{hashlib.sha256(corpus.root.encode()).hexdigest()[:16]}.json"
    cache = _read_json(cache_file)
    results: dict[str, dict] = {}
    todo = []
    for path in paths:
        stamp = _file_stamp(path)
        hit = cache.get(path)
        if hit is not None and stamp is not None and hit.get("stamp") == stamp and hit.get("rate") == expected_rate:
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
            write_text_atomic(cache_file, json.dumps({p: r for p, r in results.items() if r.get("stamp")}))
        except OSError:
            pass  # the cache is an optimisation; a read-only cache folder must not stop a run
    bad = [(p, results[p]["problem"]) for p in paths if results[p].get("problem")]
    for split, table in corpus.tables.items():
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

    stamp = _file_stamp(path)
    result = check_audio_file(path, expected_rate, decode=True)
    record = {"stamp": stamp, "rate": expected_rate, "seconds": float(result.duration or 0.0)}
    if result.problem:
        # libsndfile repeats the path inside its message; the report names each file once
        record["problem"] = re.sub(r"Error opening '.*?': ", "", result.problem).replace(path, "the file")
    return record


def _file_stamp(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


# ---- detectors --------------------------------------------------------------------------------------
def plan_systems(specs: list[str], seeds: list[int | None], req: RunRequest, corpus: Corpus,
                 out: Path) -> list[SystemRun]:
    """One run per (detector, seed); a detector without a ``seed`` hyperparameter runs once for all seeds."""
    runs = []
    for spec in specs:
        name, _ = split_spec(spec)
        factory = get_entry(name).factory
        names = factory.param_names() if hasattr(factory, "param_names") else []
        seedable = "seed" in names
        for seed in (seeds if seedable else [None]):
            runtime = {}
            if req.device is not None:
                runtime["device"] = req.device
            if seed is not None:
                runtime["seed"] = seed
            resolved_spec, params = req.config.resolve(spec, runtime)
            # The key holds every hyperparameter, defaults included, so a changed default retrains.
            try:
                full = create_detector(resolved_spec, **params).get_params()
            except BenchError:
                raise
            except Exception:  # a constructor that crashes fails in run_system, where it is reported
                full = params
            system = spec if len(seeds) == 1 or not seedable or seed is None else f"{spec}.seed{seed}"
            key = hash_json({"spec": resolved_spec, "params": {k: v for k, v in full.items()
                                                                if k not in NON_RESULT_PARAMS},
                             "trials": corpus.trials_hash, "skipped": corpus.skipped})
            if "cache_dir" in names and "cache_dir" not in params:
                params["cache_dir"] = str(cache_root() / "features")
            if "checkpoint_dir" in names and params.get("checkpoint_dir") in (None, ""):
                params["checkpoint_dir"] = str(out / "work" / f"{system}-{key[:10]}")
            runs.append(SystemRun(system, resolved_spec, params, seed if seedable else None, key))
    return runs


def run_system(run: SystemRun, corpus: Corpus, out: Path, manifest: Manifest, *, log: Log = _stderr) -> None:
    """Fit (or load the fitted model), score dev and eval, each step recorded in the manifest as it ends."""
    rec = manifest.get(run.system, run.key)
    model_path = out / "models" / f"{run.system}.det"
    score_paths = {split: out / "scores" / f"{run.system}.{split}.txt" for split in ("dev", "eval")}
    if all(_file_ok(score_paths[s], rec.get("scores", {}).get(s)) for s in score_paths):
        if rec.get("status") != "done":  # killed between the last score file and the final record
            rec["status"] = "done"
            manifest.put(run.system, rec)
        run.status, run.cached = "done", True
        run.timings, run.n_parameters = rec.get("timings", {}), rec.get("n_parameters")
        run.score_files = {s: str(p) for s, p in score_paths.items()}
        log(f"  cached: {run.system} (inputs unchanged)")
        return
    rec.pop("error", None)
    rec.update(status="running", spec=run.spec, params=jsonable(run.params), seed=run.seed)
    rec.setdefault("timings", {})
    rec.setdefault("scores", {})
    try:
        detector = None
        if rec.get("fitted") and _file_ok(model_path, rec.get("model")):
            detector = Detector.load(model_path)
            log(f"  loaded the fitted model {model_path}")
        if detector is None:
            detector = create_detector(run.spec, **run.params)
            t0 = time.perf_counter()
            detector.fit(corpus.tables["train"], corpus.tables["dev"])
            rec["timings"]["fit_s"] = time.perf_counter() - t0
            log(f"  fitted in {rec['timings']['fit_s']:.1f} s")
            rec["model"] = _save_model(detector, model_path, log)
            rec["fitted"] = rec["model"] is not None
            rec["n_parameters"] = _count_parameters(detector)
            manifest.put(run.system, rec)
        rec.setdefault("n_parameters", _count_parameters(detector))
        for split, path in score_paths.items():
            if _file_ok(path, rec["scores"].get(split)):
                continue
            table = corpus.tables[split]
            t0 = time.perf_counter()
            scores = np.asarray(detector.score(table), dtype=np.float64)
            elapsed = time.perf_counter() - t0
            _check_scores(scores, table, run.system, split)
            rec["timings"][f"score_{split}_s"] = elapsed
            if corpus.durations.get(split):
                rec["timings"][f"rtf_{split}"] = elapsed / corpus.durations[split]
            rec["scores"][split] = write_scores(path, table, scores)
            manifest.put(run.system, rec)
            log(f"  scored {split} ({len(table)} trials) in {elapsed:.1f} s -> {path}")
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a detector's bug must not stop the others
        if isinstance(exc, OSError) and exc.errno in FATAL_ERRNOS:
            raise
        run.status, run.error = "failed", f"{type(exc).__name__}: {exc}".strip()
        tb_path = out / "logs" / f"{run.system}.traceback.txt"
        write_text_atomic(tb_path, traceback.format_exc())
        rec.update(status="failed", error=run.error)
        manifest.put(run.system, rec)
        log(f"  FAILED: {run.system}: {run.error.splitlines()[0] if run.error else ''} (traceback: {tb_path})")
        return
    rec["status"] = "done"
    manifest.put(run.system, rec)
    run.status, run.timings, run.n_parameters = "done", rec["timings"], rec.get("n_parameters")
    run.score_files = {s: str(p) for s, p in score_paths.items()}


def _save_model(detector, path: Path, log: Log) -> dict | None:
    try:
        detector.save(path)
    except NotImplementedError:
        log(f"  note: {detector.name} cannot be saved (no get_state); it will be refitted if scoring is interrupted")
        return None
    return _file_record(path)


def _count_parameters(detector) -> int | None:
    try:
        return int(detector.n_parameters())
    except Exception:  # a plugin without get_state: the count is informative only
        return None


def _check_scores(scores: np.ndarray, table: TrialTable, system: str, split: str) -> None:
    if scores.shape != (len(table),):
        raise BenchError(f"{system} returned {scores.shape} scores for {len(table)} {split} trials")
    bad = ~np.isfinite(scores)
    if bad.any():
        first = table["utt_id"][np.flatnonzero(bad)[0]]
        raise BenchError(f"{system} gave {int(bad.sum())} NaN/Inf scores on {split} (first: {first})")


# ---- score files ------------------------------------------------------------------------------------
def write_scores(path: Path, table: TrialTable, scores: np.ndarray) -> dict:
    """Write a 2019-format CM score file (atomically, by the score-file module); return its manifest record."""
    from .scorefiles import write_cm_scores

    write_cm_scores(path, table, scores)
    return _file_record(path)


def read_aligned_scores(path: str, table: TrialTable) -> np.ndarray:
    """Scores of ``table``'s trials, in its order, read back from a score file (so a resumed run computes
    its numbers from exactly the same values as an uninterrupted one; the files keep full precision)."""
    from .scorefiles import align_scores, read_scores

    return align_scores(table, read_scores(path), path, check_polarity=False)


def collect_scores(runs: list[SystemRun], corpus: Corpus, out: Path, seeds: list[int | None]):
    """Per seed: system name (without the seed suffix) -> scores, for dev and eval, read from the files."""
    dev: dict[int | None, dict[str, np.ndarray]] = {s: {} for s in seeds}
    evl: dict[int | None, dict[str, np.ndarray]] = {s: {} for s in seeds}
    for run in runs:
        if not run.ok:
            continue
        d = read_aligned_scores(run.score_files["dev"], corpus.tables["dev"])
        e = read_aligned_scores(run.score_files["eval"], corpus.tables["eval"])
        for seed in seeds:
            if run.seed is None or run.seed == seed:
                dev[seed][run.label] = d
                evl[seed][run.label] = e
    return dev, evl


def _base_system(system: str) -> str:
    return re.sub(r"\.seed-?\d+$", "", system)


# ---- fusion -----------------------------------------------------------------------------------------
def run_fusions(methods: list[str], runs: list[SystemRun], corpus: Corpus, seeds: list[int | None],
                dev_scores, eval_scores, out: Path, *, log: Log = _stderr) -> list[FusionRun]:
    """Fit each fusion on dev scores and apply it to eval, per seed. Failed detectors are left out and
    named; fusion needs at least two finished systems (calibration needs one)."""
    if not methods:
        return []
    failed = {r.label: r.error or r.status for r in runs if not r.ok}
    dev_y = corpus.tables["dev"].y
    results = []
    for seed in seeds:
        suffix = "" if len(seeds) == 1 else f".seed{seed}"
        available = dev_scores[seed]
        jobs = []
        for method in methods:
            if method == "calibrate":
                jobs += [(f"{s}+cal", "logreg", [s]) for s in available]
            else:
                jobs.append((f"fused-{method}", method, list(available)))
        for name, method, members in jobs:
            left_out = {s: f"failed ({err})" for s, err in failed.items()} if not name.endswith("+cal") else {}
            fr = FusionRun(name + suffix, method, seed, members, left_out)
            results.append(fr)
            need = 1 if name.endswith("+cal") else 2
            if len(members) < need:
                fr.status, fr.error = "skipped", (f"needs {need} finished systems, has {len(members)}"
                                                   + (f"; left out: {', '.join(left_out)}" if left_out else ""))
                log(f"fusion {fr.system}: not done, {fr.error}")
                continue
            if left_out:
                log(f"fusion {fr.system}: fuses {', '.join(members)}; LEFT OUT: "
                    + "; ".join(f"{s}: {why}" for s, why in left_out.items()))
            try:
                fused = fuse(method, {m: dev_scores[seed][m] for m in members}, dev_y,
                             {m: eval_scores[seed][m] for m in members}, name=name, seed=seed or 0)
            except FusionError as exc:
                fr.status, fr.error = "failed", str(exc)
                log(f"fusion {fr.system}: failed: {exc}")
                continue
            fr.parameters = fused.parameters
            path = out / "scores" / f"{fr.system}.eval.txt"
            if not _same_scores(path, corpus.tables["eval"], fused.scores):  # a re-run rewrites nothing
                write_scores(path, corpus.tables["eval"], fused.scores)
            fr.score_file = str(path)
            # Read back, as for the detectors: the report's numbers come from the files.
            eval_scores[seed][name] = read_aligned_scores(str(path), corpus.tables["eval"])
    return results


def _same_scores(path: Path, table: TrialTable, scores: np.ndarray) -> bool:
    if not path.is_file():
        return False
    try:
        return bool(np.array_equal(read_aligned_scores(str(path), table), scores))
    except BenchError:
        return False


# ---- small utilities ------------------------------------------------------------------------------
def hash_json(obj) -> str:
    return hashlib.sha256(json.dumps(jsonable(obj), sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file_record(path: Path) -> dict:
    return {"sha256": file_sha256(path), "size": path.stat().st_size}


def _file_ok(path: Path, record: dict | None) -> bool:
    """The file exists and is the one the manifest recorded (not a leftover of another run)."""
    if not record or not path.is_file():
        return False
    return path.stat().st_size == record.get("size") and file_sha256(path) == record.get("sha256")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def environment() -> dict:
    """Package versions and machine facts for the provenance record."""
    from importlib.metadata import PackageNotFoundError, version

    pkgs = {}
    for name in ("spoofbench", "numpy", "scipy", "torch", "scikit-learn", "xgboost", "librosa", "soundfile",
                 "soxr", "matplotlib", "tabulate", "click"):
        try:
            pkgs[name] = version(name)
        except PackageNotFoundError:
            pkgs[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "packages": pkgs}


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
