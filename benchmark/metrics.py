"""ASVspoof metrics as pure functions over score arrays (no I/O).

Convention everywhere: a higher score means "more bona fide". Rates are fractions in [0, 1]; tables show
EER in percent. Each function reproduces the official ASVspoof evaluation code (2019 ``tDCF_python``, 2021
``eval-package``, ASVspoof 5 ``evaluation-package``) including its tie handling, so numbers agree with it to
floating-point precision; where the official code aborts (negative t-DCF weights, NaN/Inf scores, hard
decisions instead of scores) these functions raise :class:`MetricError` with a readable message.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from spoofbench.protocols.errors import BenchError

from . import metric_specs

#: Metric name -> one-line description (shown by ``bench list``), from the one metric table
METRICS: dict[str, str] = {spec.key: spec.description for spec in metric_specs.METRIC_SPECS}


#: The ASVspoof 5 DCF cost model (minDCF, actDCF): spoof prior, cost of a miss, cost of a false alarm.
DCF_P_SPOOF, DCF_C_MISS, DCF_C_FA = 0.05, 1.0, 10.0


class MetricError(BenchError, ValueError):
    """Scores or costs the metric cannot be computed from (the official code aborts on the same input)."""


# --------------------------------------------------------------------------------------------------------
# input checks


def _scores(values, name: str, *, allow_empty: bool = False) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0 and not allow_empty:
        raise MetricError(f"no {name} scores: the metric needs at least one trial of each class")
    bad = ~np.isfinite(arr)
    if bad.any():
        kind = "NaN" if np.isnan(arr[bad]).any() else "Inf"
        raise MetricError(f"{int(bad.sum())} {name} score(s) are {kind}; every score must be a finite number")
    return arr


def _pair(bona, spoof) -> tuple[np.ndarray, np.ndarray]:
    return _scores(bona, "bona fide"), _scores(spoof, "spoof")


#: The official t-DCF code refuses fewer distinct scores: a DET "curve" of two points has no minimum worth the name.
MIN_DISTINCT_SCORES = 3


def _require_soft_scores(bona: np.ndarray, spoof: np.ndarray) -> None:
    if np.unique(np.concatenate([bona, spoof])).size < MIN_DISTINCT_SCORES:
        raise MetricError("fewer than 3 distinct scores: t-DCF needs soft scores, not binary decisions")


# --------------------------------------------------------------------------------------------------------
# DET curve and EER


def det_curve(bona, spoof) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Miss and false-alarm rates of the official ``compute_det_curve``: ``(pmiss, pfa, thresholds)``.

    Point 0 accepts everything (Pmiss 0, Pfa 1, threshold = lowest score - 0.001); point i rejects the i lowest
    scores of the stable (mergesort) order of [bona fide, spoof], so tied scores are split by input order with
    bona fide first and the curve has points between tied scores, exactly as the official code.
    """
    bona, spoof = _pair(bona, spoof)
    scores = np.concatenate([bona, spoof])
    order = np.argsort(scores, kind="mergesort")
    bona_rejected = np.cumsum(order < bona.size)  # bona fide come first in the concatenation
    spoof_accepted = spoof.size - (np.arange(1, scores.size + 1) - bona_rejected)
    pmiss = np.concatenate([[0.0], bona_rejected / bona.size])
    pfa = np.concatenate([[1.0], spoof_accepted / spoof.size])
    thresholds = np.concatenate([[scores[order[0]] - 0.001], scores[order]])
    return pmiss, pfa, thresholds


def _eer_index(pmiss: np.ndarray, pfa: np.ndarray) -> int:
    return int(np.argmin(np.abs(pmiss - pfa)))  # first minimum, as the official code


def _eer_of_curve(pmiss: np.ndarray, pfa: np.ndarray) -> float:
    i = _eer_index(pmiss, pfa)
    return float((pmiss[i] + pfa[i]) / 2)


def eer(bona, spoof) -> float:
    """Equal error rate (a fraction): mean of Pmiss and Pfa at the first DET point minimising |Pmiss - Pfa|."""
    pmiss, pfa, _ = det_curve(bona, spoof)
    return _eer_of_curve(pmiss, pfa)


