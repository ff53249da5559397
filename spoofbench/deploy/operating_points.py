"""The operating points of a decision policy fitted on dev, measured on eval: the table ``bench run`` reports.

Per system: for each single threshold (EER, target false-accept rate, target false-reject rate, Bayes) the
eval false-accept rate (spoofs called bona fide) and false-reject rate (bona fide called spoof); for the
review band, the share of eval trials sent to review and both error rates on the decided rest.
"""
from __future__ import annotations

import numpy as np

from .decisions import BONA_FIDE, REVIEW, SPOOF, DecisionPolicy, fit_decision_policy

HEADERS = ["system", "rule", "threshold", "FAR % (spoof accepted)", "FRR % (bona fide rejected)", "review %",
           "dev: FAR / FRR %"]


def operating_points(policy: DecisionPolicy, scores, y) -> list[dict]:
    """One dict per rule: rule, threshold (or band), far, frr (fractions, on the decided trials), review (share)."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(y).astype(np.int64)
    rows = []
    for mode in ("eer", "far", "frr", "bayes", "review"):
        decisions = policy.decide(s, mode=mode)
        spoof_decided = (y == 0) & (decisions != REVIEW)
        bona_decided = (y == 1) & (decisions != REVIEW)
        rows.append({
            "rule": mode,
            "threshold": ((policy.review_low, policy.review_high) if mode == "review" else policy.threshold(mode)),
            "far": _rate(decisions[spoof_decided] == BONA_FIDE),
            "frr": _rate(decisions[bona_decided] == SPOOF),
            "review": float(np.mean(decisions == REVIEW)) if s.size else float("nan"),
        })
    return rows


def rule_label(policy: DecisionPolicy, mode: str) -> str:
    return {"eer": "EER threshold (dev)", "far": f"FAR ≤ {policy.target_far:.0%} on dev",
            "frr": f"FRR ≤ {policy.target_frr:.0%} on dev", "bayes": "Bayes (LLR > −ln 1.9)",
            "review": f"review band: ≤ {policy.target_error:.0%} errors decided (dev)"}[mode]


def table_rows(name: str, policy: DecisionPolicy, dev_scores, dev_y, eval_scores, eval_y) -> list[list[str]]:
    dev = {r["rule"]: r for r in operating_points(policy, dev_scores, dev_y)}
    rows = []
    for r in operating_points(policy, eval_scores, eval_y):
        t = r["threshold"]
        threshold = f"({t[0]:.4g}, {t[1]:.4g}]" if isinstance(t, tuple) else f"{t:.4g}"
        d = dev[r["rule"]]
        rows.append([name, rule_label(policy, r["rule"]), threshold, _pct(r["far"]), _pct(r["frr"]),
                     _pct(r["review"]) if r["rule"] == "review" else "—", f"{_pct(d['far'])} / {_pct(d['frr'])}"])
    return rows


def operating_point_blocks(outcome, seed=None) -> list:
    """Report blocks (``benchmark.report`` format) of the operating points of every finished system and fusion
    of the first seed: the policy fitted on its dev scores, measured on eval."""
    seed = outcome.seeds[0] if seed is None else seed
    dev, evl = outcome.dev_scores.get(seed, {}), outcome.scores.get(seed, {})
    dev_y, eval_y = outcome.corpus.tables["dev"].y, outcome.corpus.tables["eval"].y
    rows, problems = [], []
    names = list(dict.fromkeys([r.label for r in outcome.systems] + [f.label for f in outcome.fusions]))
    for name in names:
        if name not in dev or name not in evl:
            continue
        try:
            policy = fit_decision_policy(dev[name], dev_y)
        except Exception as exc:  # one system's odd scores must not cost the whole report
            problems.append(f"{name}: {exc}")
            continue
        rows += table_rows(name, policy, dev[name], dev_y, evl[name], eval_y)
    if not rows:
        return []
    blocks = [("h2", "Operating points on eval (thresholds fitted on dev)"),
              ("p", "Each threshold is chosen on the dev scores and applied unchanged to eval: the EER threshold, "
                    "the lowest threshold accepting at most 1 % of dev spoofs (FAR), the highest rejecting at "
                    "most 1 % of dev bona fide (FRR), the Bayes threshold of the logistic-regression calibration "
                    "(ASVspoof 5 costs), and the narrowest review band with at most 1 % of either error among the "
                    "dev trials it decides. FAR and FRR are on the decided trials; review % = share of eval trials "
                    "sent to a person. Saved models carry this policy (`models/<system>.det`, read by "
                    "`bench score`, `bench export` and `bench serve`); fusions are reported here only."
                    + (f" Seed {seed}." if len(outcome.seeds) > 1 else "")),
              ("table", HEADERS, rows)]
    if problems:
        blocks.append(("ul", [f"no policy: {p}" for p in problems]))
    return blocks


def _rate(hits: np.ndarray) -> float:
    return float(np.mean(hits)) if hits.size else float("nan")


def _pct(value: float) -> str:
    return "—" if value != value else f"{100 * value:.2f}"
