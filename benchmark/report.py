"""The report of a ``bench run``: metrics, tables, DET curves, ``report.md``/``report.html`` and provenance.

Written into the run folder (every file atomically)::

    metrics.json                 the structure of ``bench eval --format json`` (fused systems included); with
                                 several seeds each metric is the mean over seeds, ``<metric>_std`` its standard
                                 deviation, and ``per_seed`` holds every seed's own result
    tables/per_attack.{md,tex,csv,txt}   per-attack tables (EER and min t-DCF with 95 % CIs, minDCF, actDCF, Cllr)
    tables/summary.{md,csv}      one row per system: pooled metrics (mean ± std over seeds), status, timings
    plots/det.{png,pdf}          DET curves of all systems overlaid (eval)
    plots/det_per_attack.{png,pdf}   one DET panel per attack
    plots/histograms.{png,pdf}   score histograms per class and attack
    report.md, report.html       the same tables and images, readable as they are (the HTML embeds the images)
    run.json                     provenance: command, config, git revision, package versions, protocol file
                                 hashes, seeds, wall time per stage, parameter counts, real-time factors
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tabulate import tabulate

from spoofbench.detectors.base import jsonable
from spoofbench.protocols.files import write_text_atomic

from . import metric_specs
from .provenance import run_record

if TYPE_CHECKING:  # the report reads what the pipeline produced; it does not import the pipeline
    from .pipeline import RunOutcome, RunRequest

TABLE_FORMATS = {"md": "github", "tex": "latex", "csv": "csv", "txt": "table"}

Log = Callable[[str], None]


@dataclass
class Report:
    markdown: Path
    html: Path
    metrics_json: Path
    run_json: Path
    terminal_text: str
    failed: list[str] = field(default_factory=list)


def write_report(outcome: RunOutcome, req: RunRequest, *, started: float | None = None,
                 log: Log = lambda m: None) -> Report:
    out = outcome.out
    for sub in ("tables", "plots"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    asv = _read_asv(outcome)
    per_seed = evaluate(outcome, req, asv)
    metrics = combine_seeds(per_seed, outcome.seeds)
    metrics["inputs"] = metric_inputs(outcome, metrics)
    from .tables import format_metrics

    write_text_atomic(out / "metrics.json", format_metrics(jsonable(metrics), "json"))  # as bench eval writes it
    outcome.stage_times["metrics"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tables = write_tables(out, metrics, outcome)
    outcome.stage_times["tables"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    images = write_plots(out, outcome, log) if req.plots else []
    outcome.stage_times["plots"] = time.perf_counter() - t0

    blocks = report_blocks(outcome, req, metrics, tables, images, asv)
    if getattr(outcome, "robustness", None) is not None:  # --conditions: the degradation benchmark's section
        from .robustness.report import robustness_blocks, write_robustness

        t0 = time.perf_counter()
        written = write_robustness(out, outcome.robustness, plots=req.plots, log=log)
        at = next(i for i, blk in enumerate(blocks) if blk == ("h2", "Files"))
        blocks[at:at] = robustness_blocks(outcome.robustness, written, out)
        outcome.stage_times["robustness_report"] = time.perf_counter() - t0
    if getattr(req, "explain", False):  # bench run --explain: its own section, before the list of files
        from .explain_section import explanation_blocks

        t0 = time.perf_counter()
        at = next((i for i, b in enumerate(blocks) if b[:2] == ("h2", "Files")), len(blocks))
        blocks[at:at] = explanation_blocks(outcome, req, log)
        outcome.stage_times["explain"] = time.perf_counter() - t0
    md_path, html_path = out / "report.md", out / "report.html"
    write_text_atomic(md_path, render_markdown(blocks))
    write_text_atomic(html_path, render_html(blocks, out, title=f"spoofbench report: {out.name}"))
    run_json = out / "run.json"
    write_text_atomic(run_json, json.dumps(jsonable(run_record(outcome, req, started)), indent=1, default=str))
    return Report(md_path, html_path, out / "metrics.json", run_json, tables["terminal"],
                  [r.system for r in outcome.systems if not r.ok])


# ---- metrics ----------------------------------------------------------------------------------------
def _read_asv(outcome: RunOutcome):
    path = outcome.corpus.asv_files.get("eval")
    if not path:
        return None
    from .scorefiles import read_asv_scores

    return read_asv_scores(path)


def system_order(outcome: RunOutcome) -> list[str]:
    names = list(dict.fromkeys(r.label for r in outcome.systems))
    names += list(dict.fromkeys(f.label for f in outcome.fusions))
    return names


def evaluate(outcome: RunOutcome, req: RunRequest, asv) -> dict:
    """Seed -> the evaluation result of every finished system (detectors and fusions) on the eval trials."""
    from .evaluation import evaluate_systems

    trials = outcome.corpus.tables["eval"]
    order = system_order(outcome)
    results = {}
    for seed in outcome.seeds:
        scores = outcome.scores[seed]
        ordered = {name: scores[name] for name in order if name in scores}
        if not ordered:
            continue
        results[seed] = evaluate_systems(ordered, trials, asv=asv, n_bootstrap=req.n_bootstrap, seed=0)
    return results


def metric_inputs(outcome: RunOutcome, metrics: dict) -> dict:
    """What ``bench eval`` records under ``inputs``: the score files (of the first seed), ASV file, corpus."""
    files = {}
    for r in outcome.systems:
        if r.ok and (r.seed is None or r.seed == outcome.seeds[0]):
            files[r.label] = r.score_files["eval"]
    for f in outcome.fusions:
        if f.score_file and (f.seed is None or f.seed == outcome.seeds[0]):
            files[f.label] = f.score_file
    c = outcome.corpus
    return {"scores": {n: files[n] for n in metrics["systems"] if n in files}, "asv_scores": c.asv_files.get("eval"),
            "data": c.root, "protocol": c.protocol, "split": "eval", "where": {}, "n_trials": len(c.tables["eval"])}


def combine_seeds(per_seed: dict, seeds: list) -> dict:
    """One seed: its result as it is. Several: each metric's mean over seeds, ``<metric>_std`` its standard
    deviation (ddof=1), ``n_seeds``, and the seeds' own results under ``per_seed``."""
    if not per_seed:
        return {"systems": {}, "costs": {}}
    if len(seeds) == 1:
        return next(iter(per_seed.values()))
    first = next(iter(per_seed.values()))
    names = list(dict.fromkeys(n for r in per_seed.values() for n in r["systems"]))
    systems = {}
    for name in names:
        runs = [r["systems"][name] for r in per_seed.values() if name in r["systems"]]
        systems[name] = {section: (_mean_std([run[section] for run in runs]) if section == "pooled" else
                                   {key: _mean_std([run[section][key] for run in runs if key in run[section]])
                                    for key in runs[0][section]})
                         for section in runs[0]}
    return {"systems": systems, "costs": first["costs"], "seeds": [s for s in seeds],
            "per_seed": {str(s): r for s, r in per_seed.items()}}