def eer_threshold(bona, spoof) -> float:
    """The score threshold of the EER point (the official ``compute_eer`` second output)."""
    pmiss, pfa, thresholds = det_curve(bona, spoof)
    return float(thresholds[_eer_index(pmiss, pfa)])


# --------------------------------------------------------------------------------------------------------
# ASV operating point and t-DCF


@dataclass(frozen=True)
class AsvOperatingPoint:
    """Error rates of the ASV system at a fixed threshold (the EER threshold of target vs nontarget scores).

    As the official ``obtain_asv_error_rates``: a trial is accepted when its score is ``>= threshold``.
    """

    threshold: float
    pfa: float                  # nontargets accepted
    pmiss: float                # targets rejected
    pmiss_spoof: float | None   # spoofs rejected (None when there are no spoof ASV scores)
    pfa_spoof: float | None     # spoofs accepted

    def for_spoof(self, spoof) -> AsvOperatingPoint:
        """The same ASV threshold with spoof rates from another set of spoof scores (e.g. one attack)."""
        spoof = _scores(spoof, "ASV spoof")
        return replace(self, pmiss_spoof=float(np.sum(spoof < self.threshold) / spoof.size),
                       pfa_spoof=float(np.sum(spoof >= self.threshold) / spoof.size))

    def as_dict(self) -> dict:
        return {"threshold": self.threshold, "pfa": self.pfa, "pmiss": self.pmiss,
                "pmiss_spoof": self.pmiss_spoof, "pfa_spoof": self.pfa_spoof}


def asv_operating_point(target, nontarget, spoof=(), threshold: float | None = None) -> AsvOperatingPoint:
    """ASV error rates at ``threshold`` (default: the ASV EER threshold of target vs nontarget scores)."""
    target, nontarget = _scores(target, "ASV target"), _scores(nontarget, "ASV nontarget")
    spoof = _scores(spoof, "ASV spoof", allow_empty=True)
    tau = eer_threshold(target, nontarget) if threshold is None else float(threshold)
    point = AsvOperatingPoint(tau, float(np.sum(nontarget >= tau) / nontarget.size),
                              float(np.sum(target < tau) / target.size), None, None)
    return point.for_spoof(spoof) if spoof.size else point


@dataclass(frozen=True)
class TdcfCosts2019:
    """Cost model of the ASVspoof 2019 (legacy) t-DCF; defaults are the challenge's."""

    p_spoof: float = 0.05
    p_tar: float = (1 - 0.05) * 0.99
    p_non: float = (1 - 0.05) * 0.01
    cmiss_asv: float = 1.0
    cfa_asv: float = 10.0
    cmiss_cm: float = 1.0
    cfa_cm: float = 10.0

    def __post_init__(self):
        _check_priors(self.p_tar, self.p_non, self.p_spoof)


@dataclass(frozen=True)
class TdcfCosts2021:
    """Cost model of the ASVspoof 2021 t-DCF revision; defaults are the challenge's."""

    p_spoof: float = 0.05
    p_tar: float = (1 - 0.05) * 0.99
    p_non: float = (1 - 0.05) * 0.01
    cmiss: float = 1.0
    cfa: float = 10.0
    cfa_spoof: float = 10.0

    def __post_init__(self):
        _check_priors(self.p_tar, self.p_non, self.p_spoof)


def _check_priors(p_tar: float, p_non: float, p_spoof: float) -> None:
    if min(p_tar, p_non, p_spoof) < 0 or abs(p_tar + p_non + p_spoof - 1) > 1e-10:
        raise MetricError(f"t-DCF priors must be non-negative and sum to one, got Ptar={p_tar}, Pnon={p_non}, "
                          f"Pspoof={p_spoof}")


def _require_spoof_rates(point: AsvOperatingPoint) -> None:
    if point.pfa_spoof is None or point.pmiss_spoof is None:
        raise MetricError("the ASV operating point has no spoof error rate: t-DCF needs ASV scores of spoof trials")


