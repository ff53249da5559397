"""The degradation stage: after ``bench run`` has fitted (or loaded) every system and scored clean dev and
eval, each condition is applied to the eval audio once (cached), every fitted model scores it, the fusions
fitted on clean dev are applied to those scores, and the metrics are computed per system x condition. With
``degrade_dev`` the dev audio goes through each condition as well (white-box attacks excepted), for dev metrics
per condition and a calibration fitted on the condition's own dev (``act_dcf_matched``).

Scores are written to ``DIR/robustness/scores/<system>/<condition>.{eval,dev}.txt`` and recorded in
``DIR/robustness/manifest.json`` under a key of their inputs (condition, model file digest, trial list and
degraded-audio entries), so a rerun scores nothing twice.
"""
from __future__ import annotations

import hashlib
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spoofbench.detectors import Detector
from spoofbench.protocols.errors import BenchError
from spoofbench.protocols.files import file_sha256, write_text_atomic
from spoofbench.protocols.trials import TrialTable

from ..fusion import FusionError, fuse
from ..pipeline.log import Log, log_to_stderr
from ..pipeline.scores import read_aligned_scores, write_scores
from ..pipeline.workspace import Manifest, file_matches
from ..provenance import hash_json
from .attacks import AttackTransform, is_differentiable
from .conditions import Condition
from .degraded_audio import AudioDigests, DegradedTable, default_cache_dir, degrade_table
from .results import RobustnessResult, SystemScores, evaluate_condition

#: Seed of the transforms' per-utterance randomness (the same degraded audio for every run and system).
CONDITION_SEED = 0


@dataclass
class StageOptions:
    cache_dir: Path | None = None
    n_bootstrap: int = 0
    progress: bool = True
    degrade_dev: bool = False     # also degrade dev: dev metrics and matched-condition calibration


@dataclass
class _System:
    name: str                 # row in the tables (with a .seedN suffix when the run has several seeds)
    label: str                # name in outcome.scores[seed]
    seed: int | None
    model_path: str | None
    detector: Detector | None = None
    digest: str = ""
    clean_dev: np.ndarray | None = None
    clean_eval: np.ndarray | None = None
    error: str | None = None


@dataclass
class _Fusion:
    name: str
    method: str
    seed: int | None
    members: list[str] = field(default_factory=list)   # labels (outcome.scores keys)


def condition_slug(spec: str) -> str:
    """A file name for a condition: readable, with a short hash so two specs never share one."""
    readable = re.sub(r"[^A-Za-z0-9.=@+-]+", "_", spec)[:60]
    return f"{readable}-{hashlib.sha256(spec.encode()).hexdigest()[:8]}"


