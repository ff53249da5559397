"""Calibrated decisions with a human-review band, fitted on dev scores and saved with the model.

A :class:`DecisionPolicy` turns a detector's raw scores (higher = bona fide) into

* a calibrated natural-log likelihood ratio, ``llr = weight * score + bias`` (the prior-weighted logistic
  regression of :class:`spoofbench.benchmark.fusion.LogisticFusion`, fitted on dev);
* a decision, ``"bona fide"``, ``"spoof"`` or ``"review"`` (sent to a person).

Every threshold is on the **raw score** and means the same thing: a score **above** it is bona fide, a score
at or below it is spoof (the convention of the official DET curve, whose EER threshold rejects the scores
equal to it). The review band ``(low, high]`` sends the scores inside it to review: ``score <= low`` is
spoof, ``score > high`` is bona fide. Rates are fractions, as they were measured on dev:

* ``eer``: the EER threshold of the dev scores;
* ``far``: the lowest threshold whose false-accept rate (spoofs called bona fide) is at most ``target_far``;
* ``frr``: the highest threshold whose false-reject rate (bona fide called spoof) is at most ``target_frr``;
* ``bayes``: the Bayes threshold of the calibrated LLR for the ASVspoof 5 cost model (llr > -ln 1.9).

The review band is chosen so that on the **decided part** of dev (the trials outside the band) both error
rates are at most ``target_error`` -- spoofs accepted / spoofs decided, and bona fide rejected / bona fide
decided -- while the fewest dev trials go to review. A dev set that reaches the target without review gets
an empty band (``low == high``).

Use it like this (the serve helper and ``bench score`` do)::

    from spoofbench.deploy.decisions import fit_decision_policy, read_decisions
    policy = fit_decision_policy(dev_scores, dev_labels, target_error=0.01)   # labels: 1 bona fide, 0 spoof
    det.save("model.det", decisions=policy)          # stored in the .det file's meta.json
    policy = read_decisions("model.det")             # DecisionPolicy, or None for a file saved without one
    policy.llr(scores); policy.decide(scores)        # arrays of floats / of "bona fide" | "spoof" | "review"

``policy.to_dict()`` is plain JSON; ``DecisionPolicy.from_dict`` reads it back (and checks it).
``policy.dev_quantiles`` holds 101 quantiles (0 %, 1 %, ..., 100 %) of the dev scores, a reference
distribution to compare live scores against (drift).
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from spoofbench.benchmark.fusion import EFFECTIVE_BONAFIDE_PRIOR, LogisticFusion
from spoofbench.benchmark.metrics import act_dcf_threshold, eer, eer_threshold
from spoofbench.protocols.errors import BenchError, ConfigError

BONA_FIDE, SPOOF, REVIEW = "bona fide", "spoof", "review"
#: Decision rules :meth:`DecisionPolicy.decide` knows: the review band or one of the single thresholds.
MODES = ("review", "eer", "far", "frr", "bayes")
POLICY_VERSION = 1


@dataclass
class DecisionPolicy:
    """Calibration and thresholds of one system (see the module docstring for what each threshold means).

    ``default_mode``: the rule :meth:`decide` uses when none is given ("review" = the band)."""

    weight: float                      # llr = weight * score + bias
    bias: float
    prior: float                       # bona fide prior the calibration was trained with
    eer_threshold: float
    far_threshold: float
    frr_threshold: float
    review_low: float
    review_high: float
    target_far: float
    target_frr: float
    target_error: float
    default_mode: str = "review"
    dev_counts: dict = field(default_factory=dict)      # {"bona_fide": n, "spoof": n}
    dev_quantiles: list = field(default_factory=list)   # 101 quantiles of the dev scores (drift reference)
    dev_eer: float = float("nan")

    @property
    def bayes_threshold(self) -> float:
        """The raw score where the calibrated LLR crosses the ASVspoof 5 Bayes threshold (-ln 1.9)."""
        if self.weight == 0:
            return math.inf
        return (act_dcf_threshold() - self.bias) / self.weight

    def threshold(self, mode: str) -> float:
        """The raw-score threshold of a single-threshold ``mode`` (``eer``, ``far``, ``frr``, ``bayes``)."""
        if mode == "bayes":
            return self.bayes_threshold
        if mode in ("eer", "far", "frr"):
            return getattr(self, f"{mode}_threshold")
        raise ConfigError(f"unknown decision mode {mode!r}; choose from {', '.join(MODES)}")

    def llr(self, scores) -> np.ndarray:
        """Calibrated natural-log likelihood ratios (bona fide vs spoof) of raw scores."""
        return self.weight * np.asarray(scores, dtype=np.float64) + self.bias

    def decide(self, scores, mode: str | None = None) -> np.ndarray:
        """``"bona fide"`` / ``"spoof"`` / ``"review"`` per score (an array of str); ``mode`` as :data:`MODES`."""
        s = np.asarray(scores, dtype=np.float64)
        mode = mode or self.default_mode
        if mode == "review":
            low, high = self.review_low, self.review_high
        else:
            low = high = self.threshold(mode)
        out = np.full(s.shape, REVIEW, dtype=object)
        out[s <= low] = SPOOF
        out[s > high] = BONA_FIDE
        return out.astype(str)

    def to_dict(self) -> dict:
        """Plain JSON (infinite thresholds as the strings "inf" / "-inf")."""
        return {"version": POLICY_VERSION, **{k: _json_float(v) for k, v in asdict(self).items()}}

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "decision policy") -> DecisionPolicy:
        """Read :meth:`to_dict` output back; ``source`` names it in the one-line error of bad input."""
        if not isinstance(data, dict) or data.get("version") != POLICY_VERSION:
            raise BenchError(f"{source}: not a decision policy of version {POLICY_VERSION}")
        names = [f.name for f in cls.__dataclass_fields__.values()]
        values = {k: data[k] for k in names if k in data}
        required = {"weight", "bias", "prior", "eer_threshold", "far_threshold", "frr_threshold", "review_low",
                    "review_high", "target_far", "target_frr", "target_error"}
        missing = sorted(required - set(values))
        if missing:
            raise BenchError(f"{source}: decision policy lacks {', '.join(missing)}")
        if values.get("dev_eer") is None:
            values.pop("dev_eer", None)
        for key in sorted(required | ({"dev_eer"} & set(values))):
            try:
                values[key] = float(values[key])
            except (TypeError, ValueError):
                raise BenchError(f"{source}: decision policy has a non-numeric {key}") from None
        if values.get("default_mode", "review") not in MODES:
            raise BenchError(f"{source}: unknown decision mode {values['default_mode']!r}")
        if not values["review_low"] <= values["review_high"]:
            raise BenchError(f"{source}: review band low {values['review_low']} is above high "
                             f"{values['review_high']}")
        return cls(**values)


def fit_decision_policy(dev_scores, dev_labels, *, target_far: float = 0.01, target_frr: float = 0.01,
                        target_error: float = 0.01, prior: float = EFFECTIVE_BONAFIDE_PRIOR,
                        default_mode: str = "review") -> DecisionPolicy:
    """Fit calibration and thresholds on dev scores (higher = bona fide) and labels (1 bona fide, 0 spoof).

    ``target_far`` / ``target_frr``: the error rates of the ``far`` / ``frr`` thresholds; ``target_error``:
    the most either error rate may be on the decided part of dev (outside the review band)."""
    s = np.asarray(dev_scores, dtype=np.float64).ravel()
    y = np.asarray(dev_labels).astype(np.int64).ravel()
    if s.size != y.size:
        raise BenchError(f"decision policy: {s.size} dev scores but {y.size} labels")
    if not np.all(np.isfinite(s)):
        raise BenchError("decision policy: dev scores hold NaN or Inf")
    bona, spoof = s[y == 1], s[y == 0]
    if not bona.size or not spoof.size:
        raise BenchError("decision policy: dev needs both bona fide and spoof trials")
    for name, value in (("target_far", target_far), ("target_frr", target_frr), ("target_error", target_error)):
        if not 0 <= value < 1:
            raise ConfigError(f"decision policy: {name}={value} must be a rate in [0, 1)")
    if default_mode not in MODES:
        raise ConfigError(f"unknown decision mode {default_mode!r}; choose from {', '.join(MODES)}")
    calibration = LogisticFusion(prior=prior).fit(s[:, None], y)
    low, high = review_band(bona, spoof, target_error)
    return DecisionPolicy(
        weight=float(calibration.weights_[0]), bias=float(calibration.bias_), prior=prior,
        eer_threshold=eer_threshold(bona, spoof), far_threshold=far_threshold(spoof, target_far),
        frr_threshold=frr_threshold(bona, target_frr), review_low=low, review_high=high,
        target_far=target_far, target_frr=target_frr, target_error=target_error, default_mode=default_mode,
        dev_counts={"bona_fide": int(bona.size), "spoof": int(spoof.size)},
        dev_quantiles=np.quantile(s, np.linspace(0, 1, 101)).tolist(), dev_eer=eer(bona, spoof))


def far_threshold(spoof: np.ndarray, target: float) -> float:
    """The lowest threshold t with #(spoof > t) <= target * #spoof (t is a spoof score, or -inf)."""
    ordered = np.sort(spoof)
    allowed = math.floor(target * ordered.size + 1e-9)     # spoofs that may lie above the threshold
    k = ordered.size - allowed                            # that many must be at or below it
    return -math.inf if k == 0 else float(ordered[k - 1])


