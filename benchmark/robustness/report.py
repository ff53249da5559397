"""The robustness section of a run's report: ``robustness.json``, the heat-map table (system x condition,
EER), the degradation table (EER minus clean), the adversarial table (attack success rate), the plots (heat
map, EER vs SNR, EER vs bitrate) and the report blocks (``report.md`` / ``report.html``).

Files written into the run folder::

    robustness.json                          see results.py for its structure
    tables/robustness_eer.{md,csv,tex}       EER (%) per system x condition
    tables/robustness_delta.{md,csv}         EER minus clean EER (percentage points)
    tables/robustness_calibration.{md,csv}   actDCF calibrated on clean dev / on the condition's dev (--degrade-dev)
    plots/robustness_heatmap.{png,pdf}       the EER table as a heat map
    plots/robustness_snr.{png,pdf}           EER against SNR (noise; adversarial budgets)
    plots/robustness_bitrate.{png,pdf}       EER against bitrate (each codec at several bitrates)
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tabulate import tabulate

from spoofbench.detectors.base import jsonable
from spoofbench.protocols.files import write_text_atomic

from .conditions import CLEAN
from .results import RobustnessResult

Log = Callable[[str], None]

_NOISE_SNR = re.compile(r"noise:([\w-]+)@(-?\d+(?:\.\d+)?)dB$")
_ATTACK_SNR = re.compile(r"adv:(fgsm|pgd\d*)@(-?\d+(?:\.\d+)?)dB$")
_MARKERS = ("o", "s", "^", "D", "v", "P")
_BITRATE = re.compile(r"codec:([\w-]+)@(\d+(?:\.\d+)?)k$")


def write_robustness(out: Path, result: RobustnessResult, *, plots: bool = True, log: Log = lambda m: None) -> dict:
    """Write robustness.json, the tables and the plots; return what the report blocks need."""
    write_text_atomic(out / "robustness.json", json.dumps(jsonable(result.to_json()), indent=1, sort_keys=False))
    headers, rows = eer_table(result)
    d_headers, d_rows = delta_table(result)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    for ext, fmt in (("md", "github"), ("tex", "latex"), ("csv", None)):
        write_text_atomic(out / "tables" / f"robustness_eer.{ext}", _render(headers, rows, fmt))
    for ext, fmt in (("md", "github"), ("csv", None)):
        write_text_atomic(out / "tables" / f"robustness_delta.{ext}", _render(d_headers, d_rows, fmt))
    calibration = calibration_table(result)
    if calibration:
        for ext, fmt in (("md", "github"), ("csv", None)):
            write_text_atomic(out / "tables" / f"robustness_calibration.{ext}", _render(*calibration, fmt))
    images = []
    if plots:
        (out / "plots").mkdir(parents=True, exist_ok=True)
        for title, stem, draw in (("Robustness heat map (EER %)", "robustness_heatmap", plot_heatmap),
                                  ("EER against SNR", "robustness_snr", plot_eer_vs_snr),
                                  ("EER against bitrate", "robustness_bitrate", plot_eer_vs_bitrate)):
            try:
                written = draw(result, str(out / "plots" / stem))
            except OSError:
                raise
            except Exception as exc:  # a plot that fails costs that figure, never the numbers
                log(f"warning: plot {stem} failed: {type(exc).__name__}: {exc}")
                continue
            png = [p for p in written if p.endswith(".png")]
            if png:
                images.append((title, Path(png[0])))
    return {"eer": (headers, rows), "delta": (d_headers, d_rows), "calibration": calibration, "images": images}


def _render(headers, rows, fmt) -> str:
    if fmt is None:
        lines = [",".join(headers)] + [",".join(c.replace(",", ";") for c in r) for r in rows]
        return "\n".join(lines) + "\n"
    return tabulate(rows, headers, tablefmt=fmt, disable_numparse=True) + "\n"


def _specs(result: RobustnessResult) -> list[str]:
    return [c.spec for c in result.conditions]


def _cell(result: RobustnessResult, system: str, spec: str, value: Callable[[dict], float | str | None],
          digits: int = 2, signed: bool = False) -> str:
    if spec in result.condition_errors:
        return "failed"
    if spec in result.cell_errors.get(system, {}):
        return "failed"
    if spec in result.na.get(system, {}):
        return "n/a"
    m = result.cells.get(system, {}).get(spec)
    v = value(m) if m is not None else None
    if v is None:
        return "—"
    if isinstance(v, str):  # a cell the table formats itself
        return v
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def eer_table(result: RobustnessResult) -> tuple[list[str], list[list[str]]]:
    """Rows: systems; columns: conditions; cells: pooled EER (%)."""
    specs = _specs(result)
    rows = [[s] + [_cell(result, s, c, lambda m: m["pooled"].get("eer")) for c in specs] for s in result.systems]
    return ["system"] + specs, rows


def delta_table(result: RobustnessResult) -> tuple[list[str], list[list[str]]]:
    """EER minus the clean EER (percentage points), the worst condition of each system last."""
    specs = [c for c in _specs(result) if c != CLEAN]
    rows = []
    for s in result.systems:
        deltas = result.degradation.get(s, {})
        cells = [_cell(result, s, c, lambda m, c=c, d=deltas: d.get(c, {}).get("eer"), signed=True) for c in specs]
        worst = max(((d.get("eer"), c) for c, d in deltas.items() if c != CLEAN and d.get("eer") is not None),
                    default=(None, None))
        rows.append([s] + cells + [f"{worst[1]} ({worst[0]:+.2f})" if worst[1] else "—"])
    return ["system"] + specs + ["hurts most"], rows


def calibration_table(result: RobustnessResult) -> tuple[list[str], list[list[str]]] | None:
    """With --degrade-dev: pooled actDCF calibrated on clean dev, then on the condition's own dev ("a / b")."""
    if not result.degrade_dev:
        return None
    specs = [c.spec for c in result.conditions if c.kind != "whitebox"]

    def pair(m: dict) -> str | None:
        a, b = m["pooled"].get("act_dcf_cal"), m["pooled"].get("act_dcf_matched")
        return None if a is None or b is None else f"{a:.3f} / {b:.3f}"

    return ["system"] + specs, [[s] + [_cell(result, s, c, pair) for c in specs] for s in result.systems]