def run_conditions(outcome, conditions: list[Condition], options: StageOptions, *,
                   log: Log = log_to_stderr) -> RobustnessResult:
    """Every system and fusion of ``outcome`` (a finished ``RunOutcome``) under every condition."""
    out: Path = outcome.out
    corpus = outcome.corpus
    eval_table, dev_table = corpus.tables["eval"], corpus.tables["dev"]
    cache_dir = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
    manifest = Manifest(out / "robustness" / "manifest.json", log=log)
    digests = AudioDigests(getattr(corpus, "audio_sha256", {}))
    systems = _systems(outcome, log)
    fusions = _fusions(outcome)
    by_label = {(s.seed, s.label): s for s in systems}
    result = RobustnessResult(conditions=conditions, systems=[s.name for s in systems] + [f.name for f in fusions],
                              cache_dir=str(cache_dir), n_bootstrap=options.n_bootstrap,
                              degrade_dev=options.degrade_dev)
    for s in systems:
        if s.error:
            result.system_errors[s.name] = s.error
    dev_y = dev_table.y

    for ci, cond in enumerate(conditions, 1):
        t0 = time.perf_counter()
        log(f"[condition {ci}/{len(conditions)}] {cond.spec}" + (f" ({cond.label})" if cond.label else ""))
        try:
            shared = _shared_audio(cond, eval_table, systems, cache_dir, digests, options, log)
        except Exception as exc:  # a transform's own bug: this condition fails, the others go on
            result.fail_condition(cond.spec, _error_text(exc), _traceback_file(out, cond, exc))
            log(f"  FAILED: {cond.spec}: {_error_text(exc)}")
            continue
        if shared is not None:
            result.note_failed_trials(cond.spec, shared.failed, len(eval_table))
            if shared.failed:
                log(f"  {len(shared.failed)} trial(s) skipped under {cond.spec} (the condition cannot process "
                    f"their audio), first: {shared.failed[0][0]}: {shared.failed[0][1]}")
        scored = _score_systems(cond, systems, eval_table, shared, cache_dir, digests, options, out, manifest,
                                result, log)
        scored.update(_apply_fusions(cond, fusions, by_label, scored, dev_y, result))
        matched = {}
        if options.degrade_dev and cond.kind != "whitebox":
            try:
                matched = _matched_dev(cond, systems, fusions, by_label, dev_table, cache_dir, digests, options,
                                       out, manifest, result, log)
            except Exception as exc:  # the condition's eval numbers stand; its matched-dev ones are missing
                if _stops_the_run(exc):
                    raise
                result.dev_errors[cond.spec] = (f"{_error_text(exc)} (traceback: "
                                                f"{_traceback_file(out, cond, exc, 'dev')})")
                log(f"  FAILED: dev under {cond.spec}: {_error_text(exc)}")
        for name, ss in scored.items():
            src = next((s for s in systems if s.name == name), None)
            dev_scores = src.clean_dev if src is not None else ss.fused_dev
            clean = _clean_scores(name, systems, fusions, by_label, outcome, dev_y)
            try:
                result.cells.setdefault(name, {})[cond.spec] = evaluate_condition(
                    ss, dev_scores, dev_y, clean, eval_table, n_bootstrap=options.n_bootstrap,
                    adversarial=cond.adversarial, matched_dev=matched.get(name))
            except (BenchError, ValueError) as exc:  # e.g. every trial of one class failed the condition
                result.fail_cell(name, cond.spec, _error_text(exc))
        result.seconds[cond.spec] = time.perf_counter() - t0
    result.add_degradation()
    return result


def _score_systems(cond: Condition, systems: list[_System], eval_table: TrialTable, shared: DegradedTable | None,
                   cache_dir: Path, digests: AudioDigests, options: StageOptions, out: Path, manifest: Manifest,
                   result: RobustnessResult, log: Log) -> dict[str, SystemScores]:
    """Each system's eval scores under ``cond``; a system that fails is recorded and the others go on."""
    scored: dict[str, SystemScores] = {}
    for s in systems:
        if s.error:
            continue
        try:
            if cond.kind == "clean":
                scored[s.name] = SystemScores(eval_table, s.clean_eval)
                continue
            if cond.kind == "whitebox":
                if not is_differentiable(_detector(s)):
                    result.not_applicable(s.name, cond.spec, "not differentiable (white-box attacks need a "
                                                             "network of the neural engine)")
                    continue
                attack = AttackTransform(_detector(s), cond.attack)
                degraded = degrade_table(eval_table, cond.spec, attack, cache_dir, digests, salt=s.digest,
                                         only=~eval_table.is_bonafide, progress=options.progress,
                                         desc=f"{cond.spec} vs {s.name}")
                result.note_failed_trials(cond.spec, degraded.failed, len(eval_table))
            else:
                degraded = shared
            scored[s.name] = SystemScores(degraded.table, _score(s, cond, degraded, out, manifest, log))
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            if _stops_the_run(exc):
                raise  # full disk, read-only folder: the run stops with one line
            result.fail_cell(s.name, cond.spec, _error_text(exc), _traceback_file(out, cond, exc, s.name))
            log(f"  FAILED: {s.name} under {cond.spec}: {_error_text(exc)}")
    return scored