def _mean_std(cells: list[dict]) -> dict:
    out = {}
    for key, value in cells[0].items():
        if key.endswith("_ci"):
            out[key] = value if len(cells) == 1 else None  # a CI of one seed does not describe the mean
            continue
        values = [c.get(key) for c in cells]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) and key.startswith("n_"):
            out[key] = values[0]
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            arr = np.asarray(values, dtype=np.float64)
            out[key] = float(arr.mean())
            out[f"{key}_std"] = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
        else:
            out[key] = None if any(v is None for v in values) else values[0]
    out["n_seeds"] = len(cells)
    return out


# ---- tables -------------------------------------------------------------------------------------------
def write_tables(out: Path, metrics: dict, outcome: RunOutcome) -> dict:
    from .tables import format_metrics

    texts = {}
    for ext, fmt in TABLE_FORMATS.items():
        text = format_metrics(metrics, fmt) if metrics["systems"] else "(no system finished)"
        write_text_atomic(out / "tables" / f"per_attack.{ext}", text.rstrip() + "\n")
        texts[fmt] = text
    headers, rows = summary_rows(metrics, outcome)
    summary = tabulate(rows, headers, tablefmt="github", disable_numparse=True)
    write_text_atomic(out / "tables" / "summary.md", summary + "\n")
    write_text_atomic(out / "tables" / "summary.csv", _csv(headers, rows))
    pivots = []
    for spec in metric_specs.shown_in("pivot"):  # one metric per attack (rows) and system (columns)
        pivot = pivot_rows(metrics, outcome, spec)
        if pivot is not None:
            pivots.append((spec.pivot_title or f"{spec.title} per attack (eval)", *pivot, spec.lower_is_better))
    terminal = [tabulate(rows, headers, tablefmt="simple", disable_numparse=True)]
    terminal += [f"{title}\n" + tabulate(r, h, tablefmt="simple", disable_numparse=True) for title, h, r, _ in pivots]
    per_system_md = {name: format_metrics({"systems": {name: result}, "costs": metrics.get("costs", {})}, "github")
                     for name, result in metrics["systems"].items()}
    return {"per_attack_md": texts["github"], "per_system_md": per_system_md,
            "summary_headers": headers, "summary_rows": rows,
            "pivots": pivots, "terminal": "\n\n".join(terminal)}


