import numpy as np
import pytest
from scipy.special import expit

from spoofbench.benchmark.fusion import (
    EFFECTIVE_BONAFIDE_PRIOR,
    FusionError,
    LogisticFusion,
    MeanFusion,
    XGBoostFusion,
    calibrate,
    fuse,
)


def gaussian_scores(rng, n_bona, n_spoof, mu=1.5, sigma=1.0):
    """Equal-variance Gaussian classes: the true LLR of x is 2*mu*x/sigma^2 (bona ~ N(mu), spoof ~ N(-mu))."""
    x = np.r_[rng.normal(mu, sigma, n_bona), rng.normal(-mu, sigma, n_spoof)]
    y = np.r_[np.ones(n_bona, int), np.zeros(n_spoof, int)]
    return x, y


def test_logreg_recovers_the_true_llr_of_an_affinely_distorted_score():
    rng = np.random.default_rng(0)
    x, y = gaussian_scores(rng, 20000, 60000)
    raw = 3.0 * x + 7.0  # a badly calibrated system
    fuser = LogisticFusion().fit(raw, y)
    # LLR = 2*mu*x = 3*(raw - 7)/3 ... = raw - 7 for mu = 1.5: weight 1, bias -7
    assert fuser.weights_[0] == pytest.approx(1.0, abs=0.03)
    assert fuser.bias_ == pytest.approx(-7.0, abs=0.15)
    assert np.allclose(fuser.transform(raw), fuser.weights_[0] * raw + fuser.bias_)


def test_logreg_is_weighted_by_the_prior_not_by_trial_counts():
    rng = np.random.default_rng(1)
    x, y = gaussian_scores(rng, 300, 300)
    base = LogisticFusion(l2=0.0).fit(x, y)
    # Five copies of every spoof trial: a count-weighted regression would shift its bias by ln 5.
    spoof = y == 0
    x5, y5 = np.r_[x, np.repeat(x[spoof], 4)], np.r_[y, np.repeat(y[spoof], 4)]
    more = LogisticFusion(l2=0.0).fit(x5, y5)
    assert more.bias_ == pytest.approx(base.bias_, abs=1e-4)
    assert more.weights_ == pytest.approx(base.weights_, abs=1e-4)
    assert EFFECTIVE_BONAFIDE_PRIOR == pytest.approx(0.95 / 1.45)
    # the same cost model as the metrics: the Bayes threshold of actDCF is -logit(prior)
    from spoofbench.benchmark.metrics import act_dcf_threshold

    assert EFFECTIVE_BONAFIDE_PRIOR == pytest.approx(expit(-act_dcf_threshold()), abs=1e-12)


def test_logreg_output_is_an_llr_whatever_the_training_prior():
    # The prior only says where the fit should be most accurate; on well-modelled data the output is the
    # same LLR (not posterior log-odds, which would move by logit(prior)).
    rng = np.random.default_rng(8)
    x, y = gaussian_scores(rng, 30000, 30000)
    low, high = LogisticFusion(prior=0.2).fit(x, y), LogisticFusion(prior=0.8).fit(x, y)
    assert low.bias_ == pytest.approx(0.0, abs=0.05) and high.bias_ == pytest.approx(0.0, abs=0.05)
    assert low.weights_[0] == pytest.approx(3.0, rel=0.05) and high.weights_[0] == pytest.approx(3.0, rel=0.05)


def test_logreg_fusion_uses_the_informative_system_and_beats_each_input():
    rng = np.random.default_rng(2)
    x, y = gaussian_scores(rng, 3000, 9000)
    strong = 2 * x + rng.normal(0, 0.5, len(x))
    weak = x + rng.normal(0, 3.0, len(x))
    noise = rng.normal(0, 1, len(x))
    fuser = LogisticFusion().fit(np.column_stack([strong, weak, noise]), y)
    w = fuser.weights_
    assert w[0] > 5 * abs(w[2]) and w[1] > 0
    fused = fuser.transform(np.column_stack([strong, weak, noise]))

    def cross_entropy(s):  # prior-weighted, as the fuser's objective (lower = better calibrated and separated)
        p = EFFECTIVE_BONAFIDE_PRIOR
        off = np.log(p / (1 - p))
        return (p * np.mean(np.logaddexp(0, -(s[y == 1] + off)))
                + (1 - p) * np.mean(np.logaddexp(0, s[y == 0] + off)))

    assert cross_entropy(fused) < cross_entropy(LogisticFusion().fit(strong, y).transform(strong))


