"""DET curves and score histograms (matplotlib, no pyplot state: figures are built and saved directly).

DET plots follow the ASVspoof papers: miss probability (bona fide rejected) against false-alarm probability
(spoof accepted), both on normal-deviate (probit) axes labelled in percent, several systems overlaid, EER
(circle) and minimum-DCF (square) operating points marked, EER in the legend. The axes show the papers' 0.1 % ..
40 %, widened (both axes alike, to round tick values) until every curve's EER and minimum-DCF points lie inside.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri  # = norm.cdf, norm.ppf, without importing all of scipy.stats (~1 s)

from spoofbench.protocols.files import atomic_path
from spoofbench.protocols.trials import TrialTable

from . import metrics as M
from .evaluation import natural_key

#: DET tick labels in percent, most important first: a tick is kept when it is not too close to one kept before
_TICKS = (1, 10, 0.1, 40, 0.01, 5, 2, 20, 50, 0.5, 0.2, 0.05, 0.001, 60, 80, 90, 95, 99, 0.02, 0.005, 30, 70, 98,
          0.002, 99.5, 99.9)
#: Values (percent) an axis may end at, so that its ends carry round tick labels
_AXIS_ENDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95,
              98, 99, 99.5, 99.9)
#: The range ASVspoof papers show (0.1 % .. 40 %); widened when a curve's EER or minDCF point lies outside it
_DEFAULT_RANGE = (0.001, 0.4)
#: Room (in normal deviates) between the outermost EER / minDCF point and the axis edge
_MARGIN = 0.25
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22")
_LINESTYLES = ("-", "--", "-.", ":")
#: Font sizes (points) of the grids: readable when a 4-column figure is shown at page width
_FONT = {"tick": 8, "label": 9, "legend": 7.5, "title": 10, "suptitle": 12}


def plot_det(systems: dict[str, tuple[np.ndarray, np.ndarray]], path_stem: str, formats=("png", "pdf"),
             title: str | None = "DET curve") -> list[str]:
    """One DET plot of every system's (bona fide scores, spoof scores); returns the written files."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.6, 5.6), layout="constrained")
    ax = fig.add_subplot()
    curves = {name: _det(bona, spoof) for name, (bona, spoof) in systems.items()}
    limits = _limits(curves.values())
    for i, (name, curve) in enumerate(curves.items()):
        _draw_det(ax, curve, i, name, limits)
    _style_det_axes(ax, limits)
    _marker_legend(ax)
    if title:
        ax.set_title(title)
    return _save(fig, path_stem, formats)


def plot_det_grid(scores: dict[str, np.ndarray], trials: TrialTable, path_stem: str, formats=("png", "pdf"),
                  title: str | None = "DET curves per attack (each attack against all bona fide trials)") -> list[str]:
    """DET curves per attack (pooled first), all systems overlaid in each panel, each panel's legend naming the
    systems with their EER; returns the written files."""
    is_bona, panels = _attack_panels(trials, "pooled")
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = _grid_figure(ncols, nrows, 3.4, 3.3, top=1.0, bottom=0.2)
    curves = [{name: _det(s[is_bona], s[mask]) for name, s in scores.items()} for _, mask in panels]
    limits = _limits(c for panel in curves for c in panel.values())
    for k, (label, mask) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        for i, (name, curve) in enumerate(curves[k].items()):
            _draw_det(ax, curve, i, name, limits, small=True)
        _style_det_axes(ax, limits, small=True)
        ax.set_title(f"{label} ({int(mask.sum())} spoof)", fontsize=_FONT["title"])
        ax.legend(loc=_empty_corner(curves[k].values(), limits), fontsize=_FONT["legend"], framealpha=0.85,
                  handlelength=1.5, borderaxespad=0.3)
    handles = [line for line in fig.axes[0].lines if not line.get_label().startswith("_")] + _marker_handles()
    names = list(scores) + ["EER", "minDCF"]
    height = fig.get_figheight()
    fig.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.4 / height),
               ncols=min(len(names), 6), fontsize=_FONT["label"], frameon=False)
    if title:
        fig.suptitle(title, fontsize=_FONT["suptitle"], y=1 - 0.08 / height)
    return _save(fig, path_stem, formats)