def pivot_rows(metrics: dict, outcome: RunOutcome, spec: metric_specs.MetricSpec):
    """One metric per attack (rows: pooled, then attacks) and system (columns): the compact per-attack view."""
    names = [n for n in system_order(outcome) if n in metrics["systems"]]
    if not names:
        return None
    first = metrics["systems"][names[0]]
    if all(metrics["systems"][n]["pooled"].get(spec.key) is None for n in names):
        return None
    multi = len(outcome.seeds) > 1
    headers = ["attack", "bona/spoof"] + names
    rows = []
    for attack in ["pooled", *first.get("per_attack", {})]:
        ref = first["pooled"] if attack == "pooled" else first["per_attack"][attack]
        row = [attack, f"{ref['n_bonafide']}/{ref['n_spoof']}"]
        for n in names:
            sys_result = metrics["systems"][n]
            m = sys_result["pooled"] if attack == "pooled" else sys_result.get("per_attack", {}).get(attack, {})
            row.append(_cell(m, spec, multi, with_ci=False) if m else "—")
        rows.append(row)
    return headers, rows


def summary_rows(metrics: dict, outcome: RunOutcome) -> tuple[list[str], list[list[str]]]:
    """One row per system: pooled eval metrics (mean ± std over seeds when there are several), then status."""
    multi = len(outcome.seeds) > 1
    columns = metric_specs.shown_in("summary")
    training = training_by_system(outcome) if shows_training(outcome) else None
    headers = ["system"] + (["training"] if training is not None else []) + [spec.title for spec in columns] + \
        ["status"]
    status = _status_by_system(outcome)
    rows = []
    for name in system_order(outcome):
        pooled = metrics["systems"].get(name, {}).get("pooled")
        cells = [name] + ([training.get(name, "")] if training is not None else [])
        for spec in columns:
            cells.append(_cell(pooled, spec, multi, with_ci="summary" in spec.ci_shown) if pooled else "—")
        cells.append(status.get(name, "done"))
        rows.append(cells)
    return headers, rows


def describe_origin(origin: dict) -> str:
    """Where a system's model comes from, in words: "trained on X train", "pre-trained on ...", "pre-trained on
    ...; fine-tuned on X for N epochs", or the saved model file it was loaded from."""
    kind = origin.get("kind")
    if kind == "pretrained":
        return f"pre-trained on {origin.get('trained_on')}"
    if kind == "finetuned":
        return (f"pre-trained on {origin.get('trained_on')}; fine-tuned on {origin.get('corpus_name')} "
                f"for {epochs_text(origin.get('finetune_epochs'))}")
    if kind == "saved":
        spec = origin.get("spec") or origin.get("detector")
        return (f"saved model {os.path.basename(str(origin.get('file')))} ({spec}; trained on "
                f"{origin.get('trained_on') or 'unrecorded data'})")
    if kind == "trained":
        return f"trained on {origin.get('corpus_name')} train"
    return ""


def shows_training(outcome: RunOutcome) -> bool:
    """Whether the tables need a "training" column: some model was not trained on the scored corpus's train
    (pre-trained, fine-tuned, a saved model, --train-data). A plain run's column would only repeat itself."""
    if getattr(outcome, "train_corpus", None) is not None:
        return True
    return any((getattr(r, "origin", None) or {}).get("kind", "trained") != "trained" for r in outcome.systems)


