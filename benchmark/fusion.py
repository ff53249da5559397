"""Score fusion and calibration, learned on development scores only and applied unchanged to evaluation.

Three fusers, each a small scikit-learn-like object (``fit(dev_scores, dev_y)`` then ``transform(scores)``)
over a score matrix of shape ``(n_trials, n_systems)``; higher = bona fide, as every score in the toolkit.

* ``logreg`` -- prior-weighted linear logistic-regression fusion, as BOSARIS ``train_linear_fuser`` and the
  FoCal toolkit define it: the fused score ``s = w.x + b`` is trained to be a calibrated natural-log
  likelihood ratio (bona fide vs spoof) by minimising the prior-weighted cross-entropy

      P * mean_bonafide log(1 + e^-(s + logit P)) + (1 - P) * mean_spoof log(1 + e^(s + logit P))

  (the two classes are weighted by the prior ``P``, not by their trial counts). The default ``P`` is the
  *effective* bona fide prior of the ASVspoof 5 cost model (P_spoof = 0.05, C_miss = 1, C_fa = 10):
  P = C_miss (1 - P_spoof) / (C_miss (1 - P_spoof) + C_fa P_spoof) = 0.95 / 1.45 = 0.655, so the
  calibration is sharpest at the operating point of actDCF (Bayes threshold -ln 1.9 = -0.642).
  With one input it is the usual affine calibration of a single system (:func:`calibrate`).
* ``xgboost`` -- stacking with gradient-boosted trees (class-balanced, so the margin approximates an LLR
  under equal priors); non-linear and able to overfit a small dev set: read its numbers with that in mind.
* ``mean`` -- the mean of the scores, each standardised with the mean and standard deviation of its dev
  scores (no labels needed; a robust baseline fusion).

Fusion never sees evaluation labels: the fusers are fitted on dev, ``transform`` takes scores only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit

from spoofbench.protocols.errors import BenchError

from .metrics import DCF_C_FA, DCF_C_MISS, DCF_P_SPOOF

#: ASVspoof 5 cost model (the minDCF / actDCF parameters of the official evaluation package).
P_SPOOF, C_MISS, C_FA = DCF_P_SPOOF, DCF_C_MISS, DCF_C_FA
#: Effective bona fide prior of that cost model (= 0.6552): the default training prior of ``logreg``.
EFFECTIVE_BONAFIDE_PRIOR = C_MISS * (1 - P_SPOOF) / (C_MISS * (1 - P_SPOOF) + C_FA * P_SPOOF)

FUSION_METHODS = ("logreg", "xgboost", "mean")


class FusionError(BenchError):
    """Fusion cannot be done as asked (failed or incomplete systems, one-class dev set, ...)."""


class ScoreFuser:
    """Base of the fusers: ``fit`` on dev scores (n_trials, n_systems) with labels 1 = bona fide, then
    ``transform`` any score matrix with the same systems in the same order."""

    method = ""

    def fit(self, scores: np.ndarray, y: np.ndarray) -> ScoreFuser:
        raise NotImplementedError

    def transform(self, scores: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        """What was learned, as plain JSON-able numbers (for the run's provenance)."""
        return {}

    def _check_width(self, scores: np.ndarray) -> np.ndarray:
        scores = _as_matrix(scores)
        if scores.shape[1] != self.n_systems_:
            raise FusionError(f"{self.method} fusion was fitted on {self.n_systems_} systems, got {scores.shape[1]}")
        return scores


class LogisticFusion(ScoreFuser):
    """Prior-weighted logistic-regression fusion / calibration (output: natural-log LLRs).

    ``prior``: bona fide prior the cross-entropy is weighted with (default: ASVspoof 5 effective prior).
    ``l2``: a small ridge on the weights of the standardised inputs; it only matters when the dev scores
    separate the classes perfectly, where the unregularised optimum is at infinity.
    """

    method = "logreg"

    def __init__(self, prior: float = EFFECTIVE_BONAFIDE_PRIOR, l2: float = 1e-4):
        if not 0 < prior < 1:
            raise FusionError(f"logreg fusion prior must be in (0, 1), got {prior}")
        self.prior = prior
        self.l2 = l2

    def fit(self, scores, y) -> LogisticFusion:
        x, y = _check_training_data(scores, y)
        self.n_systems_ = x.shape[1]
        # Standardise for a well-conditioned optimisation; the scaling is folded back into the weights.
        self.center_, self.scale_ = x.mean(axis=0), _safe_std(x)
        z = (x - self.center_) / self.scale_
        bona = y == 1
        weights = np.where(bona, self.prior / bona.sum(), (1 - self.prior) / (~bona).sum())
        sign = np.where(bona, -1.0, 1.0)       # loss = softplus(sign * (s + logit P))
        offset = logit(self.prior)

        def objective(params):
            w, b = params[:-1], params[-1]
            margin = sign * (z @ w + b + offset)
            loss = weights @ np.logaddexp(0.0, margin) + 0.5 * self.l2 * (w @ w)
            dmargin = weights * sign * expit(margin)
            grad = np.append(z.T @ dmargin + self.l2 * w, dmargin.sum())
            return loss, grad

        start = np.append(np.full(self.n_systems_, 1.0 / self.n_systems_), 0.0)
        result = minimize(objective, start, jac=True, method="L-BFGS-B",
                          options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9})
        w_std, b_std = result.x[:-1], result.x[-1]
        self.weights_ = w_std / self.scale_
        self.bias_ = float(b_std - self.weights_ @ self.center_)
        return self

    def transform(self, scores) -> np.ndarray:
        return self._check_width(scores) @ self.weights_ + self.bias_

    def describe(self) -> dict:
        return {"prior": self.prior, "weights": self.weights_.tolist(), "bias": self.bias_}


