"""Figures of the explanations (PNG for the page, PDF for papers): one per file, one per model's internals, and
the corpus-level band-importance and per-attack attribution charts. Attribution maps share one colour rule:
blue = pushed the score towards bona fide, red = towards spoof, white = no effect, limits symmetric."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from .attribution import METHOD_TITLES

ATTRIBUTION_CMAP = "RdBu"  # red (negative: towards spoof) .. blue (positive: towards bona fide)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42, "font.size": 9})
    import matplotlib.pyplot as plt

    return plt


def save(fig, stem: Path) -> Path:
    """Write ``stem.png`` and ``stem.pdf`` (atomically: temporary name, then rename); return the PNG's path."""
    import os

    plt = _pyplot()
    for ext, kwargs in (("png", {"dpi": 110}), ("pdf", {})):
        final = stem.parent / f"{stem.name}.{ext}"  # not with_suffix: stems hold dots (rawnet2.small.LA_E_1)
        tmp = final.with_name(f".{final.name}.tmp")
        fig.savefig(tmp, format=ext, **kwargs)
        os.replace(tmp, final)
    plt.close(fig)
    return stem.parent / f"{stem.name}.png"


def _symmetric_limit(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    limit = float(np.percentile(finite, 99.5)) if finite.size else 0.0
    return limit if limit > 0 else (float(finite.max()) if finite.size and finite.max() > 0 else 1.0)


def file_figure(expl: dict, stem: Path) -> Path:
    """Waveform, spectrogram, score over time and one attribution map per method, on one time axis."""
    plt = _pyplot()
    methods = list(expl["attributions"])
    rows = 3 + len(methods)
    heights = [1.0, 1.6, 1.1] + [1.6] * len(methods)
    fig = plt.figure(figsize=(10, 1.55 * sum(heights) + 1.2))
    grid = fig.add_gridspec(rows, 2, width_ratios=[60, 1], height_ratios=heights, hspace=0.55, wspace=0.03,
                            left=0.08, right=0.9, top=0.95, bottom=0.06 + 0.012 * len(methods))
    sr, wave = expl["sample_rate"], expl["wave"]
    duration = len(wave) / sr
    t = np.arange(len(wave)) / sr
    khz = expl["frequencies_hz"] / 1000
    frames = expl["frame_times_s"]
    extent = [frames[0], frames[-1], khz[0], khz[-1]]

    ax = fig.add_subplot(grid[0, 0])
    ax.plot(t, wave, lw=0.4, color="0.25")
    ax.set(xlim=(0, duration), ylabel="amplitude",
           title=f"{expl['name']} — {expl['detector']} score {expl['score']:.3f} "
                 f"({'bona fide' if expl['score'] >= expl['threshold'] else 'spoof'} side of {expl['threshold']:g})")
    fig.add_subplot(grid[0, 1]).axis("off")

    ax = fig.add_subplot(grid[1, 0], sharex=fig.axes[0])
    im = ax.imshow(expl["power_db"], origin="lower", aspect="auto", extent=extent, cmap="magma",
                   vmin=expl["power_db"].max() - 80, vmax=expl["power_db"].max())
    ax.set(ylabel="frequency (kHz)", title="Spectrogram")
    fig.colorbar(im, cax=fig.add_subplot(grid[1, 1]), label="power (dB)")

    ax = fig.add_subplot(grid[2, 0], sharex=fig.axes[0])
    ws = expl["window_scores"]
    ax.plot(ws["centre_s"], ws["scores"], "o-", ms=3, color="tab:blue",
            label=f"{ws['window_s']:g} s windows, hop {ws['hop_s']:g} s")
    ax.axhline(expl["threshold"], color="0.5", lw=0.8, ls="--", label=f"threshold {expl['threshold']:g}")
    ax.set(ylabel="score", title="Score over time (higher = bona fide)")
    trace = expl.get("frame_llr")
    if trace is not None:
        twin = ax.twinx()
        twin.plot(trace["times_s"], trace["llr"], lw=0.5, color="tab:orange", alpha=0.7)
        twin.set_ylabel("frame LLR", color="tab:orange")
        twin.tick_params(axis="y", colors="tab:orange")
        ax.plot([], [], color="tab:orange", lw=0.8, label="frame log-likelihood ratio (right axis)")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    fig.add_subplot(grid[2, 1]).axis("off")

    for row, method in enumerate(methods, start=3):
        att = expl["attributions"][method]
        ax = fig.add_subplot(grid[row, 0], sharex=fig.axes[0])
        limit = _symmetric_limit(att.tf_map)
        im = ax.imshow(att.tf_map, origin="lower", aspect="auto", extent=extent, cmap=ATTRIBUTION_CMAP,
                       vmin=-limit, vmax=limit)
        ax.set(ylabel="frequency (kHz)", title=f"{METHOD_TITLES[method]}: blue → bona fide, red → spoof")
        unit = "a.u." if method == "gradcam" else "score units"
        fig.colorbar(im, cax=fig.add_subplot(grid[row, 1]), label=f"attribution ({unit})")
    fig.axes[-2].set_xlabel("time (s)")
    caption = " ".join(f"{METHOD_TITLES[m]}: {expl['attributions'][m].caption}" for m in methods)
    fig.text(0.08, 0.005, textwrap.fill(caption, 175), fontsize=6.5, va="bottom", color="0.25")
    return save(fig, stem)


def rawnet2_figure(responses: dict, fms: list[np.ndarray], fms_groups: dict[str, list[np.ndarray] | None], title: str,
                   stem: Path) -> Path:
    """Sinc filter responses, and each residual block's FMS weights for this file and per group of files."""
    plt = _pyplot()
    fig = plt.figure(figsize=(10, 7))
    grid = fig.add_gridspec(2, 6, height_ratios=[1.2, 1], hspace=0.45, wspace=0.45, left=0.07, right=0.98,
                            top=0.92, bottom=0.09)
    ax = fig.add_subplot(grid[0, :])
    freqs = responses["frequencies_hz"] / 1000
    colors = plt.get_cmap("viridis")(np.linspace(0, 1, len(responses["response_db"])))
    for db, c in zip(responses["response_db"], colors):
        ax.plot(freqs, db, lw=0.7, color=c)
    ax.plot(responses["centre_hz"] / 1000, np.zeros_like(responses["centre_hz"]), "k|", ms=8,
            label="configured band centres")
    ax.set(ylim=(-60, 3), xlim=(0, freqs[-1]), xlabel="frequency (kHz)", ylabel="gain (dB re peak)",
           title=f"{title}: sinc filter bank frequency responses ({len(colors)} filters, Mel-spaced)")
    ax.legend(loc="lower right", fontsize=7)
    for i, weights in enumerate(fms):
        ax = fig.add_subplot(grid[1, i])
        channels = np.arange(len(weights))
        for (name, group), style in zip(fms_groups.items(), ("tab:blue", "tab:red")):
            if group is not None:  # the group's mean weights, per block
                ax.plot(channels, group[i], color=style, lw=0.8, label=name)
        ax.plot(channels, weights, color="k", lw=0.8, ls=":", label="this file")
        ax.set(title=f"block {i}", xlabel="channel", ylim=(0, 1))
        if i == 0:
            ax.set_ylabel("FMS weight (sigmoid)")
            ax.legend(fontsize=6, loc="lower left")
    fig.text(0.07, 0.01, "Feature-map scaling: each residual block multiplies channel c by its weight (and adds "
             "it); lines: this file, and the mean over the bona fide and the spoof files (by label; by decision "
             "without one).", fontsize=7,
             color="0.25")
    return save(fig, stem)


def aasist_figure(att: dict, title: str, stem: Path) -> Path:
    """AASIST's spectral-graph attention matrix and the attention each temporal node receives."""
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1, 1.4]})
    edges = att["band_edges_hz"] / 1000
    n = len(att["spectral"])
    im = a1.imshow(att["spectral"], origin="lower", cmap="viridis", extent=[0, n, 0, n])
    ticks = np.arange(0, n + 1, max(1, n // 6))
    a1.set_xticks(ticks, [f"{edges[min(t, n)]:.1f}" for t in ticks])
    a1.set_yticks(ticks, [f"{edges[min(t, n)]:.1f}" for t in ticks])
    a1.set(xlabel="attended band node (kHz)", ylabel="attending band node (kHz)",
           title="Spectral graph attention")
    fig.colorbar(im, ax=a1, label="attention weight", fraction=0.046)
    times = (np.arange(len(att["temporal_received"])) + 0.5) * att["frame_seconds"]
    a2.bar(times, att["temporal_received"], width=att["frame_seconds"] * 0.9, color="tab:purple")
    a2.axhline(1 / len(times), color="0.5", ls="--", lw=0.8, label="uniform")
    a2.set(xlabel="time in the scored window (s; a shorter file is tiled to fill it)", ylabel="mean attention received",
           title="Temporal graph: attention received per frame node")
    a2.legend(fontsize=7)
    fig.suptitle(title)
    fig.text(0.01, 0.01, "Graph attention layers before graph pooling (softmax over neighbours; temperature of "
             "the model's config). Rows attend to columns.", fontsize=7, color="0.25")
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    return save(fig, stem)


def band_importance_figure(results: list[dict], stem: Path) -> Path:
    """Pooled EER per removed band, one group of bars per detector, the original EER as a line."""
    plt = _pyplot()
    edges = np.asarray(results[0]["band_edges_hz"]) / 1000
    labels = [f"{a:g}-{b:g}" for a, b in zip(edges[:-1], edges[1:])]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    width = 0.8 / len(results)
    for i, r in enumerate(results):
        eers = [b["eer"] if b["eer"] is not None else np.nan for b in r["bands"]]
        x = np.arange(len(labels)) + (i - (len(results) - 1) / 2) * width
        bars = ax.bar(x, eers, width, label=r["detector"])
        ax.hlines(r["original"]["eer"], x[0] - width, x[-1] + width, colors=bars.patches[0].get_facecolor(),
                  linestyles="--", lw=0.8)
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set(xlabel="band removed (kHz)", ylabel="EER (%)",
           title="Band importance: EER with one band removed (dashed: with nothing removed)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, stem)


def attack_attribution_figure(result: dict, stem: Path) -> Path:
    """Mean band attribution (score minus score without the band) for bona fide and each attack, and each
    attack's difference from bona fide (what sets that attack apart for this detector)."""
    plt = _pyplot()
    groups = list(result["band_attribution"])
    values = np.array([result["band_attribution"][g] for g in groups])
    edges = np.asarray(result["band_edges_hz"]) / 1000
    labels = [f"{a:g}-{b:g}" for a, b in zip(edges[:-1], edges[1:])]
    attacks = [g for g in groups if g != "bonafide"]
    panels = [(groups, values, "mean band attribution", "score − score without band")]
    if "bonafide" in groups and attacks:
        diff = values[[groups.index(a) for a in attacks]] - values[groups.index("bonafide")]
        panels.append((attacks, diff, "attack − bona fide", "difference"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 0.32 * len(groups) + 1.8), squeeze=False)
    for ax, (rows, data, title, unit) in zip(axes[0], panels):
        limit = _symmetric_limit(data)
        im = ax.imshow(data, aspect="auto", cmap=ATTRIBUTION_CMAP, vmin=-limit, vmax=limit)
        ax.set_yticks(np.arange(len(rows)), rows)
        ax.set_xticks(np.arange(len(labels)), labels, rotation=45)
        ax.set(xlabel="band (kHz)", title=title)
        fig.colorbar(im, ax=ax, label=unit)
    fig.suptitle(f"{result['detector']}: band attribution per class / attack (blue → bona fide, red → spoof)")
    fig.tight_layout()
    return save(fig, stem)


def safe_stem(name: str) -> str:
    """A system name as a file-name stem (dots kept: ``rawnet2.small``)."""
    return "".join(c if c.isalnum() or c in "._-+" else "_" for c in name)


def corpus_figures(results: list[dict], out: Path) -> dict[str, Path]:
    """The corpus-level figures of ``bench explain`` and of the report section: band importance of every detector
    (key ``"bands"``) and each detector's per-attack attribution (``"attacks:NAME"``)."""
    images = {}
    if results:
        images["bands"] = band_importance_figure(results, out / "band_importance")
        for result in results:
            images[f"attacks:{result['detector']}"] = attack_attribution_figure(
                result, out / f"attack_attribution.{safe_stem(result['detector'])}")
    return images