def epochs_text(n) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def training_by_system(outcome: RunOutcome) -> dict[str, str]:
    """Report row name -> where its model comes from (fusions: fitted on the scored corpus's dev)."""
    out = {}
    for r in outcome.systems:
        out.setdefault(r.label, describe_origin(getattr(r, "origin", None) or {}))
    corpus = getattr(outcome, "corpus", None)
    where = os.path.basename(os.path.normpath(corpus.root)) if corpus is not None else "the"
    for f in outcome.fusions:
        out.setdefault(f.label, f"fitted on {where} dev")
    return out


def _cell(m: dict, spec: metric_specs.MetricSpec, multi: bool, with_ci: bool) -> str:
    key, digits = spec.key, spec.digits
    value = m.get(key)
    if value is None:
        return "—"
    text = f"{value:.{digits}f}"
    if multi and m.get(f"{key}_std") is not None:
        return f"{text} ± {m[f'{key}_std']:.{digits}f}"
    ci = m.get(f"{key}_ci")
    if with_ci and ci:
        text += f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return text


def _status_by_system(outcome: RunOutcome) -> dict[str, str]:
    status = {}
    for r in outcome.systems:
        if not r.ok:
            status[r.label] = f"FAILED: {_one_line(r.error)}"
        elif r.cached and status.get(r.label) is None:
            status[r.label] = "done (cached)"
    for f in outcome.fusions:
        name = f.label
        if f.status != "done":
            status[name] = f"{f.status}: {_one_line(f.error)}"
        elif f.left_out:
            status[name] = "done; left out: " + ", ".join(f.left_out)
    return status


def _csv(headers, rows) -> str:
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buf.getvalue()


def _one_line(text: str | None, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ---- plots ----------------------------------------------------------------------------------------------
def write_plots(out: Path, outcome: RunOutcome, log: Log) -> list[tuple[str, Path]]:
    """DET curves (overlaid, per attack) and each system's score histograms, from the first seed's eval
    scores; returns (title, PNG path) pairs. A plot that fails to draw costs a warning, never the computed
    numbers; a file that cannot be written (OSError) stops the report."""
    from . import plots

    seed = outcome.seeds[0]
    order = [n for n in system_order(outcome) if n in outcome.scores.get(seed, {})]
    if not order:
        return []
    scores = {n: outcome.scores[seed][n] for n in order}
    trials = outcome.corpus.tables["eval"]
    bona = trials.is_bonafide
    jobs = [("DET curves (eval, pooled over attacks)", "det",
             lambda stem: plots.plot_det({n: (s[bona], s[~bona]) for n, s in scores.items()}, stem,
                                         title="DET curves, eval")),
            ("DET curves per attack", "det_per_attack", lambda stem: plots.plot_det_grid(scores, trials, stem))]
    for name in order:
        jobs.append((f"Score histograms: {name}", f"hist_{_file_safe(name)}",
                     lambda stem, name=name: plots.plot_score_histograms(scores[name], trials, stem,
                                                                         title=f"{name}: eval scores")))
    images = []
    for title, stem, draw in jobs:
        try:
            written = draw(str(out / "plots" / stem))
        except OSError:
            raise  # full disk, read-only folder: the report stops with one line naming the file
        except Exception as exc:  # a plotting error costs that figure only
            log(f"warning: plot {stem} failed: {type(exc).__name__}: {exc}")
            continue
        png = [Path(p) for p in written if str(p).endswith(".png")]
        if png:
            images.append((title, png[0]))
    return images


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name)


