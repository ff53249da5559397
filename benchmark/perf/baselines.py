"""``bench perf baselines``: speed of the LFCC/CQCC front ends and of the GMM EM against scikit-learn.

What it measures (on this machine, now; the load average is printed because shared machines vary):

* front ends: seconds of audio processed per second of wall time on ONE core (numpy, scipy and torch
  limited to one thread), over random-length noise signals (2-5 s; a new length needs a new CQT kernel,
  so its construction is included); the one-off set-up of a parameter set (the CQCC spline+DCT matrix) is
  reported apart; ``librosa.cqt`` with the same 863 bins is timed for reference (first and second call);
* GMM: seconds per EM iteration on ``--frames`` x ``--dims`` frames (drawn from a random 1024-component
  mixture) with ``--components`` Gaussians, for :class:`spoofbench.detectors.gmm.DiagonalGMM` and for
  ``sklearn.mixture.GaussianMixture(covariance_type="diag")`` (its own E- and M-steps, float64 data), both
  started from the same k-means++ initialisation, all cores; then the mean per-frame log-likelihood of both
  final models on the same data (both computed by the float64 scorer of ``DiagonalGMM``, which equals
  scikit-learn's ``score_samples``; scikit-learn's own pass would cost as much as another iteration).
  scikit-learn holds about five float64 (frames x components) arrays at once (~19 GB at 1M x 512); when the
  machine has less memory available, both run on fewer frames and the output says so.
"""
from __future__ import annotations

import os
import time

import click
import numpy as np

from spoofbench.detectors.cpu import processor_name


def _load() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "n/a"


def _mem_available_gb() -> float | None:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def _signals(seconds: float, seed: int, sample_rate: int = 16000) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out, total = [], 0.0
    while total < seconds:
        n = int(rng.uniform(2.0, 5.0) * sample_rate)
        out.append((0.1 * rng.normal(size=n)).astype(np.float32))
        total += n / sample_rate
    return out


def _frontend_speed(kind: str, preset: str, seconds: float, seed: int, repeats: int = 3) -> dict:
    from spoofbench.detectors import frontends

    params = frontends.frontend_params(kind, preset)
    frontends.cqcc_projection.cache_clear()
    frontends._cqt_kernel.cache_clear()
    t0 = time.perf_counter()
    frontends.extract(kind, np.zeros(16000), params)  # builds the per-parameter-set tables
    setup = time.perf_counter() - t0
    best_wall = best_cpu = 0.0
    for r in range(repeats):  # fresh random lengths on every pass: no per-length kernel is reused
        waves = _signals(seconds, seed + 1 + r)
        audio = sum(len(w) for w in waves) / 16000
        t0, c0 = time.perf_counter(), time.process_time()
        for w in waves:
            frontends.extract(kind, w, params)
        best_wall = max(best_wall, audio / (time.perf_counter() - t0))
        best_cpu = max(best_cpu, audio / max(time.process_time() - c0, 1e-9))
    return {"what": f"{kind.upper()} {preset}", "x_realtime": best_wall, "x_realtime_cpu": best_cpu,
            "setup_s": setup}


def _librosa_speed(seconds: float = 4.0) -> dict | None:
    try:
        import librosa
    except ImportError:
        return None
    x = (0.1 * np.random.default_rng(0).normal(size=int(seconds * 16000))).astype(np.float32)
    import warnings

    kwargs = dict(sr=16000, fmin=15.625, n_bins=863, bins_per_octave=96, hop_length=256)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns about its own short internal octave signals
        for _ in range(2):
            t0 = time.perf_counter()
            librosa.cqt(x, **kwargs)
            times.append(time.perf_counter() - t0)
    return {"first": seconds / times[0], "second": seconds / times[1]}


