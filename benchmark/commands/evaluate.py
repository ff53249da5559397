"""``bench eval``: metrics of one or more CM score files against a corpus protocol (table, JSON, DET plots)."""
from __future__ import annotations

import json
import os
import sys
import time
import warnings

import click

from spoofbench.protocols.errors import BenchError

from ..tables import FORMATS

_EXTENSIONS = {"table": "txt", "github": "md", "latex": "tex", "csv": "csv"}


@click.command("eval")
@click.option("--scores", "score_files", multiple=True, required=True, metavar="[NAME=]FILE",
              help="CM score file (2019 'UTT ATTACK KEY SCORE', 2021 'TRIAL SCORE', ASVspoof 5 TSV or the "
                   "'path,score' CSV of bench score; higher = bona fide). Repeat for several systems; NAME= sets the "
                   "system's name (default: file name).")
@click.option("--data", "data_root", required=True, metavar="ROOT", help="Corpus folder (holds the protocol/keys).")
@click.option("--protocol", default=None, help="Corpus format (default: auto-detected; see `bench list`).")
@click.option("--keys", default=None, metavar="DIR", help="Folder of separately distributed keys (ASVspoof 2021).")
@click.option("--split", default="eval", show_default=True, help="Protocol split the scores belong to.")
@click.option("--asv-scores", default=None, metavar="FILE",
              help="ASV score file for the t-DCF (default: the corpus's own, when it has one).")
@click.option("--where", "conditions", multiple=True, metavar="COLUMN=VALUE",
              help="Keep only trials with this metadata value, e.g. subset=eval for the ASVspoof 2021 ranking set "
                   "(repeatable; ASV trials are selected the same way when their keys have the column).")
@click.option("--by", "breakdowns", multiple=True, metavar="COLUMN",
              help="Metadata column to break results down by (repeatable; default: codec, transmission, vocoder "
                   "when the protocol has them). Per-attack rows are always given.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--out", default=None, metavar="DIR",
              help="Also write metrics.json, the table and DET plots / score histograms (PNG + PDF) here.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Draw plots (with --out).")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap replicates for the 95 % confidence intervals (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
def evaluate(score_files, data_root, protocol, keys, split, asv_scores, conditions, breakdowns, fmt, out, plots,
             n_bootstrap, seed):
    """Evaluate CM score files: EER, min t-DCF (2019 and 2021 forms), minDCF, actDCF and Cllr, pooled and per
    attack, with bootstrap confidence intervals."""
    from spoofbench.protocols import load_trials
    from spoofbench.protocols.registry import asv_score_file

    from ..evaluation import DEFAULT_BREAKDOWNS, evaluate_systems
    from ..scorefiles import align_scores, read_asv_scores, read_scores
    from ..tables import format_metrics

    started = time.perf_counter()
    if protocol is None:
        from spoofbench.protocols import detect_protocol

        protocol = detect_protocol(data_root)
    trials = _select_split(load_trials(data_root, protocol, keys=keys), split, data_root)
    where = _parse_conditions(conditions, trials)
    for column, value in where:
        trials = trials[trials[column] == value]
    systems = _name_systems(score_files)
    scores = {}
    for name, path in systems.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scores[name] = align_scores(trials, read_scores(path), path)
        for w in caught:
            click.echo(f"warning: {w.message}", err=True)
    asv_path = asv_scores or asv_score_file(data_root, split, protocol, keys=keys)
    asv = read_asv_scores(asv_path) if asv_path else None
    if asv is not None:
        for column, value in where:
            asv = asv.where(column, value)
        click.echo(f"ASV scores for the t-DCF: {asv_path} ({asv.target.size} target, {asv.nontarget.size} nontarget, "
                   f"{asv.spoof.size} spoof trials)", err=True)
    columns = breakdowns or DEFAULT_BREAKDOWNS
    missing = [c for c in breakdowns if c not in trials.columns]
    if missing:
        raise BenchError(f"--by {missing[0]}: the protocol has no such column (it has: "
                         f"{', '.join(trials.extra_columns) or 'no metadata columns'})")
    result = evaluate_systems(scores, trials, asv=asv, n_bootstrap=n_bootstrap, seed=seed, breakdowns=columns,
                              progress=sys.stderr.isatty())
    result["inputs"] = {"scores": systems, "asv_scores": asv_path, "data": os.path.abspath(data_root),
                        "protocol": protocol, "split": split, "where": dict(where), "n_trials": len(trials)}
    text = format_metrics(result, fmt)
    click.echo(text, nl=False)
    if out:
        for path in _write_outputs(out, result, text, fmt, scores, trials, plots):
            click.echo(f"wrote {path}", err=True)
    click.echo(f"evaluated {len(systems)} system(s) on {len(trials)} trials in {time.perf_counter() - started:.1f} s",
               err=True)


def _select_split(trials, split: str, root: str):
    available = sorted(set(trials["split"]))
    if split not in available:
        raise BenchError(f"{root}: no {split!r} trials in the protocol (splits: {', '.join(available) or 'none'}); "
                         "choose one with --split")
    return trials[trials["split"] == split]


def _parse_conditions(conditions, trials) -> list[tuple[str, str]]:
    where = []
    for spec in conditions:
        column, sep, value = spec.partition("=")
        if not sep or not column:
            raise BenchError(f"--where {spec}: expected COLUMN=VALUE, e.g. subset=eval")
        if column not in trials.columns:
            raise BenchError(f"--where {spec}: the protocol has no column {column!r} (it has: "
                             f"{', '.join(trials.columns)})")
        present = set(trials[column])
        if value not in present:
            raise BenchError(f"--where {spec}: no trial has {column} = {value!r} (values: "
                             f"{', '.join(sorted(present)[:20])})")
        where.append((column, value))
    return where


def _name_systems(score_files) -> dict[str, str]:
    systems: dict[str, str] = {}
    for spec in score_files:
        name, path = _split_spec(spec)
        if name in systems:
            raise BenchError(f"two score files give the system name {name!r}: name them with --scores NAME=FILE")
        systems[name] = path
    return systems


def _split_spec(spec: str) -> tuple[str, str]:
    if "=" in spec and not os.path.exists(spec):
        name, path = spec.split("=", 1)
        if name and path:
            return name, path
    base = os.path.basename(spec)
    for ext in (".txt", ".tsv", ".scores", ".csv"):
        if base.endswith(ext):
            base = base[: -len(ext)]
    return base or spec, spec


def _write_outputs(out: str, result: dict, text: str, fmt: str, scores, trials, plots: bool) -> list[str]:
    from spoofbench.protocols.files import write_text_atomic

    os.makedirs(out, exist_ok=True)
    written = [os.path.join(out, "metrics.json")]
    write_text_atomic(written[0], json.dumps(result, indent=2, allow_nan=False) + "\n")
    if fmt in _EXTENSIONS:
        written.append(os.path.join(out, f"metrics.{_EXTENSIONS[fmt]}"))
        write_text_atomic(written[-1], text)
    if plots:
        from ..plots import plot_det, plot_det_grid, plot_score_histograms

        is_bona = trials.is_bonafide
        written += plot_det({n: (s[is_bona], s[~is_bona]) for n, s in scores.items()}, os.path.join(out, "det"))
        written += plot_det_grid(scores, trials, os.path.join(out, "det_per_attack"))
        for name, s in scores.items():
            written += plot_score_histograms(s, trials, os.path.join(out, f"hist_{_file_safe(name)}"),
                                             title=f"{name}: score histograms")
    return written


def _file_safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
