"""Planning: which (detector, seed) runs a request makes, with their full hyperparameters and stage keys."""
from __future__ import annotations

from pathlib import Path

from spoofbench.detectors import Detector, create_detector
from spoofbench.detectors.registry import get_entry, split_spec
from spoofbench.protocols.errors import BenchError

from ..provenance import hash_json
from .corpus import Corpus
from .request import RunRequest
from .systems import SystemRun
from .workspace import cache_root

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
            key = hash_json({"spec": resolved_spec, "params": result_params(factory, full),
                             "trials": corpus.trials_hash, "skipped": corpus.skipped})
            if "cache_dir" in names and "cache_dir" not in params:
                params["cache_dir"] = str(cache_root() / "features")
            if "checkpoint_dir" in names and params.get("checkpoint_dir") in (None, ""):
                params["checkpoint_dir"] = str(out / "work" / f"{system}-{key[:10]}")
            runs.append(SystemRun(system, resolved_spec, params, seed if seedable else None, key))
    return runs
