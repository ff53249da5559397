"""``bench data``: build the demo corpus, describe and validate a corpus.

:func:`selection_options` / :func:`selection_from_options` are the subset options (``--split``, ``--attack``,
``--speaker``, ``--label``, ``--fraction``, ``--max-count``, ``--subset-seed``) for any command that reads a
corpus; they map onto :meth:`protocols.TrialTable.select`.
"""
from __future__ import annotations

import json
import os
import time

import click
from tabulate import tabulate


def _split_values(values: tuple[str, ...]) -> list[str] | None:
    out = [v.strip() for value in values for v in value.split(",") if v.strip()]
    return out or None


def selection_options(func):
    """Decorator adding the subset-selection options to a click command."""
    options = [
        click.option("--split", "sel_split", multiple=True, metavar="NAME[,NAME]",
                     help="Keep only these splits (train, dev, eval); repeatable or comma-separated."),
        click.option("--attack", "sel_attack", multiple=True, metavar="ID[,ID]",
                     help="Keep only these attack ids ('-' = bona fide)."),
        click.option("--speaker", "sel_speaker", multiple=True, metavar="ID[,ID]", help="Keep only these speakers."),
        click.option("--label", "sel_label", type=click.Choice(["bonafide", "spoof"]), default=None,
                     help="Keep only one class."),
        click.option("--fraction", "sel_fraction", type=click.FloatRange(0, 1, min_open=True), default=None,
                     help="Keep a random fraction of the (filtered) trials."),
        click.option("--max-count", "sel_max_count", type=click.IntRange(min=1), default=None,
                     help="Keep at most this many trials, drawn at random."),
        click.option("--subset-seed", "sel_seed", type=int, default=0, show_default=True,
                     help="Seed of the random fraction / max-count draw."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def selection_from_options(kwargs: dict) -> dict:
    """Pop the selection options out of a command's kwargs into ``TrialTable.select`` arguments."""
    sel = {"split": _split_values(kwargs.pop("sel_split", ())), "attack": _split_values(kwargs.pop("sel_attack", ())),
           "speaker": _split_values(kwargs.pop("sel_speaker", ())), "label": kwargs.pop("sel_label", None),
           "fraction": kwargs.pop("sel_fraction", None), "max_count": kwargs.pop("sel_max_count", None)}
    seed = kwargs.pop("sel_seed", 0)
    sel = {k: v for k, v in sel.items() if v is not None}
    if sel.get("fraction") is not None or sel.get("max_count") is not None:
        sel["seed"] = seed
    return sel


@click.group()
def data() -> None:
    """Corpus tools: build the built-in demo corpus, describe and validate a corpus."""


# ---- bench data demo ----------------------------------------------------------------------------------------------
def _int_triple(ctx, param, value):
    try:
        parts = tuple(int(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        raise click.BadParameter("expected three comma-separated integers (train,dev,eval), e.g. 8,6,8")
    return parts


@data.command("demo")
@click.argument("root", type=click.Path(file_okay=False))
@click.option("--seed", type=int, default=0, show_default=True, help="Generator seed (same seed, same bytes).")
@click.option("--train", "n_train", type=click.IntRange(min=8), default=300, show_default=True,
              help="CM trials in train (at least 2 bona fide and one spoof per attack: 8 at the default "
                   "--bonafide-fraction).")
@click.option("--dev", "n_dev", type=click.IntRange(min=8), default=200, show_default=True,
              help="CM trials in dev (at least 8 at the default --bonafide-fraction).")
@click.option("--eval", "n_eval", type=click.IntRange(min=15), default=450, show_default=True,
              help="CM trials in eval (13 attacks: at least 17 at the default --bonafide-fraction).")
@click.option("--bonafide-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.25,
              show_default=True, help="Share of bona fide trials in each split.")
@click.option("--speakers", "n_speakers", default="8,6,8", show_default=True, callback=_int_triple,
              help="Speakers in train,dev,eval (disjoint, half female).")
@click.option("--enrol", "n_enrol", type=click.IntRange(min=1), default=4, show_default=True,
              help="ASV enrolment files per dev/eval speaker.")
@click.option("--min-duration", type=float, default=1.0, show_default=True, help="Shortest file (s).")
@click.option("--max-duration", type=float, default=3.0, show_default=True, help="Longest file (s).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Processes rendering audio [default: up to 2 for corpora over 200 files].")
@click.option("--force", is_flag=True, help="Replace a demo corpus built with other parameters.")
def demo_command(root, seed, n_train, n_dev, n_eval, bonafide_fraction, n_speakers, n_enrol, min_duration,
                 max_duration, jobs, force):
    """Write the built-in demo corpus to ROOT (ASVspoof 2019 LA layout, FLAC, protocols, ASV scores).

    Synthetic source-filter speech as bona fide; vocoders and voice conversions of it as spoofs (A01-A06 in
    train/dev, A07-A19 in eval; A16 = A04, A19 = A06). An existing demo corpus built with the same
    parameters and generator version is reused as it is.
    """
    from spoofbench.protocols.demo import make_demo_corpus, minimum_trials

    for split, option, n in (("train", "--train", n_train), ("dev", "--dev", n_dev), ("eval", "--eval", n_eval)):
        least = minimum_trials(split, bonafide_fraction)
        if n < least:  # refused here, before any work, like the range checks of the options themselves
            raise click.BadParameter(f"{n} is too small: with --bonafide-fraction {bonafide_fraction} the {split} "
                                     f"split needs at least {least} trials (2 bona fide and one spoof per attack)",
                                     param_hint=f"'{option}'")
    started = time.perf_counter()
    before = _marker_mtime(root)
    info = make_demo_corpus(root, seed=seed, n_train=n_train, n_dev=n_dev, n_eval=n_eval,
                            bonafide_fraction=bonafide_fraction, n_speakers=n_speakers, n_enrol=n_enrol,
                            min_duration=min_duration, max_duration=max_duration, jobs=jobs, force=force,
                            progress=True)
    elapsed = time.perf_counter() - started
    reused = before is not None and before == _marker_mtime(root)
    n_files, size = _folder_size(root)
    rows = [[s, c["bonafide"], c["spoof"], c["enrol"], f"{info['attacks'][s][0]}-{info['attacks'][s][-1]}"]
            for s, c in info["counts"].items()]
    click.echo(tabulate(rows, headers=["split", "bonafide", "spoof", "enrol files", "attacks"]))
    state = "reused the existing corpus" if reused else f"built in {elapsed:.1f} s"
    click.echo(f"demo corpus (generator {info['version']}, seed {info['params']['seed']}) at {os.path.abspath(root)}: "
               f"{n_files} files, {size / 1e6:.1f} MB, {info['hours']:.3f} h; {state}")


def _marker_mtime(root):
    from spoofbench.protocols.demo import MARKER

    try:
        return os.stat(os.path.join(root, MARKER)).st_mtime_ns
    except OSError:
        return None


def _folder_size(root) -> tuple[int, int]:
    n, size = 0, 0
    for folder, _, files in os.walk(root):
        for name in files:
            n += 1
            size += os.path.getsize(os.path.join(folder, name))
    return n, size


# ---- bench data describe ------------------------------------------------------------------------------------------
@data.command("describe")
@click.argument("root", type=click.Path())
@click.option("--protocol", default=None, help="Corpus format (see `bench list`) [default: auto-detect].")
@click.option("--keys", type=click.Path(), default=None,
              help="Folder of separately distributed keys (ASVspoof 2021: the folder holding keys/LA/CM/...).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--check", type=click.Choice(["full", "header", "none"]), default="full", show_default=True,
              help="Audio check: decode every file (finds corrupt and truncated files), headers only (fast), "
                   "or none.")
@click.option("--max-problems", type=click.IntRange(min=0), default=50, show_default=True,
              help="Problems listed in the table output (JSON lists all).")
@selection_options
def describe_command(root, protocol, keys, fmt, check, max_problems, **kwargs):
    """Counts per split x label x attack, speakers, duration and every problem found in the corpus at ROOT.

    Problems (one line each, naming the file and protocol line): malformed protocol lines (wrong number of
    columns, unknown label, bona fide with an attack id, spoof without one), duplicate utterance ids,
    missing, empty, unreadable, corrupt or truncated audio, a sample rate other than the format's.
    Warnings (not problems): CRLF line endings (accepted), multi-channel or silent files, one file used by
    several trials. All are found in one pass.

    Exit status: 0 when no problem was found, 2 when at least one was (or when the corpus cannot be read).
    """
    from spoofbench.protocols.describe import describe_corpus

    selection = selection_from_options(kwargs)
    report = describe_corpus(root, protocol, keys=keys, check=check, selection=selection or None,
                             progress=fmt == "table")
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(_describe_table(report, max_problems))
    if report["problems"]:
        click.get_current_context().exit(2)


def _describe_table(r: dict, max_problems: int) -> str:
    lines = [f"corpus {r['root']}  (protocol {r['protocol']}, audio check: {r['audio_check']})"]
    hours = f", {r['hours']:.3f} h" if r["hours"] is not None else ""
    selected = f" (selected from {r['trials_read']})" if r["trials"] != r["trials_read"] else ""
    lines.append(f"{r['trials']} trials{selected}: {r['bonafide']} bona fide, {r['spoof']} spoof; "
                 f"{r['speakers']} speakers{hours}")
    lines.append("")
    lines.append(tabulate([[s, v["trials"], v["bonafide"], v["spoof"], v["speakers"], len(v["attacks"]),
                            "" if v["duration_s"] is None else f"{v['duration_s'] / 3600:.3f}"]
                           for s, v in r["splits"].items()],
                          headers=["split", "trials", "bonafide", "spoof", "speakers", "attacks", "hours"],
                          disable_numparse=True))
    lines.append("")
    lines.append(tabulate([[c["split"], c["label"], c["attack"], c["trials"], c["speakers"],
                            "" if c["duration_s"] is None else f"{c['duration_s']:.1f}"] for c in r["counts"]],
                          headers=["split", "label", "attack", "trials", "speakers", "seconds"],
                          disable_numparse=True))
    if r["extra_columns"]:
        lines.append("")
        for col, values in r["extra_columns"].items():
            shown = ", ".join(f"{k} {v}" for k, v in values.items()) if "distinct" not in values \
                else f"{values['distinct']} distinct values"
            lines.append(f"{col}: {shown}")
    for title, items, limit in (("problems", r["problems"], max_problems), ("warnings", r["warnings"], 10)):
        if not items:
            continue
        lines.append("")
        lines.append(f"{title} ({len(items)}):")
        for item in items[:limit]:
            lines.append(f"  {_problem_line(item)}")
        if len(items) > limit:
            lines.append(f"  ... and {len(items) - limit} more (--format json lists all)")
    if not r["problems"]:
        lines.append("")
        lines.append("no problems found")
    return "\n".join(lines)


def _problem_line(item: dict) -> str:
    """``file:line: problem`` for a protocol line (quoting it), ``audio: problem (protocol file:line)`` for audio."""
    where = item["file"] or ""
    if item.get("source"):
        return f"{where}: {item['problem']} (referred to by {item['source']}:{item['line']})"
    if item["line"] is not None:
        where += f":{item['line']}"
    quote = f' in "{item["text"]}"' if item.get("text") else ""
    return f"{where}: {item['problem']}{quote}"
