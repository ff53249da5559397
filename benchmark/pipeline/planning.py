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
from .corpus import Corpus
from .request import RunRequest
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
    spec: str                        # the spec to build (the config's preset applied)
    params: dict                     # what the user set (passed to the constructor)
    full_params: dict                # every hyperparameter, defaults included (for the stage key)
    seed: int | None
    param_names: list[str]
    factory: object


def resolve_systems(specs: list[str], seeds: list[int | None], req: RunRequest) -> list[PlannedSystem]:
    """One system per (detector, seed); a detector without a ``seed`` hyperparameter runs once for all seeds.
    Each is built and its ``validate_params()`` called, so an out-of-range value stops the run (one line,
    naming the system) before the corpus is loaded."""
    planned = []
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
            system = spec if len(seeds) == 1 or not seedable or seed is None else f"{spec}.seed{seed}"
            try:  # create_detector checks each value's type and range (Detector.check_params)
                detector = create_detector(resolved_spec, **params)
            except ConfigError as exc:
                message = str(exc)
                raise ConfigError(message if message.startswith(name) else f"{system}: {message}") from None
            except BenchError:
                raise
            except Exception:  # a constructor that crashes fails in run_system, where it is reported
                detector = None
            # The key holds every hyperparameter, defaults included, so a changed default retrains.
            full = detector.get_params() if detector is not None else dict(params)
            planned.append(PlannedSystem(system, resolved_spec, params, full, seed if seedable else None, names,
                                         factory))
    return planned


def plan_systems(planned: list[PlannedSystem], corpus: Corpus, out: Path) -> list[SystemRun]:
    """The runs of the planned systems on this corpus: each with its stage key and working folders."""
    runs = []
    audio = {"fit": audio_hash(corpus, ("train", "dev")), "eval": audio_hash(corpus, ("eval",))}
    for p in planned:
        key = hash_json({"spec": p.spec, "params": result_params(p.factory, p.full_params),
                         "trials": corpus.trials_hash, "skipped": corpus.skipped})
        params = dict(p.params)
        if "cache_dir" in p.param_names and "cache_dir" not in params:
            params["cache_dir"] = str(default_cache_dir())  # $BENCH_CACHE_DIR, as bench cache and the detectors
        if "checkpoint_dir" in p.param_names and params.get("checkpoint_dir") in (None, ""):
            # training checkpoints belong to one training set: changed audio must not resume from them
            params["checkpoint_dir"] = str(out / "work" / f"{p.system}-{hash_json([key, audio['fit']])[:10]}")
        runs.append(SystemRun(p.system, p.spec, params, p.seed, key, audio=audio))
    return runs