def _apply_fusions(cond: Condition, fusions: list[_Fusion], by_label: dict, scored: dict[str, SystemScores],
                   dev_y: np.ndarray, result: RobustnessResult) -> dict[str, SystemScores]:
    """Each fusion, fitted on clean dev, applied to its members' scores under ``cond`` (all members scored the
    same audio; white-box audio differs per member, so no fusion applies there)."""
    fused_scores: dict[str, SystemScores] = {}
    for f in fusions:
        if cond.kind == "whitebox":
            result.not_applicable(f.name, cond.spec, "white-box audio differs per member system")
            continue
        # a detector without a seed hyperparameter ran once and is a member of every seed's fusion
        members = [by_label.get((f.seed, m)) or by_label[(None, m)] for m in f.members]
        missing = [m.name for m in members if m.name not in scored]
        if missing:
            result.not_applicable(f.name, cond.spec, f"member(s) not scored: {', '.join(missing)}")
            continue
        try:
            fused = fuse(f.method, {m.label: m.clean_dev for m in members}, dev_y,
                         {m.label: scored[m.name].scores for m in members}, name=f.name, seed=f.seed or 0)
        except FusionError as exc:
            result.fail_cell(f.name, cond.spec, str(exc))
            continue
        fused_scores[f.name] = SystemScores(scored[members[0].name].table, fused.scores, fused_dev=fused.dev_scores)
    return fused_scores


def _matched_dev(cond: Condition, systems: list[_System], fusions: list[_Fusion], by_label: dict,
                 dev_table: TrialTable, cache_dir: Path, digests: AudioDigests, options: StageOptions, out: Path,
                 manifest: Manifest, result: RobustnessResult, log: Log) -> dict[str, SystemScores]:
    """Each system's and fusion's scores of the dev audio under ``cond`` (clean: the clean dev scores)."""
    shared = _shared_audio(cond, dev_table, systems, cache_dir, digests, options, log, split="dev")
    if shared is not None:
        result.failed_dev_trials[cond.spec] = list(shared.failed)
    scored: dict[str, SystemScores] = {}
    for s in systems:
        if s.error:
            continue
        if shared is None:
            scored[s.name] = SystemScores(dev_table, s.clean_dev)
            continue
        try:
            scored[s.name] = SystemScores(shared.table, _score(s, cond, shared, out, manifest, log, split="dev"))
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            if _stops_the_run(exc):
                raise
            result.dev_errors[f"{s.name} under {cond.spec}"] = _error_text(exc)
            log(f"  FAILED: {s.name} under {cond.spec} (dev): {_error_text(exc)}")
    # fusions as on eval; what they cannot do is already recorded from eval, so a scratch result takes it
    scratch = RobustnessResult(conditions=[], systems=[])
    scored.update(_apply_fusions(cond, fusions, by_label, scored, dev_table.y, scratch))
    return scored


# ---- systems and fusions of the run ------------------------------------------------------------------------
def _systems(outcome, log: Log) -> list[_System]:
    out = []
    for r in outcome.systems:
        if not r.ok:
            continue
        path = r.model_file or str(outcome.out / "models" / f"{r.system}.det")
        s = _System(r.system, r.label, r.seed, path if Path(path).is_file() else None)
        s.clean_dev = outcome.dev_scores[r.seed if r.seed in outcome.dev_scores else outcome.seeds[0]][r.label]
        s.clean_eval = outcome.scores[r.seed if r.seed in outcome.scores else outcome.seeds[0]][r.label]
        if s.model_path is None:
            s.error = "no saved model to score degraded audio with (the detector cannot be saved)"
            log(f"  note: {r.system}: {s.error}")
        else:
            s.digest = file_sha256(s.model_path)
        out.append(s)
    return out


def _fusions(outcome) -> list[_Fusion]:
    return [_Fusion(f.system, f.method, f.seed, list(f.members)) for f in outcome.fusions
            if f.status == "done" and not f.label.endswith("+cal")]


def _detector(s: _System) -> Detector:
    if s.detector is None:
        s.detector = Detector.load(s.model_path)
    return s.detector