def tdcf_costs_2019(asv_point: AsvOperatingPoint, costs: TdcfCosts2019 = TdcfCosts2019()) -> tuple[float, float]:
    """Weights (C1, C2) of the 2019 t-DCF: t-DCF(s) = C1*Pmiss_cm(s) + C2*Pfa_cm(s), normalised by min(C1, C2)."""
    _require_spoof_rates(asv_point)
    # the official expressions, term by term, so the weights agree to the last bit
    c1 = (costs.p_tar * (costs.cmiss_cm - costs.cmiss_asv * asv_point.pmiss)
          - costs.p_non * costs.cfa_asv * asv_point.pfa)
    c2 = costs.cfa_cm * costs.p_spoof * (1 - asv_point.pmiss_spoof)
    _check_weights(c1=c1, c2=c2)
    return float(c1), float(c2)


def tdcf_costs_2021(asv_point: AsvOperatingPoint,
                    costs: TdcfCosts2021 = TdcfCosts2021()) -> tuple[float, float, float]:
    """Weights (C0, C1, C2) of the 2021 t-DCF: t-DCF(s) = C0 + C1*Pmiss_cm(s) + C2*Pfa_cm(s)."""
    _require_spoof_rates(asv_point)
    c0 = costs.p_tar * costs.cmiss * asv_point.pmiss + costs.p_non * costs.cfa * asv_point.pfa
    c1 = costs.p_tar * costs.cmiss - (costs.p_tar * costs.cmiss * asv_point.pmiss
                                      + costs.p_non * costs.cfa * asv_point.pfa)
    c2 = costs.p_spoof * costs.cfa_spoof * asv_point.pfa_spoof
    _check_weights(c0=c0, c1=c1, c2=c2)
    return float(c0), float(c1), float(c2)


def _check_weights(**weights: float) -> None:
    for name, value in weights.items():
        if not np.isfinite(value) or value < 0:
            raise MetricError(f"t-DCF weight {name.upper()} = {value:.6g} is negative or not finite: check that the "
                              "ASV error rates are fractions computed from target/nontarget/spoof ASV scores")
    if min(weights.get("c1", 1.0), weights.get("c2", 1.0)) + weights.get("c0", 0.0) == 0:
        raise MetricError("t-DCF normaliser is 0 (C1 or C2 is 0, e.g. the ASV accepts no spoof): the normalised "
                          "t-DCF is undefined")


def tdcf_curve_2019(bona, spoof, asv_point: AsvOperatingPoint,
                    costs: TdcfCosts2019 = TdcfCosts2019()) -> tuple[np.ndarray, np.ndarray]:
    """Normalised 2019 t-DCF at every CM DET point: ``(tdcf_norm, thresholds)``."""
    bona, spoof = _pair(bona, spoof)
    _require_soft_scores(bona, spoof)
    c1, c2 = tdcf_costs_2019(asv_point, costs)
    pmiss, pfa, thresholds = det_curve(bona, spoof)
    return _tdcf_2019_of_curve(pmiss, pfa, c1, c2), thresholds


def _tdcf_2019_of_curve(pmiss, pfa, c1: float, c2: float) -> np.ndarray:
    return (c1 * pmiss + c2 * pfa) / min(c1, c2)


def min_tdcf_2019(bona, spoof, asv_point: AsvOperatingPoint, costs: TdcfCosts2019 = TdcfCosts2019()) -> float:
    """Minimum normalised t-DCF, ASVspoof 2019 form (``compute_tDCF_legacy``)."""
    return float(np.min(tdcf_curve_2019(bona, spoof, asv_point, costs)[0]))


def tdcf_curve_2021(bona, spoof, asv_point: AsvOperatingPoint | None = None, *,
                    c012: tuple[float, float, float] | None = None,
                    costs: TdcfCosts2021 = TdcfCosts2021()) -> tuple[np.ndarray, np.ndarray]:
    """Normalised 2021 t-DCF at every CM DET point, from an ASV operating point or given (C0, C1, C2)."""
    bona, spoof = _pair(bona, spoof)
    _require_soft_scores(bona, spoof)
    if (asv_point is None) == (c012 is None):
        raise MetricError("give exactly one of an ASV operating point or (C0, C1, C2)")
    if c012 is None:
        c0, c1, c2 = tdcf_costs_2021(asv_point, costs)
    else:
        c0, c1, c2 = (float(c) for c in c012)
        _check_weights(c0=c0, c1=c1, c2=c2)
    pmiss, pfa, thresholds = det_curve(bona, spoof)
    return _tdcf_2021_of_curve(pmiss, pfa, c0, c1, c2), thresholds