def test_calibration_of_a_single_system_fixes_its_threshold():
    rng = np.random.default_rng(3)
    x, y = gaussian_scores(rng, 2000, 8000)
    llr = 3.0 * x  # true LLR for mu=1.5
    shifted = llr + 6.0  # miscalibrated: every spoof is "accepted" at the Bayes threshold
    dev, ev = slice(0, None, 2), slice(1, None, 2)
    cal = calibrate(shifted[dev], y[dev], shifted[ev])
    assert np.corrcoef(cal, llr[ev])[0, 1] > 0.9999
    assert np.median(np.abs(cal - llr[ev])) < 0.2


def test_mean_fusion_standardises_with_dev_statistics_only():
    rng = np.random.default_rng(4)
    dev = np.column_stack([rng.normal(5, 2, 500), rng.normal(-1, 0.1, 500)])
    ev = np.column_stack([rng.normal(0, 1, 300), rng.normal(0, 1, 300)])
    fuser = MeanFusion().fit(dev)
    expected = ((ev - dev.mean(0)) / dev.std(0)).mean(1)
    assert np.allclose(fuser.transform(ev), expected)
    assert np.allclose(fuser.transform(ev + 1)[0] - fuser.transform(ev)[0], (1 / dev.std(0)).mean())


def test_xgboost_stacking_is_seeded_and_keeps_the_polarity():
    rng = np.random.default_rng(5)
    x, y = gaussian_scores(rng, 500, 1500)
    other = x + rng.normal(0, 1, len(x))
    feats = np.column_stack([x, other])
    a = XGBoostFusion(seed=3).fit(feats, y).transform(feats)
    b = XGBoostFusion(seed=3).fit(feats, y).transform(feats)
    assert np.array_equal(a, b)
    assert a[y == 1].mean() > 0 > a[y == 0].mean()  # margin ~ LLR with balanced classes, higher = bona fide


def test_fuse_checks_its_inputs_and_names_the_culprit():
    rng = np.random.default_rng(6)
    x, y = gaussian_scores(rng, 50, 150)
    good = {"a": x, "b": x + rng.normal(0, 1, len(x))}
    fused = fuse("logreg", good, y, good)
    assert fused.members == ["a", "b"] and fused.scores.shape == x.shape
    broken = dict(good, b=np.where(np.arange(len(x)) == 3, np.nan, x))
    with pytest.raises(FusionError, match=r"b \(dev\): 1 scores are missing, NaN or Inf"):
        fuse("mean", broken, y, good)
    with pytest.raises(FusionError, match="same systems on dev and eval"):
        fuse("mean", good, y, {"a": x})
    with pytest.raises(FusionError, match="needs both bona fide and spoof"):
        fuse("logreg", good, np.ones_like(y), good)
    with pytest.raises(FusionError, match="unknown fusion method 'median'"):
        fuse("median", good, y, good)


def test_fused_eval_scores_do_not_depend_on_anything_but_dev():
    rng = np.random.default_rng(7)
    x, y = gaussian_scores(rng, 200, 600)
    dev = {"a": x, "b": -0.5 * x + rng.normal(0, 1, len(x))}
    ev = {"a": rng.normal(0, 2, 100), "b": rng.normal(0, 2, 100)}
    for method in ("logreg", "xgboost", "mean"):
        full = fuse(method, dev, y, ev).scores
        # scoring eval trials one at a time (or in another order) gives the same values: no eval statistics
        single = np.array([fuse(method, dev, y, {k: v[i:i + 1] for k, v in ev.items()}).scores[0]
                           for i in range(0, 100, 17)])
        assert np.allclose(single, full[0:100:17])
        # and fitting on dev only: the logistic output is an LLR, its posterior at the prior is in (0, 1)
        assert np.all(np.isfinite(full)) and np.all((expit(full) > 0) & (expit(full) < 1))