def _clean_scores(name, systems, fusions, by_label, outcome, dev_y) -> np.ndarray | None:
    """Clean eval scores of a system or fusion (to measure the attack success on the trials it rejected)."""
    for s in systems:
        if s.name == name:
            return s.clean_eval
    for f in fusions:
        if f.name == name:
            return outcome.scores.get(f.seed, {}).get(f.name.split(".seed")[0])
    return None


# ---- audio and scores --------------------------------------------------------------------------------------
def _shared_audio(cond: Condition, table: TrialTable, systems: list[_System], cache_dir: Path,
                  digests: AudioDigests, options: StageOptions, log: Log, split: str = "eval") -> DegradedTable | None:
    """The degraded audio of ``table`` (eval, or dev) every system scores (None for clean and white-box
    conditions)."""
    label = cond.spec if split == "eval" else f"{cond.spec} ({split})"
    if cond.kind == "transform":
        def apply(wave, rate, utt):
            return cond.transform.apply(wave, rate, seed=CONDITION_SEED, utt_id=utt)

        degraded = degrade_table(table, cond.spec, apply, cache_dir, digests, seed=CONDITION_SEED,
                                 progress=options.progress, desc=label)
    elif cond.kind == "transfer":
        source = next((s for s in systems if s.name == cond.source or s.label == cond.source), None)
        if source is None or source.error:
            raise ValueError(f"{cond.spec}: no system {cond.source!r} in this run to craft the perturbations on "
                             f"(systems: {', '.join(s.name for s in systems)})")
        if not is_differentiable(_detector(source)):
            raise ValueError(f"{cond.spec}: {cond.source} is not differentiable; craft transfer attacks on a "
                             "network (RawNet2, AASIST, LFCC-LCNN)")
        attack = AttackTransform(_detector(source), cond.attack)
        degraded = degrade_table(table, f"adv:{cond.attack.spec}", attack, cache_dir, digests, salt=source.digest,
                                 only=~table.is_bonafide, progress=options.progress, desc=label)
    else:
        return None
    if degraded.created:
        reused = len(table) - degraded.created - len(degraded.failed)
        log(f"  {degraded.created} {split} file(s) degraded into the cache ({reused} reused)")
    return degraded


def _score(s: _System, cond: Condition, degraded: DegradedTable, out: Path, manifest: Manifest, log: Log,
           split: str = "eval"):
    """The system's scores of the degraded trials: from the manifest's score file when its inputs are unchanged,
    else computed and recorded."""
    table = degraded.table
    name = f"{s.name}|{cond.spec}" + ("" if split == "eval" else f"|{split}")
    key = hash_json({"condition": cond.spec, "model": s.digest, "trials": list(table["utt_id"]),
                     "audio": [p.rsplit("/", 1)[-1] for p in table["path"]]})
    rec = manifest.get(name, key)
    path = out / "robustness" / "scores" / s.name / f"{condition_slug(cond.spec)}.{split}.txt"
    if file_matches(path, rec.get("scores")):
        return read_aligned_scores(str(path), table)
    t0 = time.perf_counter()
    scores = np.asarray(_detector(s).score(table), dtype=np.float64)
    if scores.shape != (len(table),) or not np.isfinite(scores).all():
        raise ValueError(f"{s.name} gave {scores.shape} scores (or NaN/Inf) for {len(table)} trials")
    rec["scores"] = write_scores(path, table, scores)
    rec["score_s"] = time.perf_counter() - t0
    manifest.put(name, rec)
    log(f"  {s.name}: scored {len(table)} {'' if split == 'eval' else split + ' '}trials in {rec['score_s']:.1f} s")
    return read_aligned_scores(str(path), table)


def _stops_the_run(exc: BaseException) -> bool:
    """A full disk, a read-only folder: the run stops with one line instead of failing cell after cell."""
    return isinstance(exc, OSError) and exc.errno is not None and bool(exc.filename)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:400]


def _traceback_file(out: Path, cond: Condition, exc: BaseException, system: str = "") -> str:
    path = out / "logs" / f"robustness-{(system + '-') if system else ''}{condition_slug(cond.spec)}.traceback.txt"
    write_text_atomic(path, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return str(path)

