"""The models a service holds: a detector loaded from a ``.det`` file (or a pre-trained preset), its decision
policy (calibrated LLR, thresholds, review band; ``spoofbench.deploy.decisions``), its scorer, batcher and
drift monitor."""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from spoofbench.deploy.decisions import DecisionPolicy
from spoofbench.detectors.base import Detector
from spoofbench.protocols import quality
from spoofbench.protocols.errors import ConfigError
from spoofbench.protocols.files import file_sha256

from .batching import MicroBatcher
from .drift import DriftMonitor
from .scoring import combine, make_scorer

_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,64}")


@dataclass
class ServedModel:
    name: str
    detector: Detector
    version: str                     # sha256 prefix of the model file (or of the shipped weights)
    source: str                      # the file or preset it came from
    policy: DecisionPolicy | None
    scorer: object
    batcher: MicroBatcher
    drift: DriftMonitor | None
    min_samples: int = 0
    info: dict = field(default_factory=dict)

    @property
    def sample_rate(self) -> int:
        return int(self.detector.sample_rate)

    async def score_wave(self, wave: np.ndarray, *, per_window: bool = True, announced: bool = False,
                         track: bool = True):
        """``(score, per-window scores or None, window spans or None)`` of a mono wave at the model's rate.
        ``track``: count it in the drift statistics (not the overlapping windows of a stream)."""
        plan = self.scorer.plan(wave, per_window)
        results = []
        for i, (payload, size) in enumerate(zip(plan.payloads, plan.sizes)):
            results.append(await self.batcher.submit(payload, size, announced=announced and i == 0))
        score, windows = combine(plan, results)
        if track and self.drift is not None:
            self.drift.add(score)
        return score, windows, plan.windows

    def decide(self, score: float) -> tuple[float | None, str | None]:
        """``(calibrated LLR, decision)``; both None for a model saved without a decision policy."""
        if self.policy is None:
            return None, None
        return float(self.policy.llr([score])[0]), str(self.policy.decide([score])[0])

    def describe(self) -> dict:
        out = {"name": self.name, "version": self.version, "detector": self.detector.name, "source": self.source,
               "sample_rate": self.sample_rate, "calibrated": self.policy is not None, **self.info}
        if self.policy is not None:
            p = self.policy
            out["decision"] = {"mode": p.default_mode, "review_band": [_finite(p.review_low), _finite(p.review_high)],
                               "eer_threshold": _finite(p.eer_threshold), "target_error": p.target_error,
                               "dev_eer": _finite(p.dev_eer)}
        return out


def parse_model_option(text: str) -> tuple[str, str]:
    """``NAME=FILE_OR_PRESET`` or ``FILE_OR_PRESET`` -> (name, spec); a file's name defaults to its stem."""
    name, sep, spec = text.partition("=")
    if not sep:
        spec = text
        name = os.path.splitext(os.path.basename(text))[0] if text.endswith(".det") else text
    if not _NAME.fullmatch(name):
        raise ConfigError(f"--model {text}: model name {name!r} is not allowed; use letters, digits and _.+-")
    return name, spec


def load_model(name: str, spec: str, *, device: str | None = None, threads: int | None = None, max_batch: int = 32,
               max_wait: float = 0.005, on_batch=None) -> ServedModel:
    """Load ``spec`` (a ``.det`` file or a pre-trained preset, as ``bench export`` takes them) for serving;
    nothing starts yet. ``device`` and ``threads`` are the detector's runtime parameters, where it has them."""
    from spoofbench.deploy.models import load_model as load_deployable

    loaded = load_deployable(spec)
    det = loaded.detector
    params = det.get_params()
    runtime = {k: v for k, v in (("device", device), ("threads", threads), ("progress", False))
               if v is not None and k in params}
    if runtime:
        det.set_params(**runtime)
    if loaded.file_bytes is not None:
        version, source = file_sha256(spec)[:12], os.path.abspath(spec)
    else:
        version, source = str((det.pretrained_info() or {}).get("sha256", ""))[:12] or spec, spec
    policy = loaded.policy
    drift = None
    if policy is not None and len(policy.dev_quantiles) == 101:  # dev deciles: the bins of the drift statistics
        drift = DriftMonitor([policy.dev_quantiles[i] for i in range(10, 100, 10)])
    scorer = make_scorer(det, max_batch)
    batcher = MicroBatcher(scorer.run_batch, max_batch=max_batch, max_wait=max_wait, name=name,
                           on_batch=None if on_batch is None else (lambda u, r, s: on_batch(name, u, r, s)),
                           thread_init=_thread_init(scorer.threads))
    info = {"params": {k: v for k, v in det.get_params().items()
                       if k in ("n_samples", "score_mode", "window_hop", "fast_inference")}, **loaded.description}
    return ServedModel(name, det, version, source, policy, scorer, batcher, drift, quality.min_samples_of(det), info)


def _thread_init(threads: int | None):
    def init():
        if threads:
            torch.set_num_threads(int(threads))
    return init


def _finite(x: float) -> float | str | None:
    if x is None or np.isnan(x):
        return None
    return float(x) if np.isfinite(x) else ("inf" if x > 0 else "-inf")


def now_ms() -> float:
    return time.perf_counter() * 1000.0
