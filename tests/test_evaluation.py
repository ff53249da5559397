"""evaluate_systems: result structure, breakdown semantics, per-attack ASV rates, bootstrap exactness and seeding;
tables and plots of its result."""
import json

import numpy as np
import pytest

from spoofbench.benchmark import evaluation as E
from spoofbench.benchmark import metrics as M
from spoofbench.benchmark.scorefiles import AsvScores
from spoofbench.benchmark.tables import format_metrics
from spoofbench.protocols import TrialTable

METRIC_KEYS = {"eer", "eer_ci", "min_tdcf_2019", "min_tdcf_2019_ci", "min_tdcf_2021", "min_tdcf_2021_ci", "min_dcf",
               "min_dcf_ci", "act_dcf", "cllr", "min_cllr", "n_bonafide", "n_spoof"}


def _corpus(seed=0, n_bona=120, n_spoof=360, codec=True):
    rng = np.random.default_rng(seed)
    n = n_bona + n_spoof
    label = np.array(["bonafide"] * n_bona + ["spoof"] * n_spoof)
    attack = np.where(label == "spoof", np.array(["A10", "A2", "A07"])[np.arange(n) % 3], "-")
    cols = {"utt_id": [f"u{i}" for i in range(n)], "path": [""] * n, "speaker": ["s"] * n, "split": ["eval"] * n,
            "label": label, "attack": attack}
    if codec:
        cols["codec"] = np.array(["none", "alaw"])[rng.integers(0, 2, n)]
    trials = TrialTable(cols)
    shift = np.select([attack == "A10", attack == "A2", attack == "A07"], [2.5, 1.0, 3.5], 0.0)
    scores = np.round(rng.normal(0, 1, n) - shift + 1, 1)  # rounded: plenty of ties
    return trials, scores


def _asv(seed=0):
    rng = np.random.default_rng(seed)
    attacks = np.array(["A10", "A2", "A07"])[rng.integers(0, 3, 300)]
    spoof = rng.normal(1, 1, 300) + np.select([attacks == "A10", attacks == "A2"], [1.5, -1.0], 0.0)
    return AsvScores(rng.normal(3, 1, 200), rng.normal(0, 1, 400), spoof, attacks)


def test_structure_and_values_match_the_metric_functions():
    trials, scores = _corpus()
    asv = _asv()
    result = E.evaluate_systems({"sysA": scores, "sysB": -scores * 0.5 + 1}, trials, asv=asv, n_bootstrap=50)
    assert set(result) == {"systems", "costs"}
    assert list(result["systems"]) == ["sysA", "sysB"]
    sys_a = result["systems"]["sysA"]
    assert set(sys_a) == {"pooled", "per_attack", "per_codec"}
    assert list(sys_a["per_attack"]) == ["A2", "A07", "A10"]  # natural order
    for m in [sys_a["pooled"], *sys_a["per_attack"].values(), *sys_a["per_codec"].values()]:
        assert set(m) == METRIC_KEYS
    bona, spoof = scores[trials.is_bonafide], scores[~trials.is_bonafide]
    pooled = sys_a["pooled"]
    assert pooled["eer"] == pytest.approx(100 * M.eer(bona, spoof), abs=1e-12)
    point = asv.operating_point()
    assert pooled["min_tdcf_2019"] == M.min_tdcf_2019(bona, spoof, point)
    assert pooled["min_tdcf_2021"] == M.min_tdcf_2021(bona, spoof, point)
    assert (pooled["min_dcf"], pooled["act_dcf"], pooled["cllr"]) == (M.min_dcf(bona, spoof), M.act_dcf(bona, spoof),
                                                                      M.cllr(bona, spoof))
    assert (pooled["n_bonafide"], pooled["n_spoof"]) == (120, 360)
    json.dumps(result, allow_nan=False)  # JSON-ready, no NaN


def test_per_attack_uses_all_bona_fide_and_that_attacks_asv_spoof_rate():
    trials, scores = _corpus()
    asv = _asv()
    result = E.evaluate_systems({"s": scores}, trials, asv=asv, n_bootstrap=0)
    is_bona = trials.is_bonafide
    for attack, m in result["systems"]["s"]["per_attack"].items():
        spoof = scores[~is_bona & (trials["attack"] == attack)]
        assert m["n_bonafide"] == is_bona.sum() and m["n_spoof"] == spoof.size
        assert m["eer"] == pytest.approx(100 * M.eer(scores[is_bona], spoof), abs=1e-12)
        point = asv.operating_point().for_spoof(asv.spoof[asv.spoof_attack == attack])
        assert m["min_tdcf_2019"] == M.min_tdcf_2019(scores[is_bona], spoof, point)
        assert result["costs"]["asv"]["per_attack_spoof_rates"][attack]["pfa_spoof"] == point.pfa_spoof
    # an ASV file without attack names: the pooled ASV operating point for every attack
    plain = AsvScores(asv.target, asv.nontarget, asv.spoof, None)
    result = E.evaluate_systems({"s": scores}, trials, asv=plain, n_bootstrap=0)
    m = result["systems"]["s"]["per_attack"]["A2"]
    spoof = scores[~is_bona & (trials["attack"] == "A2")]
    assert m["min_tdcf_2019"] == M.min_tdcf_2019(scores[is_bona], spoof, plain.operating_point())