def _tdcf_2021_of_curve(pmiss, pfa, c0: float, c1: float, c2: float) -> np.ndarray:
    return (c0 + c1 * pmiss + c2 * pfa) / (c0 + min(c1, c2))


def min_tdcf_2021(bona, spoof, asv_point: AsvOperatingPoint | None = None, *,
                  c012: tuple[float, float, float] | None = None, costs: TdcfCosts2021 = TdcfCosts2021()) -> float:
    """Minimum normalised t-DCF, ASVspoof 2021 revision (``compute_tDCF`` / ``get_mintDCF_eer``)."""
    return float(np.min(tdcf_curve_2021(bona, spoof, asv_point, c012=c012, costs=costs)[0]))


# --------------------------------------------------------------------------------------------------------
# ASVspoof 5: DCF, Cllr


def _dcf_curve(bona, spoof, p_spoof: float, c_miss: float, c_fa: float):
    pmiss, pfa, thresholds = det_curve(bona, spoof)
    return _dcf_of_curve(pmiss, pfa, p_spoof, c_miss, c_fa), pmiss, pfa, thresholds


def _dcf_of_curve(pmiss, pfa, p_spoof: float = DCF_P_SPOOF, c_miss: float = DCF_C_MISS,
                  c_fa: float = DCF_C_FA) -> np.ndarray:
    p_bona = 1 - p_spoof  # written as the official compute_mindcf, so values agree to the last bit
    cost = c_miss * pmiss * p_bona + c_fa * pfa * (1 - p_bona)
    return cost / min(c_miss * p_bona, c_fa * (1 - p_bona))


def min_dcf(bona, spoof, p_spoof: float = DCF_P_SPOOF, c_miss: float = DCF_C_MISS, c_fa: float = DCF_C_FA) -> float:
    """Minimum normalised DCF over the DET points (ASVspoof 5 primary metric, track 1)."""
    return float(np.min(_dcf_curve(bona, spoof, p_spoof, c_miss, c_fa)[0]))


def act_dcf_threshold(p_spoof: float = DCF_P_SPOOF, c_miss: float = DCF_C_MISS, c_fa: float = DCF_C_FA) -> float:
    """Bayes threshold on natural-log LLR scores: -ln(Cmiss*(1-Pspoof) / (Cfa*Pspoof)) (-0.6419 by default)."""
    return float(-np.log(c_miss * (1 - p_spoof) / (c_fa * p_spoof)))


def act_dcf(bona, spoof, p_spoof: float = DCF_P_SPOOF, c_miss: float = DCF_C_MISS, c_fa: float = DCF_C_FA) -> float:
    """Actual normalised DCF: scores read as natural-log LLRs and thresholded at the Bayes threshold.

    Bona fide below the threshold are misses, spoofs at or above it false alarms (as the official code).
    """
    bona, spoof = _pair(bona, spoof)
    threshold = act_dcf_threshold(p_spoof, c_miss, c_fa)
    pmiss = np.sum(bona < threshold) / bona.size
    pfa = np.sum(spoof >= threshold) / spoof.size
    cost = c_miss * (1 - p_spoof) * pmiss + c_fa * p_spoof * pfa
    return float(cost / min(c_fa * p_spoof, c_miss * (1 - p_spoof)))


def cllr(bona, spoof) -> float:
    """Log-likelihood-ratio cost in bits, scores read as natural-log LLRs.

    log(1 + e^x) is evaluated as ``logaddexp(0, x)``, so scores of any magnitude give finite costs (the official
    ``log1p(exp(x))`` overflows to inf beyond |x| ~ 709).
    """
    return cllr_from_llr(*_pair(bona, spoof))


def min_cllr(bona, spoof) -> float:
    """Cllr after the optimal monotone calibration (pool-adjacent-violators), the "minCllr" of BOSARIS.

    PAV gives the calibrated posterior of each trial under the empirical class proportions; subtracting the
    prior log odds turns it into an LLR. Tied scores share one posterior (ties pooled first).
    """
    bona, spoof = _pair(bona, spoof)
    scores = np.concatenate([bona, spoof])
    unique, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    bona_share = np.bincount(inverse[: bona.size], minlength=unique.size) / counts
    posterior = _isotonic(bona_share, counts.astype(np.float64))[inverse]
    with np.errstate(divide="ignore"):
        log_odds = np.log(posterior) - np.log1p(-posterior)  # +-inf where PAV is certain: costs 0 there
    llr = log_odds - math.log(bona.size / spoof.size)
    return cllr_from_llr(llr[: bona.size], llr[bona.size:])


