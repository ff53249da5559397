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
from scipy.special import ndtri  # = scipy.stats.norm.ppf, without importing all of scipy.stats (~1 s)

from spoofbench.protocols.trials import TrialTable

from . import metrics as M
from .evaluation import natural_key
from spoofbench.protocols.files import atomic_path

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
    """DET curves per attack (pooled first), all systems overlaid in each panel; returns the written files."""
    is_bona, panels = _attack_panels(trials, "pooled")
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = _grid_figure(ncols, nrows, 3.0, 2.8, top=0.95, bottom=0.45)
    curves = [{name: _det(s[is_bona], s[mask]) for name, s in scores.items()} for _, mask in panels]
    limits = _limits(c for panel in curves for c in panel.values())
    first_ax = None
    for k, (label, mask) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        first_ax = first_ax or ax
        eers = ", ".join(f"{100 * _draw_det(ax, curve, i, name, limits, small=True):.2f}"
                         for i, (name, curve) in enumerate(curves[k].items()))
        _style_det_axes(ax, limits, small=True, xlabel=k // ncols == nrows - 1, ylabel=k % ncols == 0)
        ax.set_title(f"{label}  (EER {eers} %)", fontsize=8)
    handles, labels = first_ax.get_legend_handles_labels()
    names = list(scores)
    height = fig.get_figheight()
    fig.legend(handles[: len(names)], names, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.32 / height),
               ncols=min(len(names), 5), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / height)
    return _save(fig, path_stem, formats)


def plot_score_histograms(scores: np.ndarray, trials: TrialTable, path_stem: str, formats=("png", "pdf"),
                          title: str | None = None) -> list[str]:
    """Score histograms of one system: bona fide vs all spoofs, then bona fide vs each attack."""
    scores = np.asarray(scores, dtype=np.float64)
    is_bona, panels = _attack_panels(trials, "all spoofs")
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = _grid_figure(ncols, nrows, 3.0, 2.3, top=0.85, bottom=0.35)
    lo, hi = np.percentile(scores, [0.1, 99.9])  # outliers (e.g. LLRs of +-300) would squash the rest
    margin = 0.05 * (hi - lo) if hi > lo else 0.5
    # about 2 sqrt(n) bins for the typical panel: smooth for 50 trials, detailed for 50,000
    typical = min(int(is_bona.sum()), int(np.median([m.sum() for _, m in panels[1:]] or [panels[0][1].sum()])))
    edges = np.linspace(lo - margin, hi + margin, int(np.clip(2 * np.sqrt(typical), 15, 60)) + 1)
    bona = scores[is_bona]
    threshold = M.eer_threshold(scores[is_bona], scores[~is_bona])
    for k, (label, mask) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        ax.hist(bona, bins=edges, density=True, histtype="stepfilled", alpha=0.35, color=_COLORS[0],
                label="bona fide")
        ax.hist(scores[mask], bins=edges, density=True, histtype="step", lw=1.4, color=_COLORS[1], label="spoof")
        ax.axvline(threshold, color="k", ls="--", lw=0.8, label="pooled EER threshold")
        ax.set_title(f"{label} ({int(mask.sum())} spoof)", fontsize=8)
        ax.tick_params(labelsize=7)
        if k // ncols == nrows - 1:
            ax.set_xlabel("score (higher = bona fide)", fontsize=8)
    height = fig.get_figheight()
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.32 / height), ncols=3, fontsize=8,
               frameon=False)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / height)
    return _save(fig, path_stem, formats)


# --------------------------------------------------------------------------------------------------------


def _grid_figure(ncols: int, nrows: int, width: float, height: float, *, top: float, bottom: float):
    """A figure for a grid of panels with fixed margins in inches (constrained layout is several times slower
    on a grid of 20 panels and changes nothing here)."""
    from matplotlib.figure import Figure

    w, h = width * ncols + 0.4, height * nrows + top + bottom
    fig = Figure(figsize=(w, h))
    fig.subplots_adjust(left=0.55 / w, right=1 - 0.12 / w, bottom=bottom / h, top=1 - top / h,
                        wspace=0.28, hspace=0.42)
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
        low = min(low, 100 * _normal_cdf(ndtri(rates.min()) - _MARGIN))
        high = max(high, 100 * _normal_cdf(ndtri(rates.max()) + _MARGIN))
    ends = np.array(_AXIS_ENDS)
    low_end = ends[ends <= low].max(initial=ends[0])
    high_end = ends[ends >= high].min(initial=ends[-1])
    return low_end / 100, high_end / 100


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _draw_det(ax, curve: _Det, i: int, name: str, limits, small: bool = False) -> float:
    """Draw one system's DET curve with its EER (circle) and minimum-DCF (square) points; returns the EER."""
    x, y = _thin(_probit(curve.pfa, limits), _probit(curve.pmiss, limits))
    color, style = _COLORS[i % len(_COLORS)], _LINESTYLES[(i // len(_COLORS)) % len(_LINESTYLES)]
    ax.plot(x, y, color=color, ls=style, lw=1.3 if small else 1.7, label=f"{name} (EER {100 * curve.eer:.2f} %)")
    e = _on_axes(curve.eer, limits)
    ax.plot([e], [e], "o", ms=4 if small else 6, mfc="none", mec=color, mew=1.4, clip_on=False)
    ax.plot([_on_axes(curve.dcf_pfa, limits)], [_on_axes(curve.dcf_pmiss, limits)], "s", ms=3.5 if small else 5,
            mfc=color, mec=color, clip_on=False)
    return curve.eer


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


def _style_det_axes(ax, limits, small: bool = False, xlabel: bool = True, ylabel: bool = True) -> None:
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
    size = 6.5 if small else 9
    ax.set_xticks(positions, labels, fontsize=size)
    ax.set_yticks(positions, labels, fontsize=size)
    lim = (ndtri(low), ndtri(high))
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.plot(lim, lim, color="0.6", lw=0.7, ls=":", zorder=0)  # the EER line
    ax.grid(True, color="0.85", lw=0.6)
    ax.set_aspect("equal")
    if xlabel:
        ax.set_xlabel("False alarm probability (spoof accepted) [%]", fontsize=size)
    if ylabel:
        ax.set_ylabel("Miss probability (bona fide rejected) [%]", fontsize=size)


def _marker_legend(ax) -> None:
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], ls="none", marker="o", mfc="none", mec="0.3", label="EER"),
                Line2D([], [], ls="none", marker="s", mfc="0.3", mec="0.3", ms=5, label="minDCF")]
    ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.9)


def _attack_panels(trials: TrialTable, pooled_label: str) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Bona fide mask and the spoof mask of each panel: all spoofs first, then each attack in natural order."""
    is_bona = trials.is_bonafide
    attacks = sorted(set(trials["attack"][~is_bona]), key=natural_key)
    return is_bona, [(pooled_label, ~is_bona)] + [(a, ~is_bona & (trials["attack"] == a)) for a in attacks]


def _save(fig, path_stem: str, formats) -> list[str]:
    written = []
    for fmt in formats:
        path = f"{path_stem}.{fmt}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, metadata={"CreationDate": None} if fmt == "pdf" else None)
        written.append(path)
    return written