def test_metadata_breakdown_compares_like_with_like():
    trials, scores = _corpus()
    result = E.evaluate_systems({"s": scores}, trials, n_bootstrap=0)
    is_bona = trials.is_bonafide
    for codec, m in result["systems"]["s"]["per_codec"].items():
        same = trials["codec"] == codec
        assert m["n_bonafide"] == (is_bona & same).sum() and m["n_spoof"] == (~is_bona & same).sum()
        assert m["eer"] == pytest.approx(100 * M.eer(scores[is_bona & same], scores[~is_bona & same]), abs=1e-12)
        assert m["min_tdcf_2019"] is None  # no ASV scores
    # a column whose values only spoofs carry (e.g. vocoder): each value against all bona fide
    vocoder = np.where(is_bona, "bonafide", np.where(np.arange(len(trials)) % 2, "hifigan", "wavenet"))
    result = E.evaluate_systems({"s": scores}, trials.with_column("vocoder", vocoder), n_bootstrap=0)
    assert result["systems"]["s"]["per_vocoder"]["hifigan"]["n_bonafide"] == is_bona.sum()
    assert "bonafide" not in result["systems"]["s"]["per_vocoder"]


def test_bootstrap_replicates_equal_official_metrics_on_explicit_resamples():
    rng = np.random.default_rng(11)
    trials, scores = _corpus(seed=3, n_bona=40, n_spoof=90, codec=False)
    is_bona = trials.is_bonafide
    point = M.AsvOperatingPoint(0.0, pfa=0.02, pmiss=0.03, pmiss_spoof=0.3, pfa_spoof=0.7)
    group = E._Group("pooled", None, np.arange(len(trials)), point)
    sg = E._prepare(scores, is_bona, group, np.arange(len(trials)))
    for _ in range(40):
        counts = np.zeros(len(trials), np.int64)
        counts[is_bona] = rng.multinomial(is_bona.sum(), np.full(is_bona.sum(), 1 / is_bona.sum()))
        counts[~is_bona] = rng.multinomial((~is_bona).sum(), np.full((~is_bona).sum(), 1 / (~is_bona).sum()))
        out = E._replicate_metrics(sg, counts[None])
        bona = rng.permutation(np.repeat(scores[is_bona], counts[is_bona]))
        spoof = rng.permutation(np.repeat(scores[~is_bona], counts[~is_bona]))
        assert out["eer"][0] == M.eer(bona, spoof)  # exactly, ties included
        assert out["min_dcf"][0] == pytest.approx(M.min_dcf(bona, spoof), abs=1e-14)
        assert out["min_tdcf_2019"][0] == pytest.approx(M.min_tdcf_2019(bona, spoof, point), abs=1e-14)
        assert out["min_tdcf_2021"][0] == pytest.approx(M.min_tdcf_2021(bona, spoof, point), abs=1e-14)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    trials, scores = _corpus(n_bona=300, n_spoof=900)
    asv = _asv()
    a = E.evaluate_systems({"s": scores}, trials, asv=asv, n_bootstrap=300, seed=1)
    b = E.evaluate_systems({"s": scores}, trials, asv=asv, n_bootstrap=300, seed=1)
    c = E.evaluate_systems({"s": scores}, trials, asv=asv, n_bootstrap=300, seed=2)
    assert a == b
    assert a["systems"]["s"]["pooled"]["eer_ci"] != c["systems"]["s"]["pooled"]["eer_ci"]
    for key in ("eer", "min_tdcf_2019", "min_tdcf_2021", "min_dcf"):
        low, high = a["systems"]["s"]["pooled"][f"{key}_ci"]
        assert low < a["systems"]["s"]["pooled"][key] < high
    # the spread shrinks roughly as 1/sqrt(n): a 4x smaller set gives a clearly wider interval
    small_trials, small_scores = _corpus(n_bona=75, n_spoof=225)
    small = E.evaluate_systems({"s": small_scores}, small_trials, n_bootstrap=300, seed=1)
    width = lambda r: np.diff(r["systems"]["s"]["pooled"]["eer_ci"])[0]  # noqa: E731
    assert width(small) > 1.4 * width(a)


