"""The t-DCF needs soft scores: a system whose eval scores take fewer than 3 distinct values (pooled, or within
one attack's trials) gets the metrics' clear error as its failure instead of silently empty t-DCF columns."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spoofbench.protocols.files import write_text_atomic
from spoofbench.protocols.trials import TrialTable

from .fusion_stage import FusionRun
from .log import Log, log_to_stderr
from .scores import read_aligned_scores
from .systems import SystemRun

#: The official t-DCF code's minimum (fewer is a hard decision, not a score).
MIN_DISTINCT = 3


def hard_decision_problem(scores: np.ndarray, trials: TrialTable) -> str | None:
    """Why these eval scores cannot give a t-DCF (pooled, then per attack), or None when they can."""
    is_bona = trials["label"] == "bonafide"
    groups = [("", np.ones(len(trials), bool))]
    attacks = sorted(set(trials["attack"][~is_bona]))
    groups += [(f" among the bona fide and {a} trials", is_bona | (trials["attack"] == a)) for a in attacks]
    for where, mask in groups:
        n = np.unique(scores[mask]).size
        if n < MIN_DISTINCT:
            return (f"fewer than 3 distinct scores ({n}{where} on eval): t-DCF needs soft scores, "
                    "not binary decisions")
    return None


def fail_hard_decision_systems(runs: list[SystemRun], trials: TrialTable, out: Path, *,
                               log: Log = log_to_stderr) -> None:
    """Mark each finished detector whose eval scores are hard decisions as failed (its score files stay)."""
    for run in runs:
        if not run.ok:
            continue
        problem = hard_decision_problem(read_aligned_scores(run.score_files["eval"], trials), trials)
        if problem:
            run.status, run.error = "failed", f"{run.system}: {problem}"
            # the report links every failed detector's log
            write_text_atomic(out / "logs" / f"{run.system}.traceback.txt", run.error + "\n")
            log(f"FAILED: {run.error}")


def fail_hard_decision_fusions(fusions: list[FusionRun], eval_scores, trials: TrialTable, *,
                               log: Log = log_to_stderr) -> None:
    """The same for fused systems; a failed fusion's scores are taken out of the report's input."""
    for fr in fusions:
        if fr.status != "done" or fr.score_file is None:
            continue
        problem = hard_decision_problem(eval_scores[fr.seed][fr.label], trials)
        if problem:
            fr.status, fr.error = "failed", f"{fr.system}: {problem}"
            del eval_scores[fr.seed][fr.label]
            log(f"fusion {fr.system}: failed: {problem}")