def adversarial_table(result: RobustnessResult) -> tuple[list[str], list[list[str]]] | None:
    specs = [c.spec for c in result.conditions if c.adversarial]
    if not specs:
        return None
    rows = [[s] + [_cell(result, s, c, lambda m: m["pooled"].get("attack_success_rate"), digits=1) for c in specs]
            for s in result.systems]
    return ["system"] + specs, rows


# ---- plots ---------------------------------------------------------------------------------------------------
def _eer_matrix(result: RobustnessResult) -> np.ndarray:
    return np.array([[result.eer(s, c) if result.eer(s, c) is not None else np.nan for c in _specs(result)]
                     for s in result.systems], dtype=float)


def plot_heatmap(result: RobustnessResult, path_stem: str, formats=("png", "pdf")) -> list[str]:
    from matplotlib.figure import Figure

    from ..plots import _save

    values = _eer_matrix(result)
    specs = _specs(result)
    fig = Figure(figsize=(max(5.0, 0.55 * len(specs) + 2.5), max(2.2, 0.45 * len(result.systems) + 1.6)),
                 layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="Reds", aspect="auto", vmin=0,
                      vmax=max(50.0, float(np.nanmax(values)) if np.isfinite(values).any() else 50.0))
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            text = f"{values[i, j]:.1f}" if np.isfinite(values[i, j]) else "–"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if np.isfinite(values[i, j]) and values[i, j] > 30 else "black")
    ax.set_xticks(range(len(specs)), specs, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(result.systems)), result.systems, fontsize=8)
    fig.colorbar(image, ax=ax, label="EER (%)")
    ax.set_title("EER (%) per condition, eval")
    return _save(fig, path_stem, formats)


def _series(result: RobustnessResult, pattern: re.Pattern) -> dict[tuple[str, str], list]:
    """(system, family) -> [(x, EER)] for the conditions matching ``pattern`` (x: SNR dB or kbit/s)."""
    series: dict[tuple[str, str], list] = {}
    for spec in _specs(result):
        m = pattern.match(spec)
        if not m:
            continue
        family, x = m.group(1), float(m.group(2))
        for s in result.systems:
            eer = result.eer(s, spec)
            if eer is not None:
                series.setdefault((s, family), []).append((x, eer))
    return {k: sorted(v, reverse=True) for k, v in series.items()}


