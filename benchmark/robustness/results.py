"""The numbers of the degradation benchmark and ``robustness.json``.

Structure (every rate and EER in percent, as in ``metrics.json``)::

    {"systems": {NAME: {CONDITION: M}},          # NAME: detectors and fusions; CONDITION: canonical spec
     "degradation": {NAME: {CONDITION: {"eer": pp, "min_dcf": d, "act_dcf_cal": d, "act_dcf_matched": d}}},
     "conditions": {CONDITION: {"kind", "label", "n_trials", "failed_trials": [[utt_id, why], ...],
                                "failed_dev_trials": [...], "status", "error", "seconds"}},
     "not_applicable": {NAME: {CONDITION: why}}, "failed": {NAME: {CONDITION: error}},
     "dev_errors": {"CONDITION" or "SYSTEM under CONDITION": error},       # --degrade-dev only
     "settings": {"cache_dir", "bootstrap", "threshold": "dev EER of clean dev", "dev", ...}}

``M`` is a system's entry of ``metrics.json`` on the condition's eval trials (``pooled``, ``per_attack``, ...
with ``eer``, ``min_dcf``, ``act_dcf``, ``cllr``, CIs with ``--bootstrap``; no t-DCF: the ASV scores are of
clean audio), and in ``pooled`` and each attack's row also:

* ``act_dcf_cal``: actDCF of the scores calibrated by a logistic regression fitted on the **clean dev**
  scores (so a condition that shifts the scores is charged for it, as a deployed system would be);
* ``threshold``: the system's EER threshold on clean dev; ``spoof_accept_rate`` / ``bonafide_reject_rate``:
  the share of spoof / bona fide trials on the wrong side of it;
* adversarial conditions: ``attack_success_rate``: of the spoofs the system rejected on clean audio (score
  below the threshold), the share it accepts once perturbed;
* with ``--degrade-dev`` (dev audio through the same condition; not under white-box attacks, which are crafted
  per system on eval only): ``act_dcf_matched``, actDCF after a calibration fitted on the condition's own dev
  scores, and ``threshold_matched``, its dev EER threshold, next to the clean-dev ones; ``M["dev"]``:
  ``{"pooled": the dev metrics under the condition, "n_trials"}``. ``act_dcf_cal`` minus ``act_dcf_matched`` is
  what the condition costs in calibration alone, what recalibrating on matched data would win back.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spoofbench.protocols.trials import TrialTable

from .. import metrics as M
from ..evaluation import evaluate_systems
from ..fusion import calibrate
from .conditions import CLEAN, Condition


@dataclass
class SystemScores:
    table: TrialTable            # the trials scored under the condition (failed ones left out)
    scores: np.ndarray
    fused_dev: np.ndarray | None = None   # a fusion's dev scores (its fuser applied to clean dev)


@dataclass
class RobustnessResult:
    conditions: list[Condition]
    systems: list[str]
    cache_dir: str = ""
    n_bootstrap: int = 0
    cells: dict[str, dict[str, dict]] = field(default_factory=dict)          # system -> condition -> M
    failed_trials: dict[str, list] = field(default_factory=dict)             # condition -> [(utt, why)]
    n_trials: dict[str, int] = field(default_factory=dict)
    condition_errors: dict[str, dict] = field(default_factory=dict)          # condition -> {error, traceback}
    cell_errors: dict[str, dict[str, str]] = field(default_factory=dict)     # system -> condition -> error
    na: dict[str, dict[str, str]] = field(default_factory=dict)              # system -> condition -> why
    system_errors: dict[str, str] = field(default_factory=dict)
    degradation: dict[str, dict[str, dict]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    degrade_dev: bool = False                                                # dev went through the conditions too
    failed_dev_trials: dict[str, list] = field(default_factory=dict)         # condition -> [(utt, why)] of dev
    dev_errors: dict[str, str] = field(default_factory=dict)                 # "CONDITION" or "SYSTEM under CONDITION"

    # ---- recording ----------------------------------------------------------------------------------
    def fail_condition(self, spec: str, error: str, traceback_file: str | None = None) -> None:
        self.condition_errors[spec] = {"error": error, "traceback": traceback_file}

    def fail_cell(self, system: str, spec: str, error: str, traceback_file: str | None = None) -> None:
        self.cell_errors.setdefault(system, {})[spec] = error + (f" (traceback: {traceback_file})"
                                                                  if traceback_file else "")

    def not_applicable(self, system: str, spec: str, why: str) -> None:
        self.na.setdefault(system, {})[spec] = why

    def note_failed_trials(self, spec: str, failed: list, n_trials: int) -> None:
        known = {u for u, _ in self.failed_trials.get(spec, [])}
        self.failed_trials.setdefault(spec, []).extend((u, w) for u, w in failed if u not in known)
        self.n_trials[spec] = n_trials

    @property
    def partial_failure(self) -> bool:
        """Something asked for was not computed: a condition, a system under a condition, or a system."""
        return bool(self.condition_errors or self.cell_errors or self.system_errors or self.dev_errors)

    def failures(self) -> list[str]:
        lines = [f"condition {c}: {e['error']}" for c, e in self.condition_errors.items()]
        lines += [f"{s} under {c}: {e}" for s, per in self.cell_errors.items() for c, e in per.items()]
        lines += [f"{s}: {e}" for s, e in self.system_errors.items()]
        lines += [f"dev: {w}: {e}" for w, e in self.dev_errors.items()]
        return lines

    def add_degradation(self) -> None:
        """Each metric minus its clean value (EER in percentage points)."""
        for system, per in self.cells.items():
            clean = per.get(CLEAN, {}).get("pooled")
            if not clean:
                continue
            for spec, m in per.items():
                pooled = m.get("pooled", {})
                self.degradation.setdefault(system, {})[spec] = {
                    k: (pooled[k] - clean[k]) if pooled.get(k) is not None and clean.get(k) is not None else None
                    for k in ("eer", "min_dcf", "act_dcf_cal", "act_dcf_matched")}

    def eer(self, system: str, spec: str) -> float | None:
        return self.cells.get(system, {}).get(spec, {}).get("pooled", {}).get("eer")

    def to_json(self) -> dict:
        conditions = {}
        for c in self.conditions:
            err = self.condition_errors.get(c.spec)
            conditions[c.spec] = {"kind": c.kind, "label": c.label or None,
                                  "attack": c.attack.spec if c.attack else None, "source": c.source,
                                  "n_trials": self.n_trials.get(c.spec),
                                  "failed_trials": [list(x) for x in self.failed_trials.get(c.spec, [])],
                                  "failed_dev_trials": [list(x) for x in self.failed_dev_trials.get(c.spec, [])],
                                  "status": "failed" if err else "done", "error": err["error"] if err else None,
                                  "seconds": self.seconds.get(c.spec)}
        return {"systems": self.cells, "degradation": self.degradation, "conditions": conditions,
                "not_applicable": self.na, "failed": self.cell_errors, "system_errors": self.system_errors,
                "dev_errors": self.dev_errors,
                "settings": {"cache_dir": self.cache_dir, "bootstrap": self.n_bootstrap,
                             "threshold": "each system's EER threshold on clean dev",
                             "calibration": "logistic regression on clean dev (act_dcf_cal)",
                             "dev": ("each condition applied to dev too (white-box attacks excepted): "
                                     "M.dev and act_dcf_matched" if self.degrade_dev else "clean only"),
                             "fusion": "fitted on clean dev, applied to each condition's scores"}}


def evaluate_condition(ss: SystemScores, dev_scores: np.ndarray, dev_y: np.ndarray, clean_eval: np.ndarray | None,
                       eval_table: TrialTable, *, n_bootstrap: int = 0, adversarial: bool = False,
                       matched_dev: SystemScores | None = None) -> dict:
    """``M`` of one system under one condition (see the module docstring). ``matched_dev``: the system's scores
    of the dev audio under the same condition (``--degrade-dev``)."""
    table, scores = ss.table, np.asarray(ss.scores, dtype=np.float64)
    m = evaluate_systems({"s": scores}, table, n_bootstrap=n_bootstrap, seed=0)["systems"]["s"]
    dev_scores = np.asarray(dev_scores, dtype=np.float64)
    threshold = M.eer_threshold(dev_scores[dev_y == 1], dev_scores[dev_y == 0])
    calibrated = calibrate(dev_scores, dev_y, scores)
    clean = _clean_of(table, eval_table, clean_eval) if adversarial and clean_eval is not None else None
    matched = None
    if matched_dev is not None:
        md_scores, md_y = np.asarray(matched_dev.scores, dtype=np.float64), matched_dev.table.y
        m["dev"] = {"pooled": evaluate_systems({"s": md_scores}, matched_dev.table, n_bootstrap=0,
                                               seed=0)["systems"]["s"]["pooled"], "n_trials": len(md_y)}
        matched = (calibrate(md_scores, md_y, scores), M.eer_threshold(md_scores[md_y == 1], md_scores[md_y == 0]))
    bona = table.is_bonafide
    rows = [("pooled", None, np.ones(len(table), dtype=bool))]
    rows += [("per_attack", a, bona | (table["attack"] == a)) for a in m.get("per_attack", {})]
    for section, key, where in rows:
        target = m[section] if key is None else m[section][key]
        b, s = bona & where, ~bona & where
        target["act_dcf_cal"] = float(M.act_dcf(calibrated[b], calibrated[s])) if b.any() and s.any() else None
        target["threshold"] = threshold
        target["spoof_accept_rate"] = 100.0 * float(np.mean(scores[s] >= threshold)) if s.any() else None
        target["bonafide_reject_rate"] = 100.0 * float(np.mean(scores[b] < threshold)) if b.any() else None
        if matched is not None:
            target["act_dcf_matched"] = (float(M.act_dcf(matched[0][b], matched[0][s])) if b.any() and s.any()
                                         else None)
            target["threshold_matched"] = matched[1]
        if clean is not None:
            rejected = s & (clean < threshold)
            target["attack_success_rate"] = (100.0 * float(np.mean(scores[rejected] >= threshold))
                                             if rejected.any() else None)
            target["n_rejected_clean"] = int(rejected.sum())
    return m


def _clean_of(table: TrialTable, eval_table: TrialTable, clean_eval: np.ndarray) -> np.ndarray:
    index = {u: i for i, u in enumerate(eval_table["utt_id"])}
    return np.asarray(clean_eval, dtype=np.float64)[[index[u] for u in table["utt_id"]]]
