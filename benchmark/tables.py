"""Render the result of :func:`spoofbench.benchmark.evaluation.evaluate_systems` as text tables, CSV or JSON.

Human formats (``table``, ``github``, ``latex``) show one row per attack plus the pooled row, one column group per
system, values with their bootstrap interval as ``4.12 [3.80, 4.47]``; each further breakdown (codec, ...) is
a table of its own. The columns, their decimals and which show the interval come from :mod:`.metric_specs`
(the "table" view). ``csv`` is tidy (one line per system and row, every number in its own column) and
``json`` is the result object itself.
"""
from __future__ import annotations

import csv
import io
import json

from tabulate import tabulate

from spoofbench.protocols.errors import BenchError

from . import metric_specs

FORMATS = ("table", "github", "latex", "csv", "json")
_TABULATE = {"table": "simple", "github": "github", "latex": "latex_booktabs"}


def format_metrics(result: dict, fmt: str = "table") -> str:
    """The evaluation result as text in one of :data:`FORMATS`."""
    if fmt == "json":
        return json.dumps(result, indent=2, allow_nan=False) + "\n"
    if fmt == "csv":
        return _csv(result)
    if fmt not in _TABULATE:
        raise BenchError(f"unknown table format {fmt!r}; choose one of {', '.join(FORMATS)}")
    systems = result["systems"]
    columns = [(s.key, s.title, s.digits, "table" in s.ci_shown) for s in metric_specs.shown_in("table")
               if any(_has(sys_result, s.key) for sys_result in systems.values())]
    blocks = [_block(systems, columns, "per_attack", "attack", fmt)]
    first = next(iter(systems.values()))
    for section in (k for k in first if k.startswith("per_") and k != "per_attack"):
        blocks.append(_block(systems, columns, section, section[len("per_"):], fmt, with_pooled=False))
    if not any(metric_specs.get(c[0]).needs_asv for c in columns):
        blocks.append("t-DCF not computed: no ASV scores (pass --asv-scores)")
    return "\n\n".join(blocks) + "\n"


def _has(sys_result: dict, key: str) -> bool:
    rows = [sys_result["pooled"], *(m for k, sec in sys_result.items() if k.startswith("per_") for m in sec.values())]
    return any(row.get(key) is not None for row in rows)


def _block(systems: dict, columns, section: str, title: str, fmt: str, *, with_pooled: bool = True) -> str:
    names = list(systems)
    first = systems[names[0]]
    keys = list(first.get(section, {}))
    rows = []
    labels = (["pooled"] if with_pooled else []) + keys
    for label in labels:
        ref = first["pooled"] if (with_pooled and label == "pooled") else first[section][label]
        row = [label, f"{ref['n_bonafide']}/{ref['n_spoof']}"]
        for name in names:
            is_pooled = with_pooled and label == "pooled"
            m = systems[name]["pooled"] if is_pooled else systems[name][section].get(label, {})
            row += [_cell(m.get(key), m.get(f"{key}_ci") if ci else None, digits) for key, _, digits, ci in columns]
        rows.append(row)
    headers = [title, "bona/spoof"]
    for name in names:
        for k, (_, col, _, _) in enumerate(columns):
            if len(names) == 1:
                headers.append(col)
            elif fmt == "table":  # system name over its column group, on a line of its own
                headers.append(f"{name if k == 0 else ''}\n{col}")
            else:
                headers.append(f"{name}: {col}")
    return tabulate(rows, headers=headers, tablefmt=_TABULATE[fmt], disable_numparse=True)


def _cell(value, ci, digits: int) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    if ci:
        text += f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return text


def _csv(result: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    specs = metric_specs.evaluated()
    header = ["system", "breakdown", "group", "n_bonafide", "n_spoof"]
    for spec in specs:
        header.append(spec.key)
        if spec.ci:
            header += [f"{spec.key}_ci_low", f"{spec.key}_ci_high"]
    writer.writerow(header)
    for name, sys_result in result["systems"].items():
        rows = [("pooled", "pooled", sys_result["pooled"])]
        rows += [(section[len("per_"):], key, m) for section, sec in sys_result.items() if section.startswith("per_")
                 for key, m in sec.items()]
        for breakdown, group, m in rows:
            line = [name, breakdown, group, m["n_bonafide"], m["n_spoof"]]
            for spec in specs:
                line.append(_num(m.get(spec.key)))
                if spec.ci:
                    ci = m.get(f"{spec.key}_ci") or (None, None)
                    line += [_num(ci[0]), _num(ci[1])]
            writer.writerow(line)
    return buf.getvalue()


def _num(value) -> str:
    return "" if value is None else repr(float(value))