# ---- report document ------------------------------------------------------------------------------------
def report_blocks(outcome: RunOutcome, req: RunRequest, metrics: dict, tables: dict, images: dict, asv) -> list:
    """The report as a list of blocks, rendered to Markdown and HTML alike (same tables, same images)."""
    c = outcome.corpus
    b: list = [("h1", f"Benchmark report: {outcome.out.name}")]
    counts = ", ".join(f"{s} {len(t)} ({int(t.is_bonafide.sum())} bona fide)" for s, t in c.tables.items())
    asv_text = (f"`{os.path.relpath(c.asv_files['eval'], c.root)}` ({len(asv.target)} target, "
                f"{len(asv.nontarget)} nontarget, {len(asv.spoof)} spoof trials)" if asv is not None else
                "none: the t-DCF columns are empty (pass `--asv-scores FILE`)")
    seeds = ", ".join(str(s) for s in outcome.seeds) if outcome.seeds != [None] else "the detectors' defaults"
    subset = ""
    if req.fraction is not None or req.max_trials is not None:
        subset = (" — a random subset of each split (" + ", ".join(
            x for x in (f"fraction {req.fraction}" if req.fraction else "",
                        f"at most {req.max_trials} trials" if req.max_trials else "") if x)
            + f", seed {req.subset_seed})")
    train = getattr(outcome, "train_corpus", None)
    if train is not None:
        train_counts = ", ".join(f"{s} {len(t)} ({int(t.is_bonafide.sum())} bona fide)"
                                 for s, t in train.tables.items())
        corpus_lines = [f"Training corpus: `{train.root}` (protocol `{train.protocol}`): {train_counts} "
                        f"trials{subset}; the trained systems learnt on its train split and were selected on its dev",
                        f"Evaluation corpus: `{c.root}` (protocol `{c.protocol}`): {counts} trials{subset}; "
                        "scored, calibrated and fused on its dev, evaluated on its eval"]
    else:
        corpus_lines = [f"Corpus: `{c.root}` (protocol `{c.protocol}`): {counts} trials{subset}"]
    b.append(("ul", [f"Command: `{' '.join(req.command) or 'bench run'}`", *corpus_lines,
                     f"ASV scores for the t-DCF: {asv_text}",
                     f"Seeds: {seeds}; bootstrap: {req.n_bootstrap} resamples (95 % CIs)",
                     f"Written: {_dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}"]))
    b.append(("h2", "Results on eval (pooled over attacks)"))
    if len(outcome.seeds) > 1:
        b.append(("p", f"Mean ± standard deviation over {len(outcome.seeds)} seeds "
                       "(detectors without a seed hyperparameter ran once)."))
    else:
        b.append(("p", "EER in percent with its 95 % bootstrap confidence interval."))
    b.append(("table", tables["summary_headers"], tables["summary_rows"]))
    b += _failure_blocks(outcome)
    for title, headers, rows, lower_is_better in tables["pivots"]:
        b.append(("h2", title))
        b.append(("table", headers, _bold_best(rows, lower_is_better)))
    b.append(("p", "Each attack's spoof trials against all bona fide eval trials; `pooled` = all trials; the best "
                   "value of each row in bold; — = not computable (no ASV scores, or an ASV operating point that "
                   "accepts no spoof of that attack, where the t-DCF is undefined). "
                   + ("Mean ± std over seeds." if len(outcome.seeds) > 1 else "")))
    b += _image_blocks(outcome, [(t, p) for t, p in images if t.startswith("DET")])
    b.append(("h2", "All metrics per attack (eval)"))
    b.append(("p", "One table per system (all systems side by side: `tables/per_attack.md`, `.tex`, `.csv`). "
                   + ("EER % and min t-DCF / minDCF with 95 % bootstrap CIs." if len(outcome.seeds) == 1 else
                      "Means over seeds (the spread is in the tables above and in `metrics.json`).")))
    for name, text in tables["per_system_md"].items():
        b.append(("h3", name))
        b.append(("pipe", text))
    b += _image_blocks(outcome, [(t, p) for t, p in images if not t.startswith("DET")])
    b += _fusion_blocks(outcome)
    b += _operating_point_blocks(outcome)
    b += _systems_blocks(outcome)
    b += _pretrained_blocks(outcome)
    if c.skipped:
        b.append(("h2", f"Left out: {len(c.skipped)} bad audio file(s)"))
        b.append(("ul", [f"`{p}`: {problem}" for p, problem in c.skipped]))
    b.append(("h2", "Files"))
    b.append(("ul", ["`scores/<system>.<split>.txt`: score files (ASVspoof 2019 CM format `UTT ATTACK KEY SCORE`)",
                     "`metrics.json`: every number of this report (the structure of `bench eval --format json`)",
                     "`tables/`: the tables as Markdown, LaTeX, CSV and text; `plots/`: PNG and PDF",
                     "`run.json`: provenance (command, config, revision, versions, hashes, timings)",
                     "`models/<system>.det`: the fitted detectors (`bench score --checkpoint`)"]))
    return b


