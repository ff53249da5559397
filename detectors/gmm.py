"""Diagonal-covariance Gaussian mixture model trained by EM, in torch (CPU, or CUDA when present).

The model is the one of the ASVspoof baselines (512 diagonal Gaussians per class, about 10 EM iterations);
the point of this module is doing it fast and reproducibly on millions of frames:

* frames are processed in chunks small enough to stay in cache (``chunk_frames``); the E-step is one GEMM
  ``[x^2, x] @ [-1/(2 var); mean/var]`` and the M-step another GEMM of the unnormalised responsibilities
  against ``[x^2, x, 1] / p(x)``, in float32, with the per-chunk statistics accumulated in float64;
  scoring (:meth:`DiagonalGMM.log_likelihood`) runs the same pass in float64, so per-frame log-likelihoods
  equal scikit-learn's to ~1e-12 even for nearly collapsed components;
* the data are standardised (global mean and deviation) inside each chunk, so the float32 expansion of
  ``(x - mean)^2 / var`` does not cancel catastrophically on raw cepstra such as c0; parameters are stored
  in the original units, and ``reg_covar`` is in those units, as scikit-learn's;
* on CPU the chunks are shared among ``n_threads`` Python threads, each running torch single-threaded
  (OpenMP-parallel small operations stall badly when the cores are shared with other work).

Per-iteration updates are those of ``sklearn.mixture.GaussianMixture(covariance_type="diag")``: given the same
initial parameters both produce the same model (``bench perf baselines`` measures the speed and the
log-likelihoods side by side; ``tests/test_gmm.py`` checks the equality).

Initialisation: k-means++ seeding (greedy, ``2 + log K`` trials per centre, as scikit-learn) on a random
subsample of ``init_frames`` frames, then one hard assignment of that subsample to the centres gives the
initial weights, means and variances. The official MATLAB baselines used VLFeat ``vl_gmm`` (random data
points as means, the global variance, up to 11 iterations for "10" because of its loop bound, variances
updated around the *previous* means, a 1e-5 variance floor, empty components split off the widest one); the
official Python port used scikit-learn's k-means initialisation. None of these are bit-compatible with one
another, so this module follows scikit-learn's EM, which is the standard.
"""
from __future__ import annotations

import contextlib
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from spoofbench.protocols.errors import ConfigError

from .devices import resolve_device, torch_threads

LOG_2PI = math.log(2 * math.pi)
_TINY = 10 * float(np.finfo(np.float64).eps)  # added to the component masses, as scikit-learn


