"""One detector at one seed: fit (or load the fitted model), score dev and eval, each step recorded in the
manifest as it ends. A detector that raises is recorded as failed (error and traceback); the others go on."""
from __future__ import annotations

import errno
import inspect
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spoofbench.detectors import Detector, create_detector
from spoofbench.detectors.base import jsonable
from spoofbench.protocols.errors import BenchError
from spoofbench.protocols.files import write_text_atomic
from spoofbench.protocols.trials import TrialTable

from .corpus import Corpus
from .log import Log, log_to_stderr
from .scores import read_aligned_scores, write_scores
from .workspace import Manifest, file_matches, file_record

#: Environment errors that must stop the run (retrying the next detector cannot succeed).
FATAL_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES}


def base_system_name(system: str) -> str:
    """A system's name without its seed suffix (the row it has in the report)."""
    return re.sub(r"\.seed-?\d+$", "", system)


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
    #: Content hashes of the audio each stage reads: "fit" (train and dev, which selects the model), "eval", and
    #: "dev" where dev is only scored (pre-trained and saved models; training on another corpus).
    audio: dict[str, str] = field(default_factory=dict)
    trains: bool = True              # fitted by this run (False: pre-trained weights or a saved model, scored)
    pretrained: dict | None = None   # Detector.pretrained_info()
    origin: dict = field(default_factory=dict)   # where the model comes from (planning.training_origin)
    model_file: str | None = None    # a saved model scored as it is

    @property
    def ok(self) -> bool:
        return self.status == "done"

    @property
    def label(self) -> str:
        """The system's name without its seed suffix (the row it has in the report)."""
        return base_system_name(self.system)


def run_system(run: SystemRun, corpus: Corpus, out: Path, manifest: Manifest, *, log: Log = log_to_stderr,
               train_corpus: Corpus | None = None) -> None:
    """Fit (or load the fitted model), score dev and eval, each step recorded in the manifest as it ends.
    ``train_corpus`` (default ``corpus``) gives train and dev to ``fit``; ``corpus``'s dev and eval are scored.
    A pre-trained system is not fitted (its weights are loaded, checksum verified), a saved model is loaded."""
    rec = manifest.get(run.system, run.key)
    _forget_stages_of_changed_audio(rec, run.audio, run.system, log)
    model_path = out / "models" / f"{run.system}.det"
    score_paths = {split: out / "scores" / f"{run.system}.{split}.txt" for split in ("dev", "eval")}
    if all(file_matches(score_paths[s], rec.get("scores", {}).get(s)) for s in score_paths):
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
        if run.model_file is not None:
            detector = Detector.load(run.model_file, **run.params)  # checked at planning; scored as it is
            log(f"  loaded the saved model {run.model_file}")
        else:
            detector = _load_fitted(model_path, rec.get("model"), log) if rec.get("fitted") else None
        if detector is None:
            detector = create_detector(run.spec, **run.params)
            t0 = time.perf_counter()
            if run.trains:
                train_corpus = train_corpus or corpus
                detector.fit(train_corpus.tables["train"], train_corpus.tables["dev"])
                rec["timings"]["fit_s"] = time.perf_counter() - t0
                log(f"  fitted in {rec['timings']['fit_s']:.1f} s")
            else:  # pre-trained: no training data is read; the shipped weights load, checksum verified
                detector.check_fitted()
                rec["timings"]["load_s"] = time.perf_counter() - t0
                log(f"  pre-trained ({run.origin.get('trained_on')}): weights {run.origin.get('weights')} loaded, "
                    f"sha256 {str(run.origin.get('sha256'))[:12]}… verified; not trained")
            rec["model"] = _save_model(detector, model_path, log, _provenance(run))
            rec["fitted"] = rec["model"] is not None
            rec["n_parameters"] = _count_parameters(detector)
            manifest.put(run.system, rec)
        rec.setdefault("n_parameters", _count_parameters(detector))
        for split, path in score_paths.items():
            if file_matches(path, rec["scores"].get(split)):
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


def _forget_stages_of_changed_audio(rec: dict, audio: dict[str, str], system: str, log: Log) -> None:
    """Changed train or dev audio: fit and score again; changed eval audio: score eval again. The other
    stages stay as they are."""
    seen = rec.get("audio")
    if seen == audio:
        return
    if seen is not None:
        if seen.get("fit") != audio.get("fit"):
            log(f"  train/dev audio changed since {system} was fitted: fitting again")
        for split in ("dev", "eval"):
            if seen.get("fit") == audio.get("fit") and seen.get(split) != audio.get(split):
                log(f"  {split} audio changed since it was scored: scoring {split} again")
    if (seen or {}).get("fit") != audio.get("fit"):
        rec.pop("fitted", None)
        rec.pop("model", None)
        rec["scores"] = {}
    else:
        for split in ("dev", "eval"):  # "dev" is a key of its own only where dev is scored, not trained on
            if seen.get(split) != audio.get(split):
                rec.get("scores", {}).pop(split, None)
    rec["audio"] = dict(audio)


def _load_fitted(path: Path, record: dict | None, log: Log) -> Detector | None:
    """The model an earlier run fitted and saved, or None when there is none to trust (then it is refitted)."""
    if not path.is_file():
        return None
    if not file_matches(path, record):
        log(f"warning: {path}: not the model file this run saved (damaged or replaced); refitting")
        return None
    try:
        detector = Detector.load(path)
    except BenchError as exc:  # e.g. the file's own checksum does not match
        log(f"warning: {path}: cannot be loaded ({exc}); refitting")
        return None
    log(f"  loaded the fitted model {path}")
    return detector


def _provenance(run: SystemRun) -> dict:
    """What the saved model file tells its later readers (``bench run --detectors FILE.det``, ``bench score``)."""
    o = run.origin
    if o.get("kind") == "trained":  # the folder itself is in "origin"
        trained_on = f"{o.get('corpus_name')} train"
    elif o.get("kind") == "finetuned":
        trained_on = (f"{o.get('trained_on')}, fine-tuned on {o.get('corpus_name')} train for "
                      f"{o.get('finetune_epochs')} epoch{'' if o.get('finetune_epochs') == 1 else 's'}")
    else:
        trained_on = o.get("trained_on")
    return {"system": run.system, "spec": run.spec, "trained_on": trained_on, "origin": o}


def _save_model(detector, path: Path, log: Log, provenance: dict | None = None) -> dict | None:
    try:
        if "provenance" in inspect.signature(detector.save).parameters:
            detector.save(path, provenance=provenance)
        else:  # a plugin's own save, written before provenance existed
            detector.save(path)
    except NotImplementedError:
        log(f"  note: {detector.name} cannot be saved (no get_state); it will be refitted if scoring is interrupted")
        return None
    return file_record(path)


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


def collect_scores(runs: list[SystemRun], corpus: Corpus, seeds: list[int | None]):
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