def _isotonic(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit (PAV)."""
    try:
        from scipy.optimize import isotonic_regression  # scipy >= 1.12, fast and light to import
    except ImportError:  # pragma: no cover - older scipy
        from sklearn.isotonic import IsotonicRegression

        x = np.arange(values.size, dtype=np.float64)
        return IsotonicRegression().fit(x, values, sample_weight=weights).predict(x)
    return np.clip(isotonic_regression(values, weights=weights).x, 0.0, 1.0)


def cllr_from_llr(bona_llr: np.ndarray, spoof_llr: np.ndarray) -> float:
    """Cllr of LLRs that may be +-inf (an infinite LLR on the right side costs nothing)."""
    return float((np.mean(np.logaddexp(0.0, -bona_llr)) + np.mean(np.logaddexp(0.0, spoof_llr))) / (2 * math.log(2)))


# --------------------------------------------------------------------------------------------------------
# all CM metrics from one DET curve


def cm_summary(bona, spoof, asv_point: AsvOperatingPoint | None = None, *,
               costs_2019: TdcfCosts2019 = TdcfCosts2019(), costs_2021: TdcfCosts2021 = TdcfCosts2021()) -> dict:
    """EER, min t-DCF (both forms; None without an ASV point or where the official code refuses) and minDCF of
    one bona fide / spoof score set from one DET curve (the scores sorted once), plus every other metric of
    :data:`metric_specs.METRIC_SPECS` that bench eval computes (actDCF, Cllr, minCllr, ...) by its function."""
    bona, spoof = _pair(bona, spoof)
    pmiss, pfa, thresholds = det_curve(bona, spoof)
    out = {"eer": _eer_of_curve(pmiss, pfa), "min_tdcf_2019": None, "min_tdcf_2021": None,
           "min_dcf": float(np.min(_dcf_of_curve(pmiss, pfa)))}
    for spec in metric_specs.evaluated():  # the others: a function of (bona fide, spoof) scores each
        if spec.function:
            out[spec.key] = globals()[spec.function](bona, spoof)
    n_distinct = 1 + int(np.count_nonzero(np.diff(thresholds[1:])))
    if asv_point is not None and n_distinct >= MIN_DISTINCT_SCORES:
        try:
            c1, c2 = tdcf_costs_2019(asv_point, costs_2019)
            out["min_tdcf_2019"] = float(np.min(_tdcf_2019_of_curve(pmiss, pfa, c1, c2)))
            c0, c1, c2 = tdcf_costs_2021(asv_point, costs_2021)
            out["min_tdcf_2021"] = float(np.min(_tdcf_2021_of_curve(pmiss, pfa, c0, c1, c2)))
        except MetricError:
            pass
    return out


# --------------------------------------------------------------------------------------------------------
# ASVspoof 5 spoofing-aware speaker verification: a-DCF and t-EER


@dataclass(frozen=True)
class ADcfCosts:
    """a-DCF costs as the ASVspoof 5 evaluation uses them (the t-DCF priors; not a_dcf.py's CostModel defaults)."""

    p_tar: float = (1 - 0.05) * 0.99
    p_non: float = (1 - 0.05) * 0.01
    p_spoof: float = 0.05
    c_miss: float = 1.0
    cfa_asv: float = 10.0
    cfa_cm: float = 10.0


def a_dcf(target, nontarget, spoof, costs: ADcfCosts = ADcfCosts()) -> float:
    """Minimum normalised a-DCF of single spoofing-aware (SASV) scores: targets must be accepted, nontargets
    and spoofs rejected. Normalised by the cheaper of accepting or rejecting everything."""
    target, nontarget = _scores(target, "SASV target"), _scores(nontarget, "SASV nontarget")
    spoof = _scores(spoof, "SASV spoof")
    scores = np.concatenate([target, nontarget, spoof])
    labels = np.concatenate([np.zeros(target.size, np.int8), np.ones(nontarget.size, np.int8),
                             np.full(spoof.size, 2, np.int8)])[np.argsort(scores, kind="mergesort")]
    miss = np.concatenate([[0], np.cumsum(labels == 0)]) / target.size
    fa_non = (nontarget.size - np.concatenate([[0], np.cumsum(labels == 1)])) / nontarget.size
    fa_spoof = (spoof.size - np.concatenate([[0], np.cumsum(labels == 2)])) / spoof.size
    cost = (costs.c_miss * costs.p_tar * miss + costs.cfa_asv * costs.p_non * fa_non
            + costs.cfa_cm * costs.p_spoof * fa_spoof)
    norm = min(costs.cfa_asv * costs.p_non + costs.cfa_cm * costs.p_spoof, costs.c_miss * costs.p_tar)
    return float(np.min(cost) / norm)


def _asv_curves(target, nontarget, spoof):
    # The official compute_Pmiss_Pfa_Pspoof_curves, written with the same float expressions.
    scores = np.concatenate([target, nontarget, spoof])
    labels = np.concatenate([np.ones(target.size), np.zeros(nontarget.size),
                             -np.ones(spoof.size)])[np.argsort(scores, kind="mergesort")]
    pmiss = np.concatenate([[0.0], np.cumsum(labels == 1) / target.size])
    pfa_non = np.concatenate([[1.0], 1 - np.cumsum(labels == 0) / nontarget.size])
    pfa_spoof = np.concatenate([[1.0], 1 - np.cumsum(labels == -1) / spoof.size])
    return pmiss, pfa_non, pfa_spoof


def t_eer(cm_bona, cm_spoof, asv_target, asv_nontarget, asv_spoof) -> float:
    """Concurrent tandem EER (a fraction) of a CM and an ASV system (ASVspoof 5 ``compute_teer``, rho = 0.5).

    For every ASV threshold in the allowed region, the CM threshold balancing the tandem miss and false-alarm
    rates is found; the t-EER is Pfa_spoof_ASV * Pfa_CM at the ASV threshold where Pfa_non/Pfa_spoof is closest
    to Pfa_CM/(1 - Pmiss_CM). This is the exact search (the official "accelerated" search approximates it on
    large sets); the balancing CM index is found by bisection because the tandem error difference is
    monotone in the CM threshold.
    """
    cm_bona, cm_spoof = _pair(cm_bona, cm_spoof)
    tar, non = _scores(asv_target, "ASV target"), _scores(asv_nontarget, "ASV nontarget")
    spf = _scores(asv_spoof, "ASV spoof")
    pmiss_cm, pfa_cm, _ = det_curve(cm_bona, cm_spoof)
    a, b, c = _asv_curves(tar, non, spf)
    rho = 0.5

    def h(idx):  # tandem Pmiss - Pfa at CM index idx for every ASV threshold, official expression order
        pm, pf = pmiss_cm[idx], pfa_cm[idx]
        return (pm + (1 - pm) * a) - ((1 - rho) * (1 - pm) * b + rho * pf * c)

    def first_at_least(target_values):  # first CM index with h >= target, per ASV threshold (h is monotone)
        lo, hi = np.zeros(a.size, np.int64), np.full(a.size, pmiss_cm.size - 1, np.int64)
        while np.any(lo < hi):
            mid = (lo + hi) // 2
            below = h(mid) < target_values
            lo, hi = np.where(below, mid + 1, lo), np.where(below, hi, mid)
        return lo

    j = first_at_least(np.zeros(a.size))
    prev = np.maximum(j - 1, 0)
    h_prev, h_j = h(prev), h(j)
    take_prev = (j > 0) & (np.abs(h_prev) <= np.abs(h_j))
    idx = np.where(take_prev, first_at_least(np.where(take_prev, h_prev, h_j)), j)
    allowed = a < (1 - rho) * b + rho * c
    with np.errstate(divide="ignore", invalid="ignore"):
        crit = np.abs(b / c - pfa_cm[idx] / (1 - pmiss_cm[idx]))
    crit = np.where(allowed & np.isfinite(crit), crit, np.inf)
    best = int(np.argmin(crit))
    if not np.isfinite(crit[best]):
        raise MetricError("t-EER undefined: no ASV threshold lies in the allowed region with finite rates")
    return float(c[best] * pfa_cm[idx[best]])
