"""Metrics: hand-computable cases, invariances (hypothesis), official quirks and refusals."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spoofbench.benchmark import metrics as M

# ---------------------------------------------------------------------------------------------------------------
# DET curve and EER by hand


def test_det_curve_perfect_separation():
    pmiss, pfa, thr = M.det_curve([3.0, 4.0], [1.0, 2.0])
    assert pmiss.tolist() == [0, 0, 0, 0.5, 1]
    assert pfa.tolist() == [1, 0.5, 0, 0, 0]
    assert thr.tolist() == pytest.approx([0.999, 1, 2, 3, 4])
    assert M.eer([3.0, 4.0], [1.0, 2.0]) == 0.0
    assert M.eer_threshold([3.0, 4.0], [1.0, 2.0]) == 2.0


def test_eer_of_known_interleavings():
    # b s b s b s (spoofs above) -> the curves cross at the third point: EER 2/3
    assert M.eer([1, 3, 5], [2, 4, 6]) == pytest.approx(2 / 3)
    # s b s b s b -> EER 1/3
    assert M.eer([2, 4, 6], [1, 3, 5]) == pytest.approx(1 / 3)
    # a single bona fide between two spoofs: |Pmiss - Pfa| ties at 0.5; the FIRST minimum (EER 0.25) is taken
    assert M.eer([2.0], [1.0, 3.0]) == 0.25


def test_ties_are_split_bona_fide_first_as_the_official_code():
    # sorted: -1 s, 0 b, 0 s, 1 b. Bona fide first among the tied zeros gives the point (0.5, 0.5).
    pmiss, pfa, _ = M.det_curve([0.0, 1.0], [0.0, -1.0])
    assert pmiss.tolist() == [0, 0, 0.5, 0.5, 1]
    assert pfa.tolist() == [1, 0.5, 0.5, 0, 0]
    assert M.eer([0.0, 1.0], [0.0, -1.0]) == 0.5
    # all scores tied: bona fide are "rejected" first, so the official EER is 100 %, not 50 %
    assert M.eer([1.0, 1.0], [1.0, 1.0]) == 1.0


def test_det_curve_does_not_depend_on_order_within_a_class():
    rng = np.random.default_rng(0)
    bona, spoof = np.round(rng.normal(1, 1, 50), 1), np.round(rng.normal(0, 1, 70), 1)
    a = M.det_curve(bona, spoof)
    b = M.det_curve(rng.permutation(bona), rng.permutation(spoof))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------------------------------------------------
# invariances and symmetry (hypothesis)

small_ints = st.lists(st.integers(-20, 20), min_size=1, max_size=40)
TRANSFORMS = [lambda x: 3 * x + 7, lambda x: x ** 3 + x, lambda x: np.exp(x / 10.0), lambda x: np.arctan(x / 4.0)]


@settings(max_examples=150, deadline=None)
@given(small_ints, small_ints, st.sampled_from(range(len(TRANSFORMS))))
def test_eer_and_min_costs_are_invariant_to_increasing_transforms(bona, spoof, k):
    bona, spoof = np.array(bona, float), np.array(spoof, float)
    f = TRANSFORMS[k]
    assert M.eer(f(bona), f(spoof)) == M.eer(bona, spoof)
    assert M.min_dcf(f(bona), f(spoof)) == M.min_dcf(bona, spoof)
    point = M.AsvOperatingPoint(0.0, pfa=0.02, pmiss=0.03, pmiss_spoof=0.3, pfa_spoof=0.7)
    if np.unique(np.concatenate([bona, spoof])).size >= 3:
        assert M.min_tdcf_2019(f(bona), f(spoof), point) == M.min_tdcf_2019(bona, spoof, point)
        assert M.min_tdcf_2021(f(bona), f(spoof), point) == M.min_tdcf_2021(bona, spoof, point)
    assert M.min_cllr(f(bona), f(spoof)) == pytest.approx(M.min_cllr(bona, spoof), abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=1, max_size=40, unique=True), st.integers(1, 39))
def test_swapping_classes_and_negating_mirrors_the_det_curve(values, n_bona):
    values = np.array(values)
    if n_bona >= values.size:
        return
    bona, spoof = values[:n_bona], values[n_bona:]
    pmiss, pfa, _ = M.det_curve(bona, spoof)
    pmiss2, pfa2, _ = M.det_curve(-spoof, -bona)
    # the curve of (-spoof vs -bona) is the original one, mirrored and read backwards
    np.testing.assert_allclose(pmiss2, pfa[::-1], atol=1e-15)
    np.testing.assert_allclose(pfa2, pmiss[::-1], atol=1e-15)
    # so the EERs agree up to the one-step ambiguity of the "first minimum" rule
    step = max(1 / bona.size, 1 / spoof.size)
    assert abs(M.eer(bona, spoof) - M.eer(-spoof, -bona)) <= step / 2 + 1e-12
    assert abs(M.eer(-bona, -spoof) - (1 - M.eer(bona, spoof))) <= step + 1e-12
    assert M.cllr(bona, spoof) == pytest.approx(M.cllr(-spoof, -bona), rel=1e-12)
    assert M.min_cllr(bona, spoof) == pytest.approx(M.min_cllr(-spoof, -bona), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(small_ints, small_ints)
def test_normalised_costs_never_exceed_one_and_eer_is_a_fraction(bona, spoof):
    bona, spoof = np.array(bona, float), np.array(spoof, float)
    assert 0 <= M.eer(bona, spoof) <= 1
    assert 0 <= M.min_dcf(bona, spoof) <= 1 + 1e-12
    point = M.AsvOperatingPoint(0.0, pfa=0.05, pmiss=0.05, pmiss_spoof=0.5, pfa_spoof=0.5)
    if np.unique(np.concatenate([bona, spoof])).size >= 3:
        assert M.min_tdcf_2019(bona, spoof, point) <= 1 + 1e-12
        assert M.min_tdcf_2021(bona, spoof, point) <= 1 + 1e-12
    assert M.min_cllr(bona, spoof) <= 1 + 1e-12


# ---------------------------------------------------------------------------------------------------------------
# ASV operating point and t-DCF


def _asv_table_2019_la_eval(rng):
    """ASV scores with the error counts of the official 2019 LA eval ASV file (5370 targets, 33327 nontargets,
    63882 spoofs) around a threshold tau: 132 targets below tau, 820 nontargets at or above it (one exactly at
    tau, as in the official file), 48592 spoofs at or above it."""
    tau = -5.680051
    target = np.concatenate([rng.uniform(-30, tau - 1, 132), rng.uniform(tau + 40, 60, 5370 - 132)])
    nontarget = np.concatenate([rng.uniform(-60, tau - 1, 33327 - 820), [tau], rng.uniform(tau + 1, tau + 30, 819)])
    spoof = np.concatenate([rng.uniform(-60, tau - 0.5, 63882 - 48592), rng.uniform(tau, 40, 48592)])
    return target, nontarget, spoof, tau


def test_published_2019_la_eval_asv_operating_point_and_tdcf_weights():
    target, nontarget, spoof, tau = _asv_table_2019_la_eval(np.random.default_rng(7))
    point = M.asv_operating_point(target, nontarget, spoof)
    assert point.threshold == tau  # the EER threshold is the nontarget score at tau, counted as accepted (>=)
    assert point.pmiss == pytest.approx(0.02458101, abs=1e-8)
    assert point.pfa == pytest.approx(0.02460467, abs=1e-8)
    assert point.pfa_spoof == pytest.approx(0.76065245, abs=1e-8)
    c1, c2 = M.tdcf_costs_2019(point)
    assert (c1, c2) == (pytest.approx(0.91504412, abs=1e-8), pytest.approx(0.38032623, abs=1e-8))
    c0, c1_21, c2_21 = M.tdcf_costs_2021(point)
    assert c0 == pytest.approx(0.02545588, abs=1e-8)
    assert (c1_21, c2_21) == (pytest.approx(c1, abs=1e-15), pytest.approx(c2, abs=1e-15))
    assert c0 / (c0 + c2) == pytest.approx(0.06273, abs=5e-6)  # the constant the 2021 code prints
    assert c1 / c2 == pytest.approx(2.40595, abs=5e-6)          # t-DCF_norm = 2.40595 Pmiss + Pfa


def test_asv_rates_use_greater_equal_for_acceptance():
    point = M.asv_operating_point([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], [2.0, 0.5], threshold=2.0)
    assert point.pmiss == pytest.approx(1 / 3)   # target 1.0 < 2 rejected, 2.0 accepted
    assert point.pfa == pytest.approx(1 / 3)     # nontarget 2.0 >= 2 accepted
    assert (point.pfa_spoof, point.pmiss_spoof) == (0.5, 0.5)
    assert point.for_spoof([5.0, 6.0, 0.0, 1.0]).pfa_spoof == 0.5


def test_min_tdcf_by_hand():
    point = M.AsvOperatingPoint(0.0, pfa=0.0, pmiss=0.0, pmiss_spoof=0.0, pfa_spoof=1.0)
    c1, c2 = M.tdcf_costs_2019(point)
    assert (c1, c2) == (pytest.approx(0.9405), pytest.approx(0.5))
    assert M.min_tdcf_2019([3.0, 4.0, 5.0], [1.0, 2.0], point) == 0.0
    # bona 1,3 / spoof 2,4: points (Pmiss, Pfa) = (0,1) (.5,1) (.5,.5) (1,.5) (1,0); the best is accepting all
    assert M.min_tdcf_2019([1.0, 3.0], [2.0, 4.0], point) == pytest.approx(1.0)
    curve, _ = M.tdcf_curve_2019([1.0, 3.0], [2.0, 4.0], point)
    assert curve == pytest.approx(np.array([0.5, 0.97025, 0.72025, 1.19050, 0.9405]) / 0.5)
    # 2021 form, C0 from ASV errors: with C1, C2 as in 2019 it is an affine map of the 2019 value
    point = M.AsvOperatingPoint(0.0, pfa=0.03, pmiss=0.04, pmiss_spoof=0.4, pfa_spoof=0.6)
    bona, spoof = np.random.default_rng(1).normal(1, 1, 300), np.random.default_rng(2).normal(0, 1, 500)
    c0, c1, c2 = M.tdcf_costs_2021(point)
    m = min(c1, c2)
    expected = (c0 + m * M.min_tdcf_2019(bona, spoof, point)) / (c0 + m)
    assert M.min_tdcf_2021(bona, spoof, point) == pytest.approx(expected, rel=1e-12)
    assert M.min_tdcf_2021(bona, spoof, c012=(c0, c1, c2)) == M.min_tdcf_2021(bona, spoof, point)


def test_refusals_where_the_official_code_aborts():
    point = M.AsvOperatingPoint(0.0, pfa=0.02, pmiss=0.03, pmiss_spoof=0.3, pfa_spoof=0.7)
    with pytest.raises(M.MetricError, match="fewer than 3 distinct scores"):
        M.min_tdcf_2019([1.0, 1.0], [0.0, 0.0], point)
    with pytest.raises(M.MetricError, match="NaN"):
        M.min_tdcf_2021([1.0, np.nan, 2.0], [0.0, 0.5], point)
    with pytest.raises(M.MetricError, match="Inf"):
        M.eer([1.0, np.inf], [0.0])
    bad = M.AsvOperatingPoint(0.0, pfa=0.9, pmiss=0.99, pmiss_spoof=0.3, pfa_spoof=0.7)  # C1 < 0
    with pytest.raises(M.MetricError, match="C1"):
        M.min_tdcf_2019([1.0, 2.0, 3.0], [0.0, 0.5], bad)
    with pytest.raises(M.MetricError, match="C1"):
        M.min_tdcf_2021([1.0, 2.0, 3.0], [0.0, 0.5], c012=(0.1, -0.2, 0.3))
    with pytest.raises(M.MetricError, match="no spoof"):
        M.tdcf_costs_2019(M.asv_operating_point([1.0, 2.0], [0.0, -1.0]))
    with pytest.raises(M.MetricError, match="no bona fide"):
        M.eer([], [1.0])
    with pytest.raises(M.MetricError, match="sum to one"):
        M.TdcfCosts2019(p_spoof=0.5)
    assert isinstance(M.MetricError("x"), ValueError)


# ---------------------------------------------------------------------------------------------------------------
# ASVspoof 5 metrics


def test_min_dcf_and_act_dcf_by_hand():
    assert M.min_dcf([3.0, 4.0], [1.0, 2.0]) == 0.0
    assert M.min_dcf([1.0, 2.0], [3.0, 4.0]) == pytest.approx(1.0)  # accept all: 10*0.05*1 / 0.5
    assert M.act_dcf_threshold() == pytest.approx(-math.log(1.9))
    # bona fide 0, -1: one below -0.642 (miss 0.5); spoof -2, -0.5: one at or above it (false alarm 0.5)
    assert M.act_dcf([0.0, -1.0], [-2.0, -0.5]) == pytest.approx((0.95 * 0.5 + 0.5 * 0.5) / 0.5)
    # a score exactly at the threshold is a false alarm for spoof and no miss for bona fide
    t = M.act_dcf_threshold()
    assert M.act_dcf([t], [t]) == pytest.approx(0.5 / 0.5)


def test_cllr_by_hand_and_stable_for_huge_scores():
    assert M.cllr([0.0], [0.0]) == pytest.approx(1.0)
    assert M.cllr([1000.0], [-1000.0]) == 0.0
    assert M.cllr([-1000.0], [1000.0]) == pytest.approx(1000 / math.log(2))  # finite where log1p(exp) overflows
    assert M.cllr([math.log(3)], [-math.log(3)]) == pytest.approx(math.log2(4 / 3))


def test_min_cllr():
    assert M.min_cllr([3.0, 4.0], [1.0, 2.0]) == 0.0
    assert M.min_cllr([1.0, 1.0], [1.0, 1.0, 1.0]) == pytest.approx(1.0)  # no information, whatever the prior
    rng = np.random.default_rng(3)
    bona, spoof = rng.normal(2, 1, 400), rng.normal(0, 1.5, 600)
    best = M.min_cllr(bona, spoof)
    assert 0 < best < 1
    for a in (0.3, 0.8, 1.5, 3.0):  # no affine calibration beats the PAV one
        for b in (-2.0, -0.5, 0.0, 1.0):
            assert best <= M.cllr(a * bona + b, a * spoof + b) + 1e-12


def test_a_dcf_by_hand():
    assert M.a_dcf([5.0, 6.0], [1.0, 2.0], [0.0, 3.0]) == 0.0
    # everything tied: targets first -> all rejected point is the best = Ptar*Cmiss / 0.595
    value = M.a_dcf([1.0], [1.0], [1.0])
    assert value == pytest.approx(min(0.595, 0.9405) / 0.595)


def _t_eer_reference(cm_bona, cm_spoof, tar, non, spf):
    """The concurrent t-EER by exhaustive search, from its definition (CM x ASV thresholds), rho = 0.5."""
    pm_cm, pf_cm, _ = M.det_curve(cm_bona, cm_spoof)
    scores = np.concatenate([tar, non, spf])
    cls = np.concatenate([np.zeros(tar.size), np.ones(non.size), 2 * np.ones(spf.size)])[
        np.argsort(scores, kind="mergesort")]
    a = np.concatenate([[0.0], np.cumsum(cls == 0) / tar.size])
    b = np.concatenate([[1.0], 1 - np.cumsum(cls == 1) / non.size])
    c = np.concatenate([[1.0], 1 - np.cumsum(cls == 2) / spf.size])
    best, value = np.inf, None
    for i in range(a.size):
        miss = pm_cm + (1 - pm_cm) * a[i]
        fa = 0.5 * (1 - pm_cm) * b[i] + 0.5 * pf_cm * c[i]
        j = int(np.argmin(np.abs(miss - fa)))
        if a[i] < 0.5 * b[i] + 0.5 * c[i]:
            with np.errstate(divide="ignore", invalid="ignore"):
                crit = abs(b[i] / c[i] - pf_cm[j] / (1 - pm_cm[j]))
            if crit < best:
                best, value = crit, c[i] * pf_cm[j]
    return value


@pytest.mark.parametrize("seed", range(6))
def test_t_eer_matches_exhaustive_search(seed):
    rng = np.random.default_rng(seed)
    tar, non, spf = rng.normal(3, 1, 40), rng.normal(0, 1, 60), rng.normal(1.5, 1, 50)
    cm_bona, cm_spoof = rng.normal(2, 1, 100), rng.normal(0, 1, 50)
    if seed % 2:
        tar, non, spf, cm_bona, cm_spoof = (np.round(x, 1) for x in (tar, non, spf, cm_bona, cm_spoof))
    assert M.t_eer(cm_bona, cm_spoof, tar, non, spf) == pytest.approx(
        _t_eer_reference(cm_bona, cm_spoof, tar, non, spf), abs=1e-15)


def test_cm_summary_equals_the_single_metrics():
    rng = np.random.default_rng(5)
    bona, spoof = np.round(rng.normal(1, 1, 200), 2), np.round(rng.normal(-1, 2, 300), 2)
    point = M.AsvOperatingPoint(0.0, pfa=0.02, pmiss=0.03, pmiss_spoof=0.3, pfa_spoof=0.7)
    s = M.cm_summary(bona, spoof, point)
    assert s["eer"] == M.eer(bona, spoof)
    assert s["min_tdcf_2019"] == M.min_tdcf_2019(bona, spoof, point)
    assert s["min_tdcf_2021"] == M.min_tdcf_2021(bona, spoof, point)
    assert s["min_dcf"] == M.min_dcf(bona, spoof)
    assert (s["act_dcf"], s["cllr"], s["min_cllr"]) == (M.act_dcf(bona, spoof), M.cllr(bona, spoof),
                                                        M.min_cllr(bona, spoof))
    assert M.cm_summary([1.0, 1.0], [0.0], point)["min_tdcf_2019"] is None  # hard decisions: refused -> None


def test_metric_registry_lists_every_metric():
    for name in M.METRICS:
        assert name in {"eer", "min_tdcf_2019", "min_tdcf_2021", "min_dcf", "act_dcf", "cllr", "min_cllr", "a_dcf",
                        "t_eer"}
        assert hasattr(M, name)