def test_bootstrap_is_paired_across_systems():
    trials, scores = _corpus()
    alone = E.evaluate_systems({"x": scores}, trials, n_bootstrap=100, seed=4)
    together = E.evaluate_systems({"other": scores * 2 - 1, "x": scores}, trials, n_bootstrap=100, seed=4)
    assert alone["systems"]["x"] == together["systems"]["x"]  # same resamples whatever else is evaluated
    assert together["systems"]["other"]["pooled"]["eer_ci"] == together["systems"]["x"]["pooled"]["eer_ci"]


def test_bad_input_is_refused_clearly():
    from spoofbench.protocols import BenchError

    trials, scores = _corpus()
    with pytest.raises(BenchError, match="3 scores for 480 trials"):
        E.evaluate_systems({"s": scores[:3]}, trials)
    with pytest.raises(BenchError, match="NaN or Inf"):
        E.evaluate_systems({"s": np.where(np.arange(scores.size) == 5, np.nan, scores)}, trials)
    with pytest.raises(BenchError, match="both bona fide and spoof"):
        E.evaluate_systems({"s": scores[trials.is_bonafide]}, trials[trials.is_bonafide])


def test_tables_in_every_format():
    trials, scores = _corpus()
    result = E.evaluate_systems({"sysA": scores, "sysB": scores + 0.5}, trials, asv=_asv(), n_bootstrap=50)
    m = result["systems"]["sysA"]["pooled"]
    text = format_metrics(result, "table")
    assert f"{m['eer']:.2f} [{m['eer_ci'][0]:.2f}, {m['eer_ci'][1]:.2f}]" in text
    assert "A10" in text and "codec" in text and "sysB" in text
    github = format_metrics(result, "github")
    assert github.splitlines()[0].startswith("| attack") and "sysA: EER %" in github
    assert "\\toprule" in format_metrics(result, "latex")
    assert json.loads(format_metrics(result, "json")) == result
    lines = format_metrics(result, "csv").splitlines()
    header = lines[0].split(",")
    assert header[:5] == ["system", "breakdown", "group", "n_bonafide", "n_spoof"]
    assert len(lines) == 1 + 2 * (1 + 3 + 2)  # systems x (pooled + attacks + codecs)
    row = dict(zip(header, lines[1].split(",")))
    assert float(row["eer"]) == m["eer"] and float(row["eer_ci_low"]) == m["eer_ci"][0]
    no_asv = E.evaluate_systems({"s": scores}, trials, n_bootstrap=0)
    text = format_metrics(no_asv, "table")
    assert "t-DCF not computed" in text and "min t-DCF" not in text


def test_plots_write_png_and_pdf(tmp_path):
    import matplotlib.image

    from spoofbench.benchmark import plots

    trials, scores = _corpus()
    is_bona = trials.is_bonafide
    paths = plots.plot_det({"a": (scores[is_bona], scores[~is_bona]), "b": (scores[is_bona] + 1, scores[~is_bona])},
                           str(tmp_path / "det"))
    paths += plots.plot_det_grid({"a": scores, "b": scores * 2}, trials, str(tmp_path / "grid"))
    paths += plots.plot_score_histograms(scores, trials, str(tmp_path / "hist"), title="a")
    assert [p.rsplit(".", 1)[1] for p in paths] == ["png", "pdf"] * 3
    for p in paths:
        with open(p, "rb") as fh:
            head = fh.read(8)
        assert head.startswith(b"\x89PNG") or head.startswith(b"%PDF")
    image = matplotlib.image.imread(paths[0])
    assert image.shape[0] > 500 and image.shape[1] > 500
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary files


def test_a_systems_intervals_do_not_depend_on_the_other_systems():
    trials, scores = _corpus()
    other = np.random.default_rng(9).normal(size=scores.size)
    alone = E.evaluate_systems({"x": scores}, trials, n_bootstrap=100, seed=4)
    after = E.evaluate_systems({"x": scores, "other": other}, trials, n_bootstrap=100, seed=4)
    before = E.evaluate_systems({"other": other, "x": scores}, trials, n_bootstrap=100, seed=4)
    assert alone["systems"]["x"] == after["systems"]["x"] == before["systems"]["x"]


def test_condition_rows_use_the_conditions_own_asv_operating_point():
    trials, scores = _corpus()
    base = _asv()
    rng = np.random.default_rng(2)
    meta = {"codec": tuple(np.array(["none", "alaw"], dtype=object)[rng.integers(0, 2, x.size)]
                           for x in (base.target, base.nontarget, base.spoof))}
    asv = AsvScores(base.target, base.nontarget, base.spoof, base.spoof_attack, "", meta)
    result = E.evaluate_systems({"s": scores}, trials, asv=asv, n_bootstrap=0)
    is_bona, alaw = trials.is_bonafide, trials["codec"] == "alaw"
    point = asv.condition_point("codec", "alaw")
    assert point != asv.operating_point()
    m = result["systems"]["s"]["per_codec"]["alaw"]
    assert m["min_tdcf_2021"] == M.min_tdcf_2021(scores[is_bona & alaw], scores[~is_bona & alaw], point)
    assert result["costs"]["asv"]["per_condition"]["codec"]["alaw"] == point.as_dict()


