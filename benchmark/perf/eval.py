"""``bench perf eval``: wall time of ``bench eval`` on a synthetic ASVspoof 2019 LA-layout corpus."""
from __future__ import annotations

import os
import sys
import time

import click

from spoofbench.protocols.errors import BenchError


@click.command("eval")
@click.option("--trials", "n_trials", type=click.IntRange(min=1000), default=100_000, show_default=True,
              help="Trials in the synthetic score file (10 % bona fide, 13 attacks as ASVspoof 2019 LA eval).")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs per case; the median is reported.")
@click.option("--keep", default=None, metavar="DIR", help="Build the corpus here and keep it (default: a temp dir).")
def perf_eval(n_trials, n_bootstrap, repeat, keep):
    """Wall time of `bench eval` (a fresh process each run: start-up, protocol and score reading, metrics,
    bootstrap, output) on a synthetic ASVspoof 2019 LA-layout corpus with an ASV score file."""
    import statistics
    import subprocess
    import tempfile

    from tabulate import tabulate

    root = keep or tempfile.mkdtemp(prefix="bench-perf-eval-")
    scores = _synthetic_corpus(root, n_trials)
    base = [sys.executable, "-m", "spoofbench.benchmark.cli", "eval", "--scores", scores, "--data", root,
            "--bootstrap", str(n_bootstrap)]
    cases = [("table to stdout", base),
             ("JSON to stdout", base + ["--format", "json"]),
             ("--out DIR (JSON, table, DET + histogram PNG/PDF)", base + ["--out", os.path.join(root, "out")])]
    rows = []
    for label, cmd in cases:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise BenchError(f"bench eval failed: {proc.stderr.strip().splitlines()[-1]}")
        rows.append([label, f"{statistics.median(times):.2f}", f"{min(times):.2f}", f"{max(times):.2f}"])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    click.echo(f"bench eval on {n_trials} trials, {n_bootstrap} bootstrap replicates, {repeat} runs per case "
               f"(cpus {os.cpu_count()}, load average {load:.2f}):")
    click.echo(tabulate(rows, headers=["case", "median s", "min s", "max s"]))
    click.echo("target: under 5 s including the bootstrap")
    if not keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def _synthetic_corpus(root: str, n_trials: int) -> str:
    """An ASVspoof 2019 LA-layout eval protocol, its ASV score file and one CM score file; returns the latter."""
    import numpy as np

    rng = np.random.default_rng(0)
    attacks = np.array([f"A{i:02d}" for i in range(7, 20)])
    n_bona = n_trials // 10
    is_bona = np.arange(n_trials) < n_bona
    attack = np.where(is_bona, "-", attacks[rng.integers(0, attacks.size, n_trials)])
    difficulty = rng.uniform(1, 4, attacks.size)[np.searchsorted(attacks, attack).clip(0, attacks.size - 1)]
    score = np.where(is_bona, rng.normal(2, 1, n_trials), rng.normal(2 - difficulty, 1.2, n_trials))
    utt = [f"LA_E_{i:07d}" for i in range(n_trials)]
    from spoofbench.protocols.asvspoof import LA2019_ASV_SCORE_DIR, LA2019_ASV_SCORE_FILE, LA2019_CM_DIR, LA2019_SPLITS

    base = os.path.join(root, "LA")
    proto_dir = os.path.join(base, LA2019_CM_DIR)
    asv_dir = os.path.join(base, LA2019_ASV_SCORE_DIR)
    os.makedirs(proto_dir, exist_ok=True)
    os.makedirs(asv_dir, exist_ok=True)
    with open(os.path.join(proto_dir, LA2019_SPLITS["eval"][0]), "w") as fh:
        fh.writelines(f"LA_{i % 67:04d} {u} - {a} {'bonafide' if b else 'spoof'}\n"
                      for i, (u, a, b) in enumerate(zip(utt, attack, is_bona)))
    n_spoof_asv = n_trials - n_bona
    spoof_attack = attacks[rng.integers(0, attacks.size, n_spoof_asv)]
    with open(os.path.join(asv_dir, LA2019_ASV_SCORE_FILE.format(split="eval")), "w") as fh:
        fh.writelines(f"bonafide target {v:.6f}\n" for v in rng.normal(3, 1.5, n_bona // 2))
        fh.writelines(f"bonafide nontarget {v:.6f}\n" for v in rng.normal(-3, 1.5, n_bona * 3))
        fh.writelines(f"{a} spoof {v:.6f}\n" for a, v in zip(spoof_attack, rng.normal(1.5, 2, n_spoof_asv)))
    path = os.path.join(root, "cm_scores.txt")
    with open(path, "w") as fh:
        fh.writelines(f"{u} {a} {'bonafide' if b else 'spoof'} {s!r}\n"
                      for u, a, b, s in zip(utt, attack, is_bona, score.tolist()))
    return path