def plot_score_histograms(scores: np.ndarray, trials: TrialTable, path_stem: str, formats=("png", "pdf"),
                          title: str | None = None) -> list[str]:
    """Score histograms of one system: bona fide vs all spoofs, then bona fide vs each attack. Each class has
    bins of its own range, so a narrow class is resolved next to a wide one; all panels share the x range."""
    scores = np.asarray(scores, dtype=np.float64)
    is_bona, panels = _attack_panels(trials, "all spoofs")
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = _grid_figure(ncols, nrows, 3.4, 2.7, top=0.95, bottom=0.2)
    bona = scores[is_bona]
    bona_edges = class_bin_edges(bona)
    spoof_edges = [class_bin_edges(scores[mask]) for _, mask in panels]
    left = min(bona_edges[0], *(e[0] for e in spoof_edges))
    right = max(bona_edges[-1], *(e[-1] for e in spoof_edges))
    threshold = M.eer_threshold(bona, scores[~is_bona])
    for k, (label, mask) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        ax.hist(bona, bins=bona_edges, density=True, histtype="stepfilled", alpha=0.35, color=_COLORS[0],
                label="bona fide")
        ax.hist(scores[mask], bins=spoof_edges[k], density=True, histtype="step", lw=1.4, color=_COLORS[1],
                label="spoof")
        ax.axvline(threshold, color="k", ls="--", lw=0.8, label="pooled EER threshold")
        ax.set_xlim(left - 0.03 * (right - left), right + 0.03 * (right - left))
        ax.set_title(f"{label} ({int(mask.sum())} spoof)", fontsize=_FONT["title"])
        ax.tick_params(labelsize=_FONT["tick"])
        ax.set_xlabel("score (higher = bona fide)", fontsize=_FONT["label"])
        ax.set_ylabel("density", fontsize=_FONT["label"])
    height = fig.get_figheight()
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.4 / height), ncols=3,
               fontsize=_FONT["label"], frameon=False)
    if title:
        fig.suptitle(title, fontsize=_FONT["suptitle"], y=1 - 0.08 / height)
    return _save(fig, path_stem, formats)


def class_bin_edges(values: np.ndarray) -> np.ndarray:
    """Histogram bin edges of one class's scores: about 2 sqrt(n) bins (10..60: smooth for 50 trials, detailed
    for 50,000) over the class's own 0.1..99.9 percentile range (outliers such as LLRs of +-300 would squash
    the rest)."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = np.percentile(values, [0.1, 99.9]) if values.size else (0.0, 1.0)
    if hi <= lo:  # one value (or nearly): a unit-wide range around it
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, int(np.clip(2 * np.sqrt(values.size), 10, 60)) + 1)


# --------------------------------------------------------------------------------------------------------


def _grid_figure(ncols: int, nrows: int, width: float, height: float, *, top: float, bottom: float):
    """A figure for a grid of panels with fixed margins in inches (constrained layout is several times slower
    on a grid of 20 panels and changes nothing here)."""
    from matplotlib.figure import Figure

    w, h = width * ncols + 0.5, height * nrows + top + bottom
    fig = Figure(figsize=(w, h))
    fig.subplots_adjust(left=0.75 / w, right=1 - 0.2 / w, bottom=(bottom + 0.45) / h, top=1 - top / h,
                        wspace=0.4, hspace=0.5)
    return fig


@dataclass
class _Det:
    """One DET curve and its two marked operating points (rates as fractions)."""

    pmiss: np.ndarray
    pfa: np.ndarray
    eer: float
    dcf_pfa: float      # the minimum-DCF point
    dcf_pmiss: float


def _det(bona, spoof) -> _Det:
    """The curve is computed once; both points are read off it."""
    pmiss, pfa, _ = M.det_curve(bona, spoof)
    best = int(np.argmin(M._dcf_of_curve(pmiss, pfa)))
    return _Det(pmiss, pfa, M._eer_of_curve(pmiss, pfa), float(pfa[best]), float(pmiss[best]))


def _limits(curves) -> tuple[float, float]:
    """Axis range in probability, the same on both axes: the ASVspoof papers' 0.1 % .. 40 %, widened until every
    curve's EER and minimum-DCF points lie inside with a margin, and ending at round tick values."""
    rates = np.array([p for c in curves for p in (c.eer, c.dcf_pfa, c.dcf_pmiss)])
    rates = rates[(rates > 0) & (rates < 1)]  # 0 and 1 have no normal deviate: drawn on the edge
    low, high = (100 * p for p in _DEFAULT_RANGE)
    if rates.size:
        low = min(low, 100 * float(ndtr(ndtri(rates.min()) - _MARGIN)))
        high = max(high, 100 * float(ndtr(ndtri(rates.max()) + _MARGIN)))
    ends = np.array(_AXIS_ENDS)
    low_end = ends[ends <= low].max(initial=ends[0])
    high_end = ends[ends >= high].min(initial=ends[-1])
    return low_end / 100, high_end / 100