def test_a_new_metric_is_one_entry_of_the_metric_table(monkeypatch):
    """An entry in metric_specs (plus its function) reaches the result, JSON, CSV and the human tables."""
    from spoofbench.benchmark import metric_specs

    gap = metric_specs.MetricSpec("median_gap", "median gap", "median bona fide minus median spoof score",
                                  digits=3, lower_is_better=False, shown=("table", "summary"),
                                  function="median_gap")
    monkeypatch.setattr(metric_specs, "METRIC_SPECS", (*metric_specs.METRIC_SPECS, gap))
    monkeypatch.setattr(M, "median_gap", lambda b, s: float(np.median(b) - np.median(s)), raising=False)
    trials, scores = _corpus()
    result = E.evaluate_systems({"s": scores}, trials, asv=_asv(), n_bootstrap=0)
    expected = float(np.median(scores[trials.is_bonafide]) - np.median(scores[~trials.is_bonafide]))
    assert result["systems"]["s"]["pooled"]["median_gap"] == expected
    assert "median_gap" in result["systems"]["s"]["per_attack"]["A2"]
    assert json.loads(format_metrics(result, "json"))["systems"]["s"]["pooled"]["median_gap"] == expected
    header, pooled = (line.split(",") for line in format_metrics(result, "csv").splitlines()[:2])
    assert float(dict(zip(header, pooled))["median_gap"]) == expected
    table = format_metrics(result, "github")
    assert "median gap" in table.splitlines()[0] and f"{expected:.3f}" in table.splitlines()[2]
    from types import SimpleNamespace

    from spoofbench.benchmark import report

    outcome = SimpleNamespace(systems=[SimpleNamespace(label="s", ok=True, cached=False)], fusions=[], seeds=[None])
    headers, rows = report.summary_rows(result, outcome)
    assert headers[-2:] == ["median gap", "status"] and rows[0][-2] == f"{expected:.3f}"


def test_hard_decisions_are_refused_by_name_when_the_t_dcf_is_computed():
    from spoofbench.protocols import BenchError

    trials, scores = _corpus()
    hard = np.where(scores > 0.5, 1.0, 0.0)
    with pytest.raises(BenchError, match=r"^system decisions: only 2 distinct score\(s\): the t-DCF needs soft"):
        E.evaluate_systems({"soft": scores, "decisions": hard}, trials, asv=_asv(), n_bootstrap=0)
    # without ASV scores there is no t-DCF to refuse: the EER of hard decisions is still defined
    pooled = E.evaluate_systems({"decisions": hard}, trials, n_bootstrap=0)["systems"]["decisions"]["pooled"]
    bona, spoof = hard[trials.is_bonafide], hard[~trials.is_bonafide]
    assert pooled["eer"] == pytest.approx(100 * M.eer(bona, spoof), abs=1e-12)
    assert pooled["min_tdcf_2019"] is None


def test_report_pivot_tables_bold_the_best_value_in_the_metrics_direction(monkeypatch):
    """The metric table's lower_is_better decides which value of a per-attack row the report's pivot bolds."""
    from pathlib import Path
    from types import SimpleNamespace

    from spoofbench.benchmark import metric_specs, report

    gap = metric_specs.MetricSpec("median_gap", "median gap", "median bona fide minus median spoof score",
                                  lower_is_better=False, shown=("pivot",), function="median_gap")
    monkeypatch.setattr(metric_specs, "METRIC_SPECS", (*metric_specs.METRIC_SPECS, gap))
    monkeypatch.setattr(M, "median_gap", lambda b, s: float(np.median(b) - np.median(s)), raising=False)
    monkeypatch.setattr(report, "write_text_atomic", lambda path, text: None)  # the tables only, no files
    trials, scores = _corpus()
    result = E.evaluate_systems({"a": scores, "b": scores * 2}, trials, n_bootstrap=0)  # b: twice a's gap
    outcome = SimpleNamespace(systems=[SimpleNamespace(label=n, ok=True, cached=False) for n in "ab"], fusions=[],
                              seeds=[None])
    pivots = {title: (rows, lower) for title, _, rows, lower in report.write_tables(Path("unused"), result,
                                                                                     outcome)["pivots"]}
    rows, lower = pivots["median gap per attack (eval)"]
    bold = report._bold_best(rows, lower)
    assert bold[0][3].startswith("**") and not bold[0][2].startswith("**")  # pooled row: b's larger gap is best
    eer_rows, eer_lower = pivots["EER % per attack (eval)"]
    assert eer_lower and all(c.startswith("**") for c in report._bold_best(eer_rows, eer_lower)[0][2:])  # a tie