class DiagonalGMM:
    """Gaussian mixture with diagonal covariances, trained by EM.

    Parameters
    ----------
    n_components: number of Gaussians.
    n_iter: EM iterations (each one E-step and one M-step). The official baselines used 10.
    tol: stop early when the mean per-frame log-likelihood improves by less than ``tol`` (0: never).
    reg_covar: added to every variance (original feature units), as scikit-learn's ``reg_covar``.
    init: ``"kmeans++"`` (seeding on a subsample, then a hard assignment) or ``"random"`` (random frames
        as means, the global variance, equal weights: VLFeat's default).
    init_frames: size of the random subsample used for the initialisation.
    max_frames: train on a random subset of at most this many frames (None: all).
    seed: seed of every random choice (subsampling, initialisation).
    device: "auto", "cpu" or "cuda".
    chunk_frames: frames per chunk (None: 1024-4096 on CPU, cache-sized; larger on GPU).
    n_threads: CPU threads (None: ``torch.get_num_threads()``).
    precision: arithmetic of the EM passes, "float32" (default, fast) or "float64". Statistics are always
        accumulated in float64, and :meth:`log_likelihood` (scoring) always computes in float64.
    progress: show a tqdm progress bar over the iterations; ``desc`` labels it.
    """

    def __init__(self, n_components: int = 512, *, n_iter: int = 10, tol: float = 0.0, reg_covar: float = 1e-6,
                 init: str = "kmeans++", init_frames: int = 100_000, max_frames: int | None = None,
                 seed: int = 0, device: str = "auto", chunk_frames: int | None = None,
                 n_threads: int | None = None, precision: str = "float32", progress: bool = False,
                 desc: str = "EM"):
        if n_components < 1 or n_iter < 0:
            raise ConfigError("DiagonalGMM: need n_components >= 1 and n_iter >= 0")
        if precision not in ("float32", "float64"):
            raise ConfigError(f"DiagonalGMM: precision must be 'float32' or 'float64', not {precision!r}")
        if init not in ("kmeans++", "random"):
            raise ConfigError(f"DiagonalGMM: init must be 'kmeans++' or 'random', not {init!r}")
        self.n_components = n_components
        self.n_iter = n_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.init = init
        self.init_frames = init_frames
        self.max_frames = max_frames
        self.seed = seed
        self.device = device
        self.chunk_frames = chunk_frames
        self.n_threads = n_threads
        self.precision = precision
        self.progress = progress
        self.desc = desc

    # ---- public API ------------------------------------------------------------------------------------
    def fit(self, frames, init_params: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> DiagonalGMM:
        """Train on ``frames`` (N, D). ``init_params`` = (weights, means, variances) in feature units skips the
        initialisation (used to compare with other implementations from the same starting point)."""
        from tqdm.auto import tqdm

        dev = resolve_device(self.device)
        x = self._to_device(frames, dev)
        rng = np.random.default_rng(self.seed)
        if self.max_frames is not None and x.shape[0] > self.max_frames:
            keep = np.sort(rng.choice(x.shape[0], self.max_frames, replace=False))
            x = x[torch.from_numpy(keep).to(dev)]
        n, dim = x.shape
        if n < 2:
            raise ConfigError(f"DiagonalGMM: need at least 2 training frames, got {n}")
        shift, scale = _data_standardisation(x)
        reg = self.reg_covar / scale ** 2  # reg_covar is in feature units
        if init_params is not None:
            w, mu, var = (torch.as_tensor(np.asarray(a, dtype=np.float64), device=dev) for a in init_params)
            params = (w, (mu - shift) / scale, var / scale ** 2)
        else:
            with self._threads(dev):
                params = self._initialise(x, shift, scale, reg, rng)
        self.log_likelihoods_ = []
        self.converged_ = False
        bar = tqdm(range(self.n_iter), desc=self.desc, disable=not self.progress, leave=False)
        workers = self._n_threads()
        with self._threads(dev):
            for _ in bar:
                ll, stats = self._accumulate(x, shift, scale, params, want_stats=True, workers=workers,
                                             dtype=getattr(torch, self.precision))
                ll = ll / n - float(torch.log(scale).sum())
                params = _m_step(stats, n, reg)
                bar.set_postfix(ll=f"{ll:.4f}")
                if self.log_likelihoods_ and abs(ll - self.log_likelihoods_[-1]) < self.tol:
                    self.log_likelihoods_.append(ll)
                    self.converged_ = True
                    break
                self.log_likelihoods_.append(ll)
        bar.close()
        self.n_iter_ = len(self.log_likelihoods_)
        w, mu, var = params
        self.weights_ = w.cpu().numpy()
        self.means_ = (shift + scale * mu).cpu().numpy()
        self.variances_ = (var * scale ** 2).cpu().numpy()
        return self

    def log_likelihood(self, frames) -> np.ndarray:
        """Per-frame log-likelihood ``log sum_k w_k N(x | mu_k, diag var_k)`` (natural log), float64, (N,)."""
        self._check_fitted()
        dev = resolve_device(self.device)
        x = self._to_device(frames, dev)
        if x.shape[1] != self.means_.shape[1]:
            raise ConfigError(f"DiagonalGMM: frames have {x.shape[1]} dimensions, the model {self.means_.shape[1]}")
        shift, scale, params = self._standardised_params(dev)
        workers = self._n_threads()
        with self._threads(dev):
            per_frame, _ = self._accumulate(x, shift, scale, params, want_stats=False, per_frame=True,
                                            workers=workers, dtype=torch.float64)
        return per_frame.cpu().numpy() - float(torch.log(scale).sum())

    def score(self, frames) -> float:
        """Mean per-frame log-likelihood (as ``GaussianMixture.score``)."""
        return float(self.log_likelihood(frames).mean())

    def get_state(self) -> dict[str, np.ndarray]:
        self._check_fitted()
        return {"weights": self.weights_, "means": self.means_, "variances": self.variances_}

    def set_state(self, state: dict[str, np.ndarray]) -> DiagonalGMM:
        w, mu, var = (np.asarray(state[k], dtype=np.float64) for k in ("weights", "means", "variances"))
        if w.ndim != 1 or mu.shape != var.shape or mu.shape[0] != w.shape[0] or np.any(var <= 0):
            raise ConfigError("DiagonalGMM: inconsistent state (weights (K,), means and variances (K, D) > 0)")
        self.weights_, self.means_, self.variances_ = w, mu, var
        self.n_components = w.shape[0]
        return self

    # ---- internals -------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "means_"):
            raise ConfigError("DiagonalGMM is not fitted")

    @staticmethod
    def _to_device(frames, dev: torch.device) -> torch.Tensor:
        x = torch.as_tensor(frames)
        if x.ndim != 2:
            raise ConfigError(f"DiagonalGMM: frames must be a 2-D array (frames, dims), got shape {tuple(x.shape)}")
        x = x.to(device=dev, dtype=torch.float32).contiguous()
        if not bool(torch.isfinite(x).all()):
            raise ConfigError("DiagonalGMM: frames contain NaN or Inf")
        return x

    def _threads(self, dev: torch.device):
        return torch_threads(1) if dev.type == "cpu" else contextlib.nullcontext()

    def _n_threads(self) -> int:
        return max(1, self.n_threads or torch.get_num_threads() or os.cpu_count() or 1)

    def _chunk(self, dev: torch.device) -> int:
        if self.chunk_frames:
            return int(self.chunk_frames)
        if dev.type == "cpu":  # keep a chunk's responsibilities (about 4 MB) in cache
            return max(1024, min(4096, 2 ** 20 // self.n_components))
        return max(4096, 2 ** 25 // self.n_components)  # GPU: large chunks for occupancy

    def _standardised_params(self, dev):
        """The model in standardised units, standardised by the mixture's own mean and deviation (so that
        scoring is a deterministic function of the stored parameters)."""
        w, mu, var = (torch.as_tensor(a, dtype=torch.float64, device=dev)
                      for a in (self.weights_, self.means_, self.variances_))
        shift = (w[:, None] * mu).sum(0)
        spread = (w[:, None] * (var + mu ** 2)).sum(0) - shift ** 2
        scale = torch.sqrt(torch.clamp(spread, min=1e-30))
        return shift, scale, (w, (mu - shift) / scale, var / scale ** 2)

    def _initialise(self, x, shift, scale, reg, rng):
        n = x.shape[0]
        k = self.n_components
        take = min(n, max(self.init_frames, k))
        sub_idx = np.sort(rng.choice(n, take, replace=False)) if take < n else np.arange(n)
        sub = ((x[torch.from_numpy(sub_idx).to(x.device)].double() - shift) / scale)
        if sub.shape[0] < k:
            raise ConfigError(f"DiagonalGMM: {sub.shape[0]} training frames for {k} components; "
                              "use fewer components or more data")
        dim = sub.shape[1]
        if self.init == "random":
            centres = torch.from_numpy(rng.choice(sub.shape[0], k, replace=False)).to(x.device)
            mu = sub[centres]
            var = sub.var(0, unbiased=True).expand(k, dim).clone() + reg
            return torch.full((k,), 1.0 / k, dtype=torch.float64, device=x.device), mu, var
        centres = kmeans_plusplus(sub.float(), k, rng)  # seeding needs no float64
        labels = _nearest(sub, sub[centres]).cpu().numpy()
        # per-cluster sums on the CPU: CUDA's index_add_ uses atomics, and the result must not vary run to run
        sub_np = sub.cpu().numpy()
        counts_np = np.bincount(labels, minlength=k).astype(np.float64)
        from scipy.sparse import csr_matrix

        onehot = csr_matrix((np.ones(labels.size), (labels, np.arange(labels.size))), shape=(k, labels.size))
        sums_np, sq_np = onehot @ sub_np, onehot @ (sub_np * sub_np)
        counts, sums, sq = (torch.from_numpy(a).to(x.device) for a in (counts_np, sums_np, sq_np))
        mass = counts[:, None] + _TINY
        mu = sums / mass
        var = torch.clamp(sq / mass - mu ** 2, min=0.0)
        lonely = counts < 2  # a single frame gives no spread: start it with the global variance (1 here)
        mu[lonely] = sub[centres][lonely]
        var[lonely] = 1.0
        w = (counts + _TINY) / (counts.sum() + k * _TINY)
        return w, mu, var + reg

    def _accumulate(self, x, shift, scale, params, want_stats: bool, per_frame: bool = False, workers: int = 1,
                    dtype: torch.dtype = torch.float32):
        """One pass over the data: the summed (or per-frame) log-likelihood in standardised units and, with
        ``want_stats``, the sufficient statistics (K, 2D+1) = sum_n r_nk [x^2, x, 1]."""
        w, mu, var = params
        dim = mu.shape[1]
        inv = 1.0 / var
        weights_mat = torch.cat([-0.5 * inv, mu * inv], 1).T.contiguous().to(dtype)  # (2D, K)
        const = (torch.log(torch.clamp(w, min=1e-300)) - 0.5 * (dim * LOG_2PI + torch.log(var).sum(1)
                                                                 + (mu * mu * inv).sum(1))).to(dtype)
        shift_c, inv_scale_c = shift.to(dtype), (1.0 / scale).to(dtype)
        chunk = self._chunk(x.device)
        n = x.shape[0]

        def run(lo: int, hi: int):
            stats = torch.zeros(w.shape[0], 2 * dim + 1, dtype=torch.float64, device=x.device) if want_stats else None
            total = torch.zeros((), dtype=torch.float64, device=x.device)
            frame_ll = []
            for start in range(lo, hi, chunk):
                xs = (x[start:min(start + chunk, hi)].to(dtype) - shift_c) * inv_scale_c
                feats = torch.cat([xs * xs, xs, torch.ones(xs.shape[0], 1, dtype=dtype, device=x.device)], 1)
                logp = torch.addmm(const, feats[:, :2 * dim], weights_mat)
                top = logp.amax(1, keepdim=True)
                # unnormalised responsibilities, in place; the floor keeps exp() out of the float32 subnormal
                # range, where CPU arithmetic is ~100x slower (it changes nothing above 1e-35)
                logp.sub_(top).clamp_(min=-80.0).exp_()
                mass = logp.sum(1, keepdim=True)
                ll = torch.log(mass) + top
                if per_frame:
                    frame_ll.append(ll[:, 0].double())
                else:
                    total += ll.sum(dtype=torch.float64)
                if want_stats:
                    stats += (logp.T @ (feats / mass)).double()
            return total, stats, frame_ll

        if x.device.type == "cpu" and workers > 1 and n > 2 * chunk:
            bounds = np.linspace(0, n, workers + 1).astype(int)
            with ThreadPoolExecutor(len(bounds) - 1) as pool:
                parts = list(pool.map(lambda b: run(*b), zip(bounds[:-1], bounds[1:])))
        else:
            parts = [run(0, n)]
        if per_frame:
            return torch.cat([t for p in parts for t in p[2]]), None
        total = float(sum(p[0] for p in parts))
        stats = sum(p[1] for p in parts) if want_stats else None
        return total, stats


def _m_step(stats: torch.Tensor, n: int, reg: torch.Tensor):
    dim = (stats.shape[1] - 1) // 2
    mass = stats[:, 2 * dim] + _TINY
    mu = stats[:, dim:2 * dim] / mass[:, None]
    var = torch.clamp(stats[:, :dim] / mass[:, None] - mu * mu, min=0.0) + reg
    w = mass / mass.sum()
    return w, mu, var


def _data_standardisation(x: torch.Tensor):
    """Per-dimension mean and standard deviation of the frames, accumulated in float64 (chunked)."""
    total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    sq = torch.zeros_like(total)
    for start in range(0, x.shape[0], 1 << 18):
        part = x[start:start + (1 << 18)].double()
        total += part.sum(0)
        sq += (part * part).sum(0)
    mean = total / x.shape[0]
    var = torch.clamp(sq / x.shape[0] - mean ** 2, min=0.0)
    scale = torch.sqrt(var)
    scale[scale <= 1e-12 * (1 + mean.abs())] = 1.0  # constant dimension: leave it unscaled
    return mean, scale


def _nearest(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    out = torch.empty(points.shape[0], dtype=torch.long, device=points.device)
    c_sq = (centres * centres).sum(1)
    for start in range(0, points.shape[0], 8192):
        p = points[start:start + 8192]
        out[start:start + p.shape[0]] = (c_sq[None, :] - 2 * p @ centres.T).argmin(1)
    return out


def kmeans_plusplus(points: torch.Tensor, k: int, rng: np.random.Generator) -> torch.Tensor:
    """Indices of ``k`` k-means++ seeds among ``points`` (greedy variant: ``2 + int(log k)`` candidates per
    step, keep the one that lowers the potential most, as scikit-learn's ``kmeans_plusplus``)."""
    n = points.shape[0]
    trials = 2 + int(math.log(k))
    points_t = points.T.contiguous()
    sq = (points * points).sum(1)
    chosen = [int(rng.integers(n))]
    closest = torch.clamp(sq - 2 * points @ points[chosen[0]] + sq[chosen[0]], min=0.0)
    for _ in range(1, k):
        cumulative = torch.cumsum(closest, 0, dtype=torch.float64)
        potential = float(cumulative[-1])
        if potential <= 0:  # every point already sits on a centre: take unused points at random
            unused = np.setdiff1d(np.arange(n), chosen)
            chosen.extend(rng.choice(unused, k - len(chosen), replace=False).tolist())
            break
        draws = torch.as_tensor(rng.random(trials) * potential, dtype=torch.float64, device=points.device)
        cand = torch.clamp(torch.searchsorted(cumulative, draws), max=n - 1)
        dist = torch.addmm(sq[None, :], points[cand], points_t, alpha=-2.0)
        dist.add_(sq[cand][:, None]).clamp_(min=0.0)
        torch.minimum(dist, closest[None, :], out=dist)
        best = int(dist.sum(1).argmin())
        chosen.append(int(cand[best]))
        closest = dist[best]
    return torch.as_tensor(chosen, device=points.device)