def _draw_det(ax, curve: _Det, i: int, name: str, limits, small: bool = False) -> None:
    """Draw one system's DET curve with its EER (circle) and minimum-DCF (square) points."""
    x, y = _thin(_probit(curve.pfa, limits), _probit(curve.pmiss, limits))
    color, style = _COLORS[i % len(_COLORS)], _LINESTYLES[(i // len(_COLORS)) % len(_LINESTYLES)]
    ax.plot(x, y, color=color, ls=style, lw=1.3 if small else 1.7, label=f"{name} (EER {100 * curve.eer:.2f} %)")
    e = _on_axes(curve.eer, limits)
    ax.plot([e], [e], "o", ms=4 if small else 6, mfc="none", mec=color, mew=1.4, clip_on=False)
    ax.plot([_on_axes(curve.dcf_pfa, limits)], [_on_axes(curve.dcf_pmiss, limits)], "s", ms=3.5 if small else 5,
            mfc=color, mec=color, clip_on=False)


def _empty_corner(curves, limits) -> str:
    """Where a panel's legend hides least: DET curves run from top left to bottom right, so the corner farther
    from their (median) EER point on the diagonal is empty."""
    eer = _on_axes(float(np.median([c.eer for c in curves])), limits)
    return "lower left" if eer - ndtri(limits[0]) > ndtri(limits[1]) - eer else "upper right"


def _on_axes(p: float, limits) -> float:
    """A marked point's normal deviate; a rate of 0 or 1 (no deviate) sits on the edge of the axes."""
    return float(ndtri(np.clip(p, *limits)))


def _probit(p: np.ndarray, limits) -> np.ndarray:
    # Rates of 0 or 1 have no normal deviate: pin them just outside the axes so the curve runs off the edge.
    low, high = limits
    return ndtri(np.clip(p, low / 2, min(0.9999, high + (1 - high) / 2)))


def _thin(x: np.ndarray, y: np.ndarray, step: float = 0.003) -> tuple[np.ndarray, np.ndarray]:
    """Drop points closer than ``step`` (in normal deviates) to the previous kept one: a 100,000-trial curve
    becomes a few thousand points that look the same, and the PDF stays small."""
    cell = np.round(x / step).astype(np.int64) * 1_000_003 + np.round(y / step).astype(np.int64)
    keep = np.ones(x.size, dtype=bool)
    keep[1:] = cell[1:] != cell[:-1]
    keep[-1] = True
    return x[keep], y[keep]


def _style_det_axes(ax, limits, small: bool = False) -> None:
    low, high = limits
    span = ndtri(high) - ndtri(low)
    kept: list[float] = []
    ends = (round(low * 100, 6), round(high * 100, 6))  # the axis ends are labelled, so the ticks cover the range
    for tick in (t for t in (*ends, *_TICKS) if ends[0] <= t <= ends[1]):
        if all(abs(ndtri(tick / 100) - ndtri(k / 100)) >= (0.085 if small else 0.055) * span for k in kept):
            kept.append(tick)
    ticks = sorted(kept)
    positions = ndtri(np.array(ticks) / 100)
    labels = [f"{t:g}" for t in ticks]
    size = _FONT["tick"] if small else 9
    ax.set_xticks(positions, labels, fontsize=size)
    ax.set_yticks(positions, labels, fontsize=size)
    lim = (ndtri(low), ndtri(high))
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.plot(lim, lim, color="0.6", lw=0.7, ls=":", zorder=0)  # the EER line
    ax.grid(True, color="0.85", lw=0.6)
    ax.set_aspect("equal")
    if small:  # a panel of a grid: short labels, the figure's legend says the rest
        ax.set_xlabel("false alarm (spoof accepted) [%]", fontsize=_FONT["label"])
        ax.set_ylabel("miss (bona fide rejected) [%]", fontsize=_FONT["label"])
    else:
        ax.set_xlabel("False alarm probability (spoof accepted) [%]", fontsize=size)
        ax.set_ylabel("Miss probability (bona fide rejected) [%]", fontsize=size)


def _marker_handles() -> list:
    from matplotlib.lines import Line2D

    return [Line2D([], [], ls="none", marker="o", mfc="none", mec="0.3", label="EER"),
            Line2D([], [], ls="none", marker="s", mfc="0.3", mec="0.3", ms=5, label="minDCF")]


def _marker_legend(ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles=handles + _marker_handles(), loc="best", fontsize=8, framealpha=0.9)


def _attack_panels(trials: TrialTable, pooled_label: str) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Bona fide mask and the spoof mask of each panel: all spoofs first, then each attack in natural order."""
    is_bona = trials.is_bonafide
    attacks = sorted(set(trials["attack"][~is_bona]), key=natural_key)
    return is_bona, [(pooled_label, ~is_bona)] + [(a, ~is_bona & (trials["attack"] == a)) for a in attacks]


def _save(fig, path_stem: str, formats) -> list[str]:
    from matplotlib import rc_context

    written = []
    # TrueType (Type 42) fonts in PDF/PS: text stays text for editors and journals, which refuse Type 3
    with rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):
        for fmt in formats:
            path = f"{path_stem}.{fmt}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=150, metadata={"CreationDate": None} if fmt == "pdf" else None)
            written.append(path)
    return written