def _image_blocks(outcome: RunOutcome, images) -> list:
    blocks = []
    for title, png in images:
        blocks.append(("h2", title))
        if len(outcome.seeds) > 1:
            blocks.append(("p", f"Scores of seed {outcome.seeds[0]}."))
        blocks.append(("img", os.path.relpath(png, outcome.out), title))
    return blocks


def _bold_best(rows: list[list[str]], lower_is_better: bool = True) -> list[list[str]]:
    """Bold the best value of each row (columns after the first two; ties all bold)."""
    out = []
    for row in rows:
        values = [_leading_number(c) for c in row[2:]]
        finite = [v for v in values if v is not None]
        best = (min(finite) if lower_is_better else max(finite)) if len(finite) > 1 else None
        out.append(row[:2] + [f"**{c}**" if best is not None and v == best else c for c, v in zip(row[2:], values)])
    return out


def _leading_number(cell: str) -> float | None:
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)", cell)
    return float(m.group(1)) if m else None


def _failure_blocks(outcome: RunOutcome) -> list:
    failed = [r for r in outcome.systems if not r.ok]
    if not failed:
        return []
    items = [f"**{r.system}** failed: `{_one_line(r.error, 400)}` (traceback: `logs/{r.system}.traceback.txt`)"
             for r in failed]
    return [("h2", "Failed detectors"), ("ul", items),
            ("p", "Their rows are empty and they are not part of any fusion. Rerun the same command to retry "
                  "them; the finished systems are reused.")]


def _fusion_blocks(outcome: RunOutcome) -> list:
    if not outcome.fusions:
        return []
    items = []
    for f in outcome.fusions:
        what = {"logreg": "logistic-regression fusion (calibrated LLRs)", "xgboost": "xgboost stacking",
                "mean": "mean of dev-standardised scores"}.get(f.method, f.method)
        if f.system.split(".seed")[0].endswith("+cal"):
            what = "logistic-regression calibration"
        text = f"**{f.system}**: {what} of {', '.join(f.members) or 'nothing'}"
        if f.status != "done":
            text += f" — not computed: {f.error}"
        elif f.method == "logreg" and f.parameters.get("weights") is not None:
            w = ", ".join(f"{v:.3g}" for v in f.parameters["weights"])
            text += f"; weights [{w}], bias {f.parameters['bias']:.3g}"
        if f.left_out:
            text += "; LEFT OUT: " + "; ".join(f"{s} ({why})" for s, why in f.left_out.items())
        items.append(text)
    return [("h2", "Fusion"),
            ("p", "Fitted on the dev scores only and applied unchanged to eval. The logistic regression is "
                  "prior-weighted (bona fide prior 0.655, the effective prior of the ASVspoof 5 costs), so its "
                  "output is a natural-log LLR and actDCF/Cllr are meaningful for it."),
            ("ul", items)]


def _operating_point_blocks(outcome: RunOutcome) -> list:
    """Calibrated decisions and the review band on eval (spoofbench.deploy; its own section of the report)."""
    from spoofbench.deploy.operating_points import operating_point_blocks

    return operating_point_blocks(outcome)


def _systems_blocks(outcome: RunOutcome) -> list:
    shown = shows_training(outcome)
    headers = ["system"] + (["training"] if shown else []) + ["status", "parameters", "fit s", "score eval s",
                                                              "eval RTF"]
    rows = []
    for r in outcome.systems:
        t = r.timings or {}
        origin = [describe_origin(r.origin)] if shown else []
        rows.append([r.system, *origin, "done (cached)" if r.cached else r.status,
                     f"{r.n_parameters:,}" if r.n_parameters is not None else "—",
                     _fmt(t.get("fit_s"), 1), _fmt(t.get("score_eval_s"), 1), _fmt(t.get("rtf_eval"), 4)])
    return [("h2", "Detectors"),
            ("p", "Fit on train (dev passed for model selection), scored on dev and eval; pre-trained systems and "
                  "saved models are not fitted, only scored. RTF = scoring time / "
                  "audio duration (features included; cached features make it lower). Timings of cached "
                  "systems are those of the run that computed them."),
            ("table", headers, rows)]