def _gmm_data(frames: int, dims: int, seed: int) -> np.ndarray:
    """Frames from a random 1024-component diagonal mixture (more structure than the models fitted to it)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1024, dims)) * 3.0
    spread = rng.uniform(0.3, 1.5, size=(1024, dims))
    label = rng.integers(0, 1024, frames)
    out = np.empty((frames, dims), dtype=np.float32)
    for start in range(0, frames, 1 << 17):
        lab = label[start:start + (1 << 17)]
        out[start:start + len(lab)] = centres[lab] + rng.normal(size=(len(lab), dims)) * spread[lab]
    return out


def _sklearn_em(x64: np.ndarray, init, iterations: int, reg_covar: float):
    import warnings

    from sklearn.mixture import GaussianMixture

    weights, means, variances = init
    gm = GaussianMixture(len(weights), covariance_type="diag", reg_covar=reg_covar)
    gm.weights_, gm.means_, gm.covariances_ = weights.copy(), means.copy(), variances.copy()
    gm.precisions_cholesky_ = 1.0 / np.sqrt(variances)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(iterations):
            t0 = time.perf_counter()
            _, log_resp = gm._e_step(x64)  # exactly what GaussianMixture.fit runs per iteration
            gm._m_step(x64, log_resp)
            times.append(time.perf_counter() - t0)
    return gm, times


@click.command("baselines")
@click.option("--frames", default=1_000_000, show_default=True, help="GMM benchmark frames.")
@click.option("--components", default=512, show_default=True, help="GMM components.")
@click.option("--dims", default=60, show_default=True, help="Feature dimensions of the GMM frames.")
@click.option("--iterations", default=1, show_default=True,
              help="EM iterations timed for each implementation (scikit-learn takes minutes per iteration at 1M).")
@click.option("--audio-seconds", default=60.0, show_default=True, help="Audio per front-end pass.")
@click.option("--sklearn/--no-sklearn", "with_sklearn", default=True, show_default=True,
              help="Time scikit-learn's EM on the same data (the slow part).")
@click.option("--librosa/--no-librosa", "with_librosa", default=True, show_default=True,
              help="Time librosa.cqt with the CQCC asvspoof2019 bins, for reference.")
@click.option("--device", default="auto", show_default=True, help="Device of the torch GMM (auto, cpu, cuda).")
@click.option("--seed", default=0, show_default=True)
def baselines(frames, components, dims, iterations, audio_seconds, with_sklearn, with_librosa, device, seed):
    """LFCC/CQCC extraction speed (x real time, one core) and GMM EM time per iteration vs scikit-learn."""
    import torch
    from tabulate import tabulate
    from threadpoolctl import threadpool_limits

    from spoofbench.detectors.devices import resolve_device
    from spoofbench.detectors.feature_cache import available_cores
    from spoofbench.detectors.gmm import DiagonalGMM

    click.echo(f"machine: {processor_name()}, {available_cores()} cores available; load average at start "
               f"{_load()}; torch {torch.__version__}, numpy {np.__version__}")

    # ---- front ends, one core -------------------------------------------------------------------------
    rows = []
    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            for kind, preset in (("lfcc", "asvspoof2019"), ("lfcc", "asvspoof2021"), ("cqcc", "asvspoof2019"),
                                 ("cqcc", "asvspoof2021")):
                r = _frontend_speed(kind, preset, audio_seconds, seed)
                target = {"lfcc": 1000, "cqcc": 100 if preset == "asvspoof2019" else None}[kind]
                rows.append([r["what"], f"{r['x_realtime']:.0f}x", f"{r['x_realtime_cpu']:.0f}x",
                             f"{r['setup_s'] * 1000:.0f} ms", f">= {target}x" if target else ""])
            if with_librosa:
                lib = _librosa_speed()
                if lib is not None:
                    rows.append(["librosa.cqt, same 863 bins (hop 256)", f"{lib['second']:.0f}x (2nd call)", "",
                                 f"1st call {lib['first']:.0f}x", "reference"])
    finally:
        torch.set_num_threads(old_threads)
    click.echo(f"\nfront ends, one core, best of 3 passes of {audio_seconds:.0f} s of audio in 2-5 s signals:")
    click.echo(tabulate(rows, headers=["front end", "x real time (wall)", "x real time (CPU time)", "set-up",
                                       "target"], disable_numparse=True))
    click.echo("(CPU time: the process's own CPU seconds; on a shared machine it discounts time slices lost to "
               "other processes, the wall figure does not)")

    # ---- GMM ----------------------------------------------------------------------------------------
    dev = resolve_device(device)
    need_gb = 5 * frames * components * 8 / 2**30  # scikit-learn's float64 (frames x components) temporaries
    avail = _mem_available_gb()
    if with_sklearn and avail is not None and need_gb > 0.6 * avail:  # leave room for the machine's other work
        reduced = int(frames * 0.6 * avail / need_gb)
        click.echo(f"\nnote: scikit-learn needs about {need_gb:.1f} GB for {frames} frames, {avail:.1f} GB are "
                   f"available: using {reduced} frames for both implementations")
        frames = reduced
    x = _gmm_data(frames, dims, seed)
    t0 = time.perf_counter()
    start = DiagonalGMM(components, n_iter=0, seed=seed, device=device).fit(x)
    init_s = time.perf_counter() - t0
    init = (start.weights_, start.means_, start.variances_)
    ours = DiagonalGMM(components, n_iter=iterations, seed=seed, device=device)
    t0 = time.perf_counter()
    ours.fit(x, init_params=init)
    ours_s = (time.perf_counter() - t0) / max(iterations, 1)
    ours_ll = ours.score(x)
    threads = torch.get_num_threads() if dev.type == "cpu" else 0
    gmm_rows = [[f"DiagonalGMM (torch, {dev.type}" + (f", {threads} threads)" if threads else ")"),
                 f"{ours_s:.2f}", f"{ours_ll:.6f}", ""]]
    if with_sklearn:
        x64 = x.astype(np.float64)
        ref, times = _sklearn_em(x64, init, iterations, reg_covar=1e-6)
        del x64
        sk_s = float(np.mean(times))
        # the float64 scorer of DiagonalGMM equals GaussianMixture.score_samples to ~1e-12 (tests/test_gmm.py)
        # and spares one more slow pass of scikit-learn over the data
        sk_ll = DiagonalGMM(components, device=device).set_state(
            {"weights": ref.weights_, "means": ref.means_, "variances": ref.covariances_}).score(x)
        gmm_rows.append(["sklearn GaussianMixture (float64, BLAS threads)", f"{sk_s:.2f}", f"{sk_ll:.6f}",
                         f"{sk_s / ours_s:.1f}x"])
        gmm_rows.append(["|difference| of mean log-likelihood per frame", "", f"{abs(ours_ll - sk_ll):.2e}",
                         "target <= 1e-4"])
    click.echo(f"\nGMM EM: {frames} frames x {dims} dims, {components} components, {iterations} iterations from "
               f"the same k-means++ start (init took {init_s:.1f} s):")
    click.echo(tabulate(gmm_rows, headers=["implementation", "s / iteration", "mean log-lik / frame",
                                           "ours faster by"], disable_numparse=True))
    click.echo(f"\nload average at end {_load()} (CPU cores: {os.cpu_count()}); the numbers above are only as quiet "
               "as the machine was")