class XGBoostFusion(ScoreFuser):
    """Stacking with gradient-boosted trees on the dev scores; output = the booster's margin (log-odds)
    with the classes balanced, i.e. an approximate LLR."""

    method = "xgboost"

    def __init__(self, n_estimators: int = 100, max_depth: int = 2, learning_rate: float = 0.1,
                 seed: int = 0, n_jobs: int = 1):
        self.n_estimators, self.max_depth, self.learning_rate = n_estimators, max_depth, learning_rate
        self.seed, self.n_jobs = seed, n_jobs

    def fit(self, scores, y) -> XGBoostFusion:
        from xgboost import XGBClassifier

        x, y = _check_training_data(scores, y)
        self.n_systems_ = x.shape[1]
        bona = y == 1
        weights = np.where(bona, 0.5 / bona.sum(), 0.5 / (~bona).sum()) * len(y)
        self.model_ = XGBClassifier(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                    learning_rate=self.learning_rate, random_state=self.seed,
                                    n_jobs=self.n_jobs, base_score=0.5, tree_method="exact")
        self.model_.fit(x, y, sample_weight=weights)
        return self

    def transform(self, scores) -> np.ndarray:
        x = self._check_width(scores)
        return np.asarray(self.model_.predict(x, output_margin=True), dtype=np.float64)

    def describe(self) -> dict:
        return {"n_estimators": self.n_estimators, "max_depth": self.max_depth,
                "learning_rate": self.learning_rate, "seed": self.seed}


class MeanFusion(ScoreFuser):
    """Mean of the scores standardised with each system's dev mean and standard deviation."""

    method = "mean"

    def fit(self, scores, y=None) -> MeanFusion:
        x = _as_matrix(scores)
        _check_finite(x, "dev")
        self.n_systems_ = x.shape[1]
        self.center_, self.scale_ = x.mean(axis=0), _safe_std(x)
        return self

    def transform(self, scores) -> np.ndarray:
        return ((self._check_width(scores) - self.center_) / self.scale_).mean(axis=1)

    def describe(self) -> dict:
        return {"dev_mean": self.center_.tolist(), "dev_std": self.scale_.tolist()}


def make_fuser(method: str, *, seed: int = 0) -> ScoreFuser:
    if method == "logreg":
        return LogisticFusion()
    if method == "xgboost":
        return XGBoostFusion(seed=seed)
    if method == "mean":
        return MeanFusion()
    raise FusionError(f"unknown fusion method {method!r}; choose from {', '.join(FUSION_METHODS)}")


@dataclass
class FusedSystem:
    """One fused (or calibrated) system: its eval scores and what went into it."""

    name: str
    method: str
    members: list[str]
    scores: np.ndarray                 # fused scores of the evaluation trials
    dev_scores: np.ndarray             # the same fuser applied to dev (in-sample: for plots, not for metrics)
    parameters: dict = field(default_factory=dict)


def fuse(method: str, dev: Mapping[str, np.ndarray], dev_y: np.ndarray, evaluation: Mapping[str, np.ndarray],
         *, name: str | None = None, seed: int = 0) -> FusedSystem:
    """Fit ``method`` on the dev scores of the systems in ``dev`` (name -> scores aligned with ``dev_y``) and
    apply it to their evaluation scores. Every system must have finite scores for every trial."""
    members = list(dev)
    if list(evaluation) != members:
        raise FusionError(f"fusion needs the same systems on dev and eval; dev: {members}, eval: {list(evaluation)}")
    if not members:
        raise FusionError("nothing to fuse: no system finished")
    for split, table in (("dev", dev), ("eval", evaluation)):
        for system, scores in table.items():
            _check_finite(np.asarray(scores, dtype=np.float64), f"{system} ({split})")
    x_dev = np.column_stack([np.asarray(dev[m], dtype=np.float64) for m in members])
    x_eval = np.column_stack([np.asarray(evaluation[m], dtype=np.float64) for m in members])
    fuser = make_fuser(method, seed=seed).fit(x_dev, dev_y)
    return FusedSystem(name or f"fused-{method}", method, members, fuser.transform(x_eval),
                       fuser.transform(x_dev), fuser.describe())


def calibrate(dev_scores: np.ndarray, dev_y: np.ndarray, eval_scores: np.ndarray,
              *, prior: float = EFFECTIVE_BONAFIDE_PRIOR) -> np.ndarray:
    """Affine calibration of one system to natural-log LLRs (logistic regression fitted on dev)."""
    fuser = LogisticFusion(prior=prior).fit(np.asarray(dev_scores)[:, None], dev_y)
    return fuser.transform(np.asarray(eval_scores)[:, None])


# ---- helpers --------------------------------------------------------------------------------------
def _as_matrix(scores) -> np.ndarray:
    x = np.asarray(scores, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def _check_finite(x: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        raise FusionError(f"{what}: {int(bad.sum())} scores are missing, NaN or Inf; such a system cannot be fused")


def _check_training_data(scores, y) -> tuple[np.ndarray, np.ndarray]:
    x = _as_matrix(scores)
    y = np.asarray(y).astype(np.int64).ravel()
    if len(y) != len(x):
        raise FusionError(f"{len(x)} dev scores but {len(y)} labels")
    _check_finite(x, "dev")
    if not (y == 1).any() or not (y == 0).any():
        raise FusionError("fusion is trained on dev scores and needs both bona fide and spoof dev trials")
    return x, y


def _safe_std(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=0)
    return np.where(std > 0, std, 1.0)  # a constant system keeps its scale instead of dividing by zero
