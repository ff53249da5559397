"""DET plots and score histograms: what the figures show (read back from the matplotlib objects) and the files."""
import numpy as np
import pytest
from scipy.special import ndtr, ndtri

from spoofbench.benchmark import metrics as M
from spoofbench.benchmark import plots
from spoofbench.protocols import TrialTable


@pytest.fixture()
def figures(monkeypatch):
    """The figures the plot functions build, kept instead of written."""
    kept = []
    monkeypatch.setattr(plots, "_save", lambda fig, path_stem, formats: kept.append(fig) or [])
    return kept


def _systems(eers, n_bona=2000, n_spoof=6000, seed=0):
    """Gaussian score sets (unit variance) whose EERs are about ``eers``."""
    rng = np.random.default_rng(seed)
    return {f"sys{k}": (rng.normal(-2 * ndtri(e), 1, n_bona), rng.normal(0, 1, n_spoof)) for k, e in enumerate(eers)}


def _trials(n_bona, attacks):
    label = ["bonafide"] * n_bona + ["spoof"] * len(attacks)
    n = len(label)
    return TrialTable({"utt_id": [f"u{i}" for i in range(n)], "path": [""] * n, "speaker": ["s"] * n,
                       "split": ["eval"] * n, "label": label, "attack": ["-"] * n_bona + list(attacks)})


def _markers(ax):
    return [line for line in ax.lines if line.get_marker() in ("o", "s")]


def _assert_markers_inside(ax):
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    markers = _markers(ax)
    assert markers
    for line in markers:
        x, y = line.get_xdata()[0], line.get_ydata()[0]
        assert x0 <= x <= x1 and y0 <= y <= y1, (line.get_marker(), ndtr(x), ndtr(y), ndtr(x0), ndtr(x1))


def _tick_percents(ax):
    return [float(t.get_text()) for t in ax.get_xticklabels()]


def test_det_range_holds_every_eer_and_min_dcf_point_of_poor_and_good_systems(figures):
    systems = _systems([0.23, 0.25, 0.27, 0.24, 0.01])
    assert 20 < 100 * M.eer(*systems["sys0"]) < 26 and 100 * M.eer(*systems["sys4"]) < 2
    plots.plot_det(systems, "unused")
    ax = figures[0].axes[0]
    assert len(_markers(ax)) == 2 * len(systems)
    _assert_markers_inside(ax)
    # the ticks cover the axes from end to end, with labels up to at least 50 % for these poor systems
    ticks = _tick_percents(ax)
    assert ticks[-1] >= 50 and ticks[0] <= 0.1
    assert ndtri(ticks[0] / 100) == pytest.approx(ax.get_xlim()[0], abs=1e-9)
    assert ndtri(ticks[-1] / 100) == pytest.approx(ax.get_xlim()[1], abs=1e-9)
    assert ax.get_xlim() == ax.get_ylim()


def test_det_range_reaches_low_rates_for_a_very_good_system(figures):
    plots.plot_det(_systems([0.0005], n_bona=20000, n_spoof=60000), "unused")
    ax = figures[0].axes[0]
    _assert_markers_inside(ax)
    assert _tick_percents(ax)[0] <= 0.01


def test_det_grid_panels_hold_every_point(figures):
    rng = np.random.default_rng(1)
    attacks = np.repeat(["A07", "A08", "A09"], 1500)
    trials = _trials(1000, attacks)
    shift = np.select([attacks == "A07", attacks == "A08"], [1.3, 1.5], 4.5)  # EERs about 26 %, 23 %, 1 %
    base = np.concatenate([rng.normal(0, 1, 1000), rng.normal(0, 1, attacks.size) - shift])
    other = base + rng.normal(0, 0.2, base.size)
    assert 100 * max(M.eer(s[:1000], s[1000:][attacks == "A07"]) for s in (base, other)) < 29
    plots.plot_det_grid({"a": base, "b": other}, trials, "unused")
    for ax in figures[0].axes:
        _assert_markers_inside(ax)


def _attack_corpus(seed=1):
    """Three attacks, 23-26 % and 1 % EER; bona fide scores narrow (std 0.3), spoof scores wide (std 6)."""
    rng = np.random.default_rng(seed)
    attacks = np.repeat(["A07", "A08", "A09"], 400)
    trials = _trials(300, attacks)
    scores = np.concatenate([rng.normal(3, 0.3, 300), rng.normal(-15, 6, attacks.size)])
    return trials, scores, attacks


def test_det_grid_has_a_legend_with_system_names_and_labelled_axes(figures):
    trials, scores, _ = _attack_corpus()
    systems = {"rawnet2.small": scores, "lfcc-gmm.small": scores * 0.5 + 1}
    plots.plot_det_grid(systems, trials, "unused")
    fig = figures[0]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [*systems, "EER", "minDCF"]
    assert len(fig.axes) == 4  # pooled + 3 attacks
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel()
        assert "EER" not in ax.get_title()  # EERs are named in the panel's legend, not listed in the title
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert len(texts) == 2 and all(t.startswith(n) and "EER" in t for t, n in zip(texts, systems))
        assert min(t.get_fontsize() for t in ax.get_xticklabels()) >= 8
        assert ax.title.get_fontsize() >= 9


def _filled_bins(patch) -> int:
    """Bins of positive height in a histogram's step outline (horizontal steps above zero)."""
    xy = patch.get_xy()
    return int(np.sum((xy[1:, 1] == xy[:-1, 1]) & (xy[:-1, 1] > 0) & (xy[1:, 0] > xy[:-1, 0])))


def test_histogram_bins_resolve_a_narrow_and_a_wide_class(figures):
    trials, scores, _ = _attack_corpus()
    plots.plot_score_histograms(scores, trials, "unused", title="narrow bona fide")
    fig = figures[0]
    assert [t.get_text() for t in fig.legends[0].get_texts()][:2] == ["bona fide", "spoof"]
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel()
        by_class = {p.get_label(): p for p in ax.patches if p.get_label() in ("bona fide", "spoof")}
        assert set(by_class) == {"bona fide", "spoof"}
        assert _filled_bins(by_class["bona fide"]) >= 10 and _filled_bins(by_class["spoof"]) >= 10


def test_class_bin_edges():
    wide = np.random.default_rng(0).normal(0, 50, 10_000)
    edges = plots.class_bin_edges(wide)
    assert edges.size == 61 and edges[0] > wide.min() and edges[-1] < wide.max()  # outliers left out
    assert plots.class_bin_edges(np.full(5, 2.0)).tolist()[::10] == [1.5, 2.5]  # constant scores: one unit wide


def test_pdfs_embed_truetype_fonts_without_changing_global_settings(tmp_path):
    import matplotlib

    before = matplotlib.rcParams["pdf.fonttype"]
    trials, scores, _ = _attack_corpus()
    written = plots.plot_det({"a": (scores[:300], scores[300:])}, str(tmp_path / "det"))
    written += plots.plot_det_grid({"a": scores}, trials, str(tmp_path / "grid"))
    written += plots.plot_score_histograms(scores, trials, str(tmp_path / "hist"))
    pdfs = [p for p in written if p.endswith(".pdf")]
    assert len(pdfs) == 3
    for path in pdfs:
        data = open(path, "rb").read()
        # TrueType glyph data, as a simple TrueType font or (matplotlib >= 3.10) a CID-keyed one
        assert b"/FontFile2" in data, path
        assert b"/Subtype /TrueType" in data or b"/Subtype /CIDFontType2" in data, path
        assert b"/Subtype /Type3" not in data, path
    assert matplotlib.rcParams["pdf.fonttype"] == before
