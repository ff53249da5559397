"""The torch diagonal GMM against scikit-learn's GaussianMixture (same parameters, same EM updates)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from spoofbench.detectors.gmm import DiagonalGMM, kmeans_plusplus
from spoofbench.protocols.errors import ConfigError


def blobs(n=3000, dim=6, k=5, seed=0, offset=-40.0):
    """Clusters with unequal spreads, far from the origin (as raw c0 is): the hard case for float32."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 4 + offset
    spread = rng.uniform(0.2, 2.0, size=(k, dim))
    label = rng.integers(0, k, n)
    return centres[label] + rng.normal(size=(n, dim)) * spread[label]


def sklearn_with(weights, means, variances, reg_covar=1e-6):
    gm = GaussianMixture(len(weights), covariance_type="diag", reg_covar=reg_covar)
    gm.weights_, gm.means_, gm.covariances_ = weights, means, variances
    gm.precisions_cholesky_ = 1 / np.sqrt(variances)
    return gm


def test_log_likelihood_equals_sklearn_for_the_same_parameters():
    rng = np.random.default_rng(1)
    x = blobs()
    k, dim = 7, x.shape[1]
    weights = rng.dirichlet(np.ones(k))
    means = x[rng.choice(len(x), k, replace=False)]
    variances = rng.uniform(1e-4, 3.0, size=(k, dim))  # includes a nearly collapsed component
    gmm = DiagonalGMM(k).set_state({"weights": weights, "means": means, "variances": variances})
    expected = sklearn_with(weights, means, variances).score_samples(x)
    np.testing.assert_allclose(gmm.log_likelihood(x.astype(np.float32)),
                               sklearn_with(weights, means, variances).score_samples(x.astype(np.float32)
                                                                                    .astype(np.float64)),
                               rtol=0, atol=1e-9)
    assert abs(gmm.score(x.astype(np.float32)) - expected.mean()) < 1e-4


@pytest.mark.parametrize("precision,atol", [("float64", 1e-9), ("float32", 1e-4)])
def test_em_matches_sklearn_from_the_same_start(precision, atol):
    x = blobs(seed=2).astype(np.float32)
    x64 = x.astype(np.float64)
    start = DiagonalGMM(8, n_iter=0, seed=3).fit(x)
    init = (start.weights_, start.means_, start.variances_)
    ours = DiagonalGMM(8, n_iter=5, precision=precision, n_threads=1).fit(x, init_params=init)
    ref = sklearn_with(*init)
    for _ in range(5):
        _, log_resp = ref._e_step(x64)
        ref._m_step(x64, log_resp)
    assert abs(ours.score(x) - ref.score(x64)) < atol  # mean per-frame log-likelihood
    np.testing.assert_allclose(ours.weights_, ref.weights_, atol=100 * atol)
    np.testing.assert_allclose(ours.means_, ref.means_, atol=100 * atol)
    np.testing.assert_allclose(ours.variances_, ref.covariances_, rtol=100 * atol)


def test_em_increases_likelihood_and_is_reproducible():
    x = blobs(seed=4).astype(np.float32)
    a = DiagonalGMM(6, n_iter=8, seed=11).fit(x)
    assert np.all(np.diff(a.log_likelihoods_) > -1e-6)  # EM never decreases the likelihood
    b = DiagonalGMM(6, n_iter=8, seed=11).fit(x)
    np.testing.assert_array_equal(a.means_, b.means_)
    c = DiagonalGMM(6, n_iter=8, seed=12).fit(x)
    assert not np.array_equal(a.means_, c.means_)
    assert a.weights_.sum() == pytest.approx(1.0)


def test_threads_and_chunks_do_not_change_the_result():
    x = blobs(n=5000, seed=5).astype(np.float32)
    one = DiagonalGMM(4, n_iter=4, seed=0, n_threads=1, chunk_frames=5000).fit(x)
    many = DiagonalGMM(4, n_iter=4, seed=0, n_threads=3, chunk_frames=300).fit(x)
    # float32 sums in another order: the models agree to float32 rounding
    np.testing.assert_allclose(one.means_, many.means_, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(one.log_likelihood(x), many.log_likelihood(x), rtol=1e-4)
    # scoring is float64: the same model gives the same values however the work is split
    many.set_state(one.get_state())
    np.testing.assert_allclose(one.log_likelihood(x), many.log_likelihood(x), rtol=1e-12)


def test_tol_max_frames_and_random_init():
    x = blobs(n=4000, seed=6).astype(np.float32)
    early = DiagonalGMM(5, n_iter=50, tol=1e-2, seed=0).fit(x)
    assert early.converged_ and early.n_iter_ < 50
    sub = DiagonalGMM(5, n_iter=2, max_frames=500, seed=0).fit(x)
    full = DiagonalGMM(5, n_iter=2, seed=0).fit(x)
    assert not np.allclose(sub.means_, full.means_)
    rand = DiagonalGMM(5, n_iter=10, init="random", seed=0).fit(x)
    assert rand.score(x) > DiagonalGMM(1, n_iter=10).fit(x).score(x)


def test_kmeans_plusplus_picks_distinct_spread_seeds():
    rng = np.random.default_rng(0)
    pts = torch.from_numpy(np.concatenate([rng.normal(size=(200, 2)) * 0.01 + c for c in
                                           ([0, 0], [10, 0], [0, 10], [10, 10])]).astype(np.float32))
    idx = kmeans_plusplus(pts, 4, rng).numpy()
    assert len(set(idx.tolist())) == 4
    assert sorted(set((idx // 200).tolist())) == [0, 1, 2, 3]  # one seed per well-separated cluster


def test_bad_input_and_state():
    gmm = DiagonalGMM(2)
    with pytest.raises(ConfigError, match="not fitted"):
        gmm.log_likelihood(np.zeros((3, 2), np.float32))
    with pytest.raises(ConfigError, match="NaN"):
        gmm.fit(np.array([[0.0, np.nan], [1.0, 1.0], [2.0, 2.0]], np.float32))
    with pytest.raises(ConfigError, match="components"):
        DiagonalGMM(50).fit(np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32))
    with pytest.raises(ConfigError, match="inconsistent"):
        gmm.set_state({"weights": np.ones(2) / 2, "means": np.zeros((2, 3)), "variances": np.zeros((2, 3))})
    gmm.set_state({"weights": np.ones(2) / 2, "means": np.zeros((2, 3)), "variances": np.ones((2, 3))})
    with pytest.raises(ConfigError, match="dimensions"):
        gmm.log_likelihood(np.zeros((4, 2), np.float32))
    with pytest.raises(ConfigError, match="precision"):
        DiagonalGMM(2, precision="float16")


def test_device_choice():
    x = blobs(n=2000, seed=8).astype(np.float32)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            DiagonalGMM(3, device="cuda").fit(x)
        assert DiagonalGMM(3, n_iter=2, device="auto").fit(x).score(x) > -np.inf
        return
    start = DiagonalGMM(3, n_iter=0, seed=0, device="cpu").fit(x)
    init = (start.weights_, start.means_, start.variances_)
    cpu = DiagonalGMM(3, n_iter=3, device="cpu").fit(x, init_params=init)
    gpu = DiagonalGMM(3, n_iter=3, device="cuda").fit(x, init_params=init)
    np.testing.assert_allclose(gpu.means_, cpu.means_, rtol=1e-3, atol=1e-3)
    gpu.set_state(cpu.get_state())
    np.testing.assert_allclose(gpu.log_likelihood(x), cpu.log_likelihood(x), rtol=1e-10)
