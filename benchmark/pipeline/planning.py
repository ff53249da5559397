"""Planning: which (detector, seed) runs a request makes, with their full hyperparameters and stage keys."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spoofbench.detectors import Detector, create_detector
from spoofbench.detectors.feature_cache import default_cache_dir
from spoofbench.detectors.registry import get_entry, split_spec
from spoofbench.protocols.errors import BenchError, ConfigError

from ..provenance import hash_json
from .audio_scan import audio_hash
from .corpus import Corpus, corpus_name, trials_hash
from .request import RunRequest, SystemSpec
from .saved_models import SavedModel, read_saved_model
from .systems import SystemRun

#: For factories that are not Detector subclasses (they declare no ``runtime_params``): the usual names of
#: hyperparameters that say where files go or how fast work runs, never what the numbers are.
FALLBACK_RUNTIME_PARAMS = frozenset({"cache_dir", "checkpoint_dir", "keep_checkpoints", "cache_audio", "n_jobs",
                                     "num_workers", "verbose", "progress"})


def result_params(factory, params: dict) -> dict:
    """The hyperparameters that go into a stage key: those that can change the scores, as the detector
    declares them (``Detector.runtime_params`` are left out, so moving a cache does not retrain anything)."""
    if isinstance(factory, type) and issubclass(factory, Detector):
        keep = set(factory.result_param_names())
        return {k: v for k, v in params.items() if k in keep}
    return {k: v for k, v in params.items() if k not in FALLBACK_RUNTIME_PARAMS}


@dataclass
class PlannedSystem:
    """A (detector, seed) of the request with its hyperparameters, resolved and checked before any work."""

    system: str
    spec: str                        # the spec to build (the config's preset applied); a saved model's detector
    params: dict                     # what the user set (passed to the constructor; runtime only for a saved model)
    full_params: dict                # every hyperparameter, defaults included (for the stage key)
    seed: int | None
    param_names: list[str]
    factory: object
    needs_training: bool = True      # False: pre-trained weights used as they are, or a saved model
    pretrained: dict | None = None   # Detector.pretrained_info(): shipped weights, their sha256, fine-tuning
    model_file: SavedModel | None = None


def resolve_systems(systems: list, seeds: list[int | None], req: RunRequest) -> list[PlannedSystem]:
    """One system per (detector, seed); a detector without a ``seed`` hyperparameter runs once for all seeds,
    a saved model once. Each is built and its ``validate_params()`` called, so an out-of-range value stops the
    run (one line, naming the system) before the corpus is loaded. ``systems``: the run's ``SystemSpec``
    entries (or plain registry specs)."""
    planned = []
    for item in systems:
        entry = SystemSpec(item, spec=item) if isinstance(item, str) else item
        if entry.model_file is not None:
            planned.append(_plan_saved_model(entry, req))
            continue
        spec = entry.spec
        name, _ = split_spec(spec)
        factory = get_entry(name).factory
        names = factory.param_names() if hasattr(factory, "param_names") else []
        seedable = "seed" in names
        base = entry.system if entry.alias else spec
        for seed in (seeds if seedable else [None]):
            runtime = {}
            if req.device is not None:
                runtime["device"] = req.device
            if seed is not None:
                runtime["seed"] = seed
            resolved_spec, params = req.config.resolve(spec, runtime, entry.system if entry.alias else None)
            system = base if len(seeds) == 1 or not seedable or seed is None else f"{base}.seed{seed}"
            try:  # create_detector checks each value's type and range (Detector.check_params)
                detector = create_detector(resolved_spec, **params)
                pretrained = detector.pretrained_info() if hasattr(detector, "pretrained_info") else None
            except ConfigError as exc:
                message = str(exc)
                raise ConfigError(message if message.startswith(name) else f"{system}: {message}") from None
            except BenchError:
                raise
            except Exception:  # a constructor that crashes fails in run_system, where it is reported
                detector, pretrained = None, None
            if pretrained is not None:  # altered or missing shipped weights: one line now, not a failed system later
                from spoofbench.detectors.neural.pretrained import weights_path

                weights_path(pretrained["name"])
            # The key holds every hyperparameter, defaults included, so a changed default retrains.
            full = detector.get_params() if detector is not None else dict(params)
            planned.append(PlannedSystem(system, resolved_spec, params, full, seed if seedable else None, names,
                                         factory, bool(getattr(detector, "needs_training", True)), pretrained))
    return planned


def _plan_saved_model(entry: SystemSpec, req: RunRequest) -> PlannedSystem:
    """A ``.det`` file scored as it is: loaded once now (checksum, settings, state), so a damaged file stops the
    run in one line before any work. Only its runtime parameters may be set (``--device``, ``--set NAME.PARAM``)."""
    saved = read_saved_model(entry.model_file)
    factory = get_entry(saved.detector).factory
    runtime_names = getattr(factory, "runtime_params", frozenset())
    params = {}
    if req.device is not None and "device" in runtime_names:
        params["device"] = req.device
    for key, value in req.config.cli_params.get(entry.system, {}).items():
        if key not in runtime_names:
            raise ConfigError(f"--set {entry.system}.{key}: {entry.system} is a saved model, its settings are "
                              f"those it was trained with; only runtime parameters can be set "
                              f"({', '.join(sorted(runtime_names)) or 'none'})")
        params[key] = value
    detector = load_saved_model(saved, params)
    names = factory.param_names() if hasattr(factory, "param_names") else []
    return PlannedSystem(entry.system, saved.spec, params, dict(params), None, names, factory,
                         needs_training=False, pretrained=detector.pretrained_info(), model_file=saved)


def load_saved_model(saved: SavedModel, runtime: dict) -> Detector:
    """The detector of a saved model file, every failure one line naming the file."""
    try:
        return Detector.load(saved.path, **runtime)
    except BenchError as exc:  # Detector.load names the file in most of its errors, not in all
        if str(exc).startswith(saved.path):
            raise
        raise BenchError(f"{saved.path}: {exc}") from None


def training_origin(p: PlannedSystem, train_corpus: Corpus) -> dict:
    """Where a system's model comes from, for the report and run.json: trained by this run (on which corpus),
    pre-trained (shipped weights, maybe fine-tuned here) or a saved model file."""
    corpus = {"corpus": train_corpus.root, "corpus_name": corpus_name(train_corpus.root)}
    if p.model_file is not None:
        m = p.model_file
        return {"kind": "saved", "file": m.path, "sha256": m.sha256, "detector": m.detector, "spec": m.spec,
                "trained_on": m.trained_on}
    if p.pretrained is not None:
        epochs = int(p.pretrained.get("finetune_epochs") or 0)
        base = {"trained_on": p.pretrained.get("trained_on"), "weights": p.pretrained.get("name"),
                "sha256": p.pretrained.get("sha256")}
        if epochs:
            return {"kind": "finetuned", **base, "finetune_epochs": epochs, **corpus}
        return {"kind": "pretrained", **base}
    return {"kind": "trained", **corpus}


def plan_systems(planned: list[PlannedSystem], corpus: Corpus, out: Path,
                 train_corpus: Corpus | None = None) -> list[SystemRun]:
    """The runs of the planned systems: each with its stage key and working folders. ``corpus`` is scored
    (dev, eval); ``train_corpus`` (default: the same) trains and selects the systems that need training."""
    train_corpus = train_corpus or corpus
    cross = train_corpus is not corpus
    runs = []
    scored = {"dev": audio_hash(corpus, ("dev",)), "eval": audio_hash(corpus, ("eval",))}
    for p in planned:
        trains = p.needs_training and p.model_file is None
        ident = {"spec": p.spec, "params": result_params(p.factory, p.full_params),
                 "trials": corpus.trials_hash, "skipped": corpus.skipped}
        if not trains:  # it sees dev and eval only (the trials left out as bad audio are gone from them):
            # adding a system that trains, or changing train, must not score it again
            ident["trials"], ident["skipped"] = trials_hash(corpus, ("dev", "eval")), []
        if cross and trains:
            ident["train_trials"], ident["train_skipped"] = train_corpus.trials_hash, train_corpus.skipped
        if p.model_file is not None:  # another file under the same name is another model
            ident["model_sha256"] = p.model_file.sha256
        elif p.pretrained is not None:  # new weights shipped under the same name are another model
            ident["weights_sha256"] = p.pretrained.get("sha256")
        key = hash_json(ident)
        if not trains:  # nothing is fitted on this run's audio: dev and eval are only scored
            audio = {"fit": "", **scored}
        elif cross:
            audio = {"fit": audio_hash(train_corpus, ("train", "dev")), **scored}
        else:  # dev selects the model, so changed dev audio refits (as it always has)
            audio = {"fit": audio_hash(corpus, ("train", "dev")), "eval": scored["eval"]}
        params = dict(p.params)
        if "cache_dir" in p.param_names and "cache_dir" not in params:
            params["cache_dir"] = str(default_cache_dir())  # $BENCH_CACHE_DIR, as bench cache and the detectors
        if trains and "checkpoint_dir" in p.param_names and params.get("checkpoint_dir") in (None, ""):
            # training checkpoints belong to one training set: changed audio must not resume from them
            params["checkpoint_dir"] = str(out / "work" / f"{p.system}-{hash_json([key, audio['fit']])[:10]}")
        runs.append(SystemRun(p.system, p.spec, params, p.seed, key, audio=audio, trains=trains,
                              pretrained=p.pretrained, origin=training_origin(p, train_corpus if trains else corpus),
                              model_file=p.model_file.path if p.model_file else None))
    return runs
