"""The fusion stage of a run: each fusion fitted on dev scores and applied to eval, per seed."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..fusion import FusionError, fuse
from .corpus import Corpus
from .log import Log, log_to_stderr
from .scores import read_aligned_scores, same_scores, write_scores
from .systems import SystemRun, base_system_name


@dataclass
class FusionRun:
    system: str
    method: str
    seed: int | None
    members: list[str]
    left_out: dict[str, str]         # system -> why it is not in the fusion
    status: str = "done"
    error: str | None = None
    parameters: dict = field(default_factory=dict)
    score_file: str | None = None

    @property
    def label(self) -> str:
        """The fusion's name without its seed suffix (the row it has in the report)."""
        return base_system_name(self.system)


def run_fusions(methods: list[str], runs: list[SystemRun], corpus: Corpus, seeds: list[int | None],
                dev_scores, eval_scores, out: Path, *, log: Log = log_to_stderr) -> list[FusionRun]:
    """Fit each fusion on dev scores and apply it to eval, per seed. Failed detectors are left out and
    named; fusion needs at least two finished systems (calibration needs one)."""
    if not methods:
        return []
    failed = {r.label: r.error or r.status for r in runs if not r.ok}
    dev_y = corpus.tables["dev"].y
    results = []
    for seed in seeds:
        suffix = "" if len(seeds) == 1 else f".seed{seed}"
        available = dev_scores[seed]
        jobs = []
        for method in methods:
            if method == "calibrate":
                jobs += [(f"{s}+cal", "logreg", [s]) for s in available]
            else:
                jobs.append((f"fused-{method}", method, list(available)))
        for name, method, members in jobs:
            left_out = {s: f"failed ({err})" for s, err in failed.items()} if not name.endswith("+cal") else {}
            fr = FusionRun(name + suffix, method, seed, members, left_out)
            results.append(fr)
            need = 1 if name.endswith("+cal") else 2
            if len(members) < need:
                fr.status, fr.error = "skipped", (f"needs {need} finished systems, has {len(members)}"
                                                   + (f"; left out: {', '.join(left_out)}" if left_out else ""))
                log(f"fusion {fr.system}: not done, {fr.error}")
                continue
            if left_out:
                log(f"fusion {fr.system}: fuses {', '.join(members)}; LEFT OUT: "
                    + "; ".join(f"{s}: {why}" for s, why in left_out.items()))
            try:
                fused = fuse(method, {m: dev_scores[seed][m] for m in members}, dev_y,
                             {m: eval_scores[seed][m] for m in members}, name=name, seed=seed or 0)
            except FusionError as exc:
                fr.status, fr.error = "failed", str(exc)
                log(f"fusion {fr.system}: failed: {exc}")
                continue
            fr.parameters = fused.parameters
            path = out / "scores" / f"{fr.system}.eval.txt"
            if not same_scores(path, corpus.tables["eval"], fused.scores):  # a re-run rewrites nothing
                write_scores(path, corpus.tables["eval"], fused.scores)
            fr.score_file = str(path)
            # Read back, as for the detectors: the report's numbers come from the files.
            eval_scores[seed][name] = read_aligned_scores(str(path), corpus.tables["eval"])
            dev_scores[seed][name] = fused.dev_scores  # in-sample; for the operating points fitted on dev
    return results