def _pretrained_blocks(outcome: RunOutcome) -> list:
    """The shipped weights the pre-trained systems use: what they were trained on, their sha256, source and
    licence (the same as run.json's ``pretrained``)."""
    rows = []
    for r in outcome.systems:
        info = r.pretrained
        if info:
            epochs = int(info.get("finetune_epochs") or 0)
            where = r.origin.get("corpus_name") or "its training corpus"
            rows.append([r.system, info.get("name"), info.get("trained_on"),
                         f"{epochs_text(epochs)} on {where}" if epochs else "no (frozen)",
                         f"`{info.get('sha256')}`", info.get("source"), info.get("licence")])
    if not rows:
        return []
    return [("h2", "Pre-trained weights"),
            ("p", "Shipped with the package, checksum verified on load; not trained on this run's corpus unless "
                  "fine-tuned."),
            ("table", ["system", "weights", "trained on", "fine-tuned", "sha256", "source", "licence"], rows)]


def _fmt(value, digits) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


# ---- rendering ------------------------------------------------------------------------------------------
def render_markdown(blocks: list) -> str:
    parts = []
    for block in blocks:
        kind = block[0]
        if kind == "h1":
            parts.append(f"# {block[1]}")
        elif kind == "h2":
            parts.append(f"## {block[1]}")
        elif kind == "h3":
            parts.append(f"### {block[1]}")
        elif kind == "p":
            parts.append(block[1])
        elif kind == "ul":
            parts.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            parts.append(tabulate(block[2], block[1], tablefmt="github", disable_numparse=True))
        elif kind == "pipe":
            parts.append(block[1].rstrip())
        elif kind == "img":
            parts.append(f"![{block[2]}]({block[1]})")
    return "\n\n".join(parts) + "\n"


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #ddd;padding-bottom:.3em}h2{font-size:1.25em;margin-top:1.8em}
h3{font-size:1.05em;margin-top:1.4em}
table{border-collapse:collapse;margin:1em 0;font-size:.88em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
td.text,th.text{text-align:left;white-space:normal}
tr:nth-child(even) td{background:#fafafa}
code{background:#f3f3f3;padding:.1em .3em;border-radius:3px;font-size:.92em}
img{max-width:100%;border:1px solid #eee}.scroll{overflow-x:auto}
"""


def render_html(blocks: list, base: Path, title: str) -> str:
    """A self-contained page: the images are embedded as data URIs, so the file can be sent on its own."""
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{_inline(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            body.append(_html_table(block[1], block[2]))
        elif kind == "pipe":  # one or more pipe tables, maybe with a line of text between them
            for chunk in re.split(r"\n\s*\n", block[1].strip()):
                headers, rows = _parse_pipe_table(chunk)
                body.append(_html_table(headers, rows) if headers else f"<p>{_inline(chunk)}</p>")
        elif kind == "img":
            data = base64.b64encode((base / block[1]).read_bytes()).decode()
            body.append(f'<p><img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}"></p>')
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


def _inline(text: str) -> str:
    """The little Markdown the report uses inline: `code` and **bold**."""
    out = []
    for i, part in enumerate(re.split(r"`([^`]*)`", text)):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(part)))
    return "".join(out)


def _html_table(headers, rows) -> str:
    # words, not numbers: left-aligned
    text_cols = {i for i, h in enumerate(headers) if str(h) in ("status", "training", "source", "licence")}
    cls = [' class="text"' if i in text_cols else "" for i in range(len(headers))]
    head = "".join(f"<th{cls[i]}>{_inline(str(h))}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls[i] if i < len(cls) else ''}>{_inline(str(c))}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _parse_pipe_table(text: str) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of a GitHub pipe table (the Markdown per-attack table)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip().startswith("|")]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    rows = [c for c in cells if not all(re.fullmatch(r":?-+:?", x) for x in c if x)]
    return (rows[0], rows[1:]) if rows else ([], [])