def frr_threshold(bona: np.ndarray, target: float) -> float:
    """The highest threshold t with #(bona <= t) <= target * #bona (just below a bona fide score)."""
    ordered = np.sort(bona)
    allowed = math.floor(target * ordered.size + 1e-9)     # bona fide that may lie at or below the threshold
    if allowed >= ordered.size:
        return math.inf
    return float(np.nextafter(ordered[allowed], -math.inf))


def review_band(bona: np.ndarray, spoof: np.ndarray, target: float) -> tuple[float, float]:
    """``(low, high)``, the narrowest band (fewest dev trials inside ``(low, high]``) with both error rates of
    the decided part at most ``target``: #(spoof > high) <= target * #spoof decided and
    #(bona <= low) <= target * #bona decided.

    For each candidate ``high`` (every distinct score, and -inf) the best ``low`` is the highest one the bona
    fide condition allows (a higher ``low`` only narrows the band), which is then checked against the spoof
    condition; O(n log n) over all candidates."""
    bona, spoof = np.sort(bona), np.sort(spoof)
    nb, ns = bona.size, spoof.size
    # candidate thresholds: -inf (everything above) and each distinct score; the highest rejects everything
    cands = np.concatenate([[-math.inf], np.unique(np.concatenate([bona, spoof]))])
    b_le = np.searchsorted(bona, cands, side="right")    # bona fide at or below each candidate
    s_le = np.searchsorted(spoof, cands, side="right")
    best, best_band = None, (cands[-1], cands[-1])
    for j in range(cands.size):                          # high = cands[j]
        spoof_acc, bona_acc = ns - s_le[j], nb - b_le[j]
        # bona condition on low = cands[i] (i <= j): b_le[i] * (1 - target) <= target * bona_acc
        limit = target * bona_acc / (1 - target)
        i = min(int(np.searchsorted(b_le, limit + 1e-9, side="right")) - 1, j)
        if i < 0:
            continue
        # spoof condition: spoof_acc <= target * (s_le[i] + spoof_acc)
        if spoof_acc * (1 - target) > target * s_le[i] + 1e-9:
            continue
        inside = (b_le[j] - b_le[i]) + (s_le[j] - s_le[i])
        if best is None or inside < best:
            best, best_band = inside, (float(cands[i]), float(cands[j]))
    return best_band


def read_decisions(path: os.PathLike | str) -> DecisionPolicy | None:
    """The decision policy saved in a ``.det`` file (``Detector.save(path, decisions=policy)``), or None for a
    file saved without one (every file written before policies existed)."""
    from spoofbench.detectors.model_file import read_detector_file

    meta, _ = read_detector_file(path)
    data = meta.get("decisions")
    return None if data is None else DecisionPolicy.from_dict(data, source=os.fspath(path))


def _json_float(value):
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
