"""The t-DCF needs soft scores: a system whose eval scores are hard decisions (the rule of
:func:`spoofbench.benchmark.evaluation.hard_decision_problem`, pooled or within one attack's trials) gets that
error as its failure, instead of stopping the whole report."""
from __future__ import annotations

from pathlib import Path

from spoofbench.protocols.files import write_text_atomic
from spoofbench.protocols.trials import TrialTable

from ..evaluation import hard_decision_problem
from .fusion_stage import FusionRun
from .log import Log, log_to_stderr
from .systems import SystemRun


def fail_hard_decision_systems(runs: list[SystemRun], dev_scores, eval_scores, trials: TrialTable, out: Path, *,
                               log: Log = log_to_stderr) -> None:
    """Mark each finished detector whose eval scores are hard decisions as failed (its score files stay) and
    take its scores out of the fusions' and the report's input."""
    for run in runs:
        if not run.ok:
            continue
        scores = next(per_seed[run.label] for per_seed in eval_scores.values() if run.label in per_seed)
        problem = hard_decision_problem(scores, trials)
        if problem:
            run.status, run.error = "failed", f"{run.system}: {problem}"
            # the report links every failed detector's log
            write_text_atomic(out / "logs" / f"{run.system}.traceback.txt", run.error + "\n")
            log(f"FAILED: {run.error}")
            for seed, per_seed in eval_scores.items():
                if run.seed is None or run.seed == seed:
                    per_seed.pop(run.label, None)
                    dev_scores[seed].pop(run.label, None)


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