def _plot_series(result: RobustnessResult, panels, path_stem, formats, xlabel, title) -> list[str]:
    """One panel per (title, pattern) with data; colour = system, line style and marker = family (codec, noise
    colour, attack: a lone point, e.g. one attack budget, is told apart by its marker); thin horizontal lines:
    each system's clean EER. Worse conditions (lower SNR or bitrate) to the right. The legend stands outside
    the axes, so it never hides a point."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from ..plots import _COLORS, _LINESTYLES, _save

    drawn = [(name, _series(result, pattern)) for name, pattern in panels]
    drawn = [(name, series) for name, series in drawn if series]
    if not drawn:
        return []
    fig = Figure(figsize=(4.2 * len(drawn) + 2.2, 4.2), layout="constrained")
    axes = fig.subplots(1, len(drawn), sharey=True, squeeze=False)[0]
    families = sorted({f for _, series in drawn for _, f in series})
    systems = [s for s in result.systems if any(s == k[0] for _, series in drawn for k in series)]
    for ax, (name, series) in zip(axes, drawn):
        for (system, family), points in series.items():
            xs, ys = zip(*points)
            color = _COLORS[result.systems.index(system) % len(_COLORS)]
            k = families.index(family)
            ax.plot(xs, ys, marker=_MARKERS[k % len(_MARKERS)], color=color,
                    linestyle=_LINESTYLES[k % len(_LINESTYLES)])
        for system in systems:
            clean = result.eer(system, CLEAN)
            if clean is not None:
                ax.axhline(clean, color=_COLORS[result.systems.index(system) % len(_COLORS)], linewidth=0.6,
                           alpha=0.5)
        ax.invert_xaxis()
        ax.set_xlabel(xlabel)
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("EER (%)")
    handles = [Line2D([], [], color=_COLORS[result.systems.index(s) % len(_COLORS)], label=s) for s in systems]
    handles += [Line2D([], [], color="black", marker=_MARKERS[i % len(_MARKERS)],
                       linestyle=_LINESTYLES[i % len(_LINESTYLES)], label=f) for i, f in enumerate(families)]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path_stem, formats)


def plot_eer_vs_snr(result: RobustnessResult, path_stem: str, formats=("png", "pdf")) -> list[str]:
    return _plot_series(result, (("additive noise", _NOISE_SNR), ("adversarial perturbation (spoofs only)",
                                                                   _ATTACK_SNR)),
                        path_stem, formats, "SNR (dB)", "EER against SNR (thin lines: clean)")


def plot_eer_vs_bitrate(result: RobustnessResult, path_stem: str, formats=("png", "pdf")) -> list[str]:
    return _plot_series(result, (("codecs", _BITRATE),), path_stem, formats, "bitrate (kbit/s)",
                        "EER against codec bitrate (thin lines: clean)")


# ---- report blocks ----------------------------------------------------------------------------------------------
def robustness_blocks(result: RobustnessResult, written: dict, out: Path) -> list:
    """The report's "Robustness" section (blocks as ``benchmark.report`` renders them)."""
    import os

    b: list = [("h2", "Robustness: EER (%) per condition (eval)")]
    b.append(("p", "Each fitted model scores the eval audio under each condition (degraded once, cached); "
                   "fusions keep the weights fitted on clean dev. `n/a`: the condition does not apply to that "
                   "system (white-box attacks need a differentiable network); `failed`: see below. "
                   "All numbers are in `robustness.json`."))
    labels = {c.spec: c.label for c in result.conditions if c.label}
    if labels:
        b.append(("p", "Conditions of the ASVspoof 2021 LA evaluation (simulated): "
                       + "; ".join(f"`{s}` = {lab}" for s, lab in labels.items()) + "."))
    headers, rows = written["eer"]
    b.append(("table", headers, rows))
    d_headers, d_rows = written["delta"]
    if len(d_headers) > 2:
        b.append(("h3", "Degradation: EER minus clean EER (percentage points)"))
        b.append(("table", d_headers, d_rows))
    explained = (
        ("Calibration: actDCF calibrated on clean dev / on the condition's own dev", written.get("calibration"),
         "Each condition was applied to dev as well (`--degrade-dev`). The first number is what a system deployed "
         "with its clean-dev calibration costs under the condition; the second, after recalibrating on dev audio "
         "of the same condition: their gap is what the condition costs in calibration alone, the rest is lost "
         "discrimination."),
        ("Adaptive attackers: attack success rate (%)", adversarial_table(result),
         "Spoof trials perturbed towards bona fide within the SNR budget (bona fide trials untouched); the rate "
         "is the share of the spoofs a system rejected on clean audio (at its clean-dev EER threshold) that it "
         "accepts once perturbed. White-box: crafted against each system itself; `adv:transfer=S@…`: crafted on "
         "S, scored by every system."),
    )
    for title, table, text in explained:
        if table:
            b += [("h3", title), ("p", text), ("table", *table)]
    for title, png in written["images"]:
        b.append(("h3", title))
        b.append(("img", os.path.relpath(png, out), title))
    failed_trials = {c: f for c, f in result.failed_trials.items() if f}
    if failed_trials:
        items = [f"`{c}`: {len(f)} of {result.n_trials.get(c)} trials skipped ("
                 + ", ".join(f"{u}: {why}" for u, why in f[:5]) + (", …" if len(f) > 5 else "") + ")"
                 for c, f in failed_trials.items()]
        b.append(("h3", "Trials a condition could not process (skipped for that condition only)"))
        b.append(("ul", items))
    if result.partial_failure:
        b.append(("h3", "Robustness failures"))
        b.append(("ul", [f"`{line}`" for line in result.failures()]))
    return b
