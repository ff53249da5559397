"""LFCC and CQCC front ends of the ASVspoof LFCC-GMM / CQCC-GMM baselines, as pure functions over waveforms.

Both return a float32 array of shape ``(frames, dims)`` (time first): static cepstra, then deltas, then
delta-deltas. Each has presets that reproduce the official MATLAB definitions (read from the official code:
github.com/asvspoof-challenge/2021 ``LA/Baseline-LFCC-GMM`` and ``LA/Baseline-CQCC-GMM``, and the ASVspoof 2019
MATLAB baseline's ``extract_lfcc.m`` / ``cqcc.m``); every parameter can be overridden by keyword::

    lfcc(wave)                                   # ASVspoof 2019 definition, 60 dims
    lfcc(wave, preset="asvspoof2021")            # ASVspoof 2021 LA/DF definition, 57 dims
    cqcc(wave, preset="asvspoof2021", f_max=8000)  # 2021 PA variant

LFCC presets (Sahidullah et al. 2015; ``extract_lfcc.m`` in 2019, ``lfcc_bp.m`` in 2021)
    ``asvspoof2019``: pre-emphasis ``x[n] - 0.97 x[n-1]``; 20 ms symmetric Hamming window, 10 ms hop, frames
    as MATLAB ``buffer(x, L, L/2, 'nodelay')`` (the last partial frame zero-padded); ``|FFT|^2`` with NFFT 512;
    20 triangular filters (``trimf``) with edges ``linspace(0, 8000, 22)`` on the bin frequencies
    ``linspace(0, fs/2, NFFT/2+1)``; ``log10(. + eps)``; orthonormal DCT-II, 20 coefficients incl. c0;
    deltas as ``deltas(x, 3)`` of the 2019 package (Ellis' rastamat: ``x[t+1] - x[t-1]``, *not* divided by 2,
    edges replicated) -> 60 dims. The 2019 package copy we saw does not ship ``deltas.m``; the rastamat
    function is the one with that name and signature.
    ``asvspoof2021``: no pre-emphasis; 30 ms / 15 ms; NFFT 1024; 70 filters on [0, 4000] Hz; 19 coefficients
    incl. c0 (the code keeps 19 in total, the README says "19 + 0th"); deltas ``(x[t+1] - x[t-1]) / 2``
    (HTK regression with half-width 1) -> 57 dims. (The 2021 PA scripts use ``f_max=8000``.)

CQCC presets (Todisco et al. 2016; ``cqcc.m`` + the 2013 CQT toolbox of Schörkhuber et al.)
    ``asvspoof2019``: B = 96 bins/octave, f_max 8 kHz, f_min = 8000/2^9 = 15.625 Hz, d = 16, 30 cepstra incl.
    c0, Δ, ΔΔ -> 90 dims. ``asvspoof2021``: B = 12, 62.5 Hz - 4 kHz, 20 cepstra -> 60 dims.
    Pipeline: constant-Q transform with the toolbox's non-stationary Gabor filters, rasterized "full"
    (see :func:`cqt_power`), ``log(|X|^2 + eps)`` (natural log), uniform resampling of the geometric
    frequency axis by cubic spline (MATLAB ``resample(..., 1/(fmin (2^(kl/B) - 1)), 1, 1, 'spline')``,
    ``kl = B log2(1 + 1/d)``, i.e. a grid step of ``f_min / d`` Hz from f_min to the last CQT bin),
    orthonormal DCT-II along frequency, first ``n_ceps`` coefficients, deltas with HTK regression of half-width
    3 (``sum_j j (c[t+j] - c[t-j]) / 28``, edges replicated).

Where this code differs from the official MATLAB
    * CQT: the same filters and the same full rasterization, but computed as one batched gather + inverse FFT
      over all bins (the toolbox loops over bins); the toolbox's "global" phase mapping is skipped because
      it only rotates the phase of the coefficients, which the power discards. Values agree to rounding.
    * The spline resampling and the DCT are linear in the log-power spectrum, so they are fused into one
      precomputed ``(n_ceps, n_bins)`` matrix (exact up to rounding, and why CQCC is fast here).
    * MATLAB's nonuniform ``resample`` grid is assumed to run from the first to the last centre frequency
      in steps of ``1/fs``; with ``p = q = 1`` its anti-aliasing stage is the identity.
    * Signals shorter than one analysis frame are zero-padded to one frame (LFCC: one window; CQCC:
      ``min_duration_ms``), so every non-empty waveform yields at least one frame. An empty waveform is an error.
    * Computation is in float64 (as MATLAB); the result is returned as float32.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft

from spoofbench.protocols.errors import ConfigError

#: MATLAB's ``eps`` (double precision machine epsilon), the official log floor.
MATLAB_EPS = float(np.finfo(np.float64).eps)

LFCC_PRESETS: dict[str, dict[str, Any]] = {
    "asvspoof2019": dict(sample_rate=16000, pre_emphasis=0.97, win_ms=20.0, hop_ms=10.0, window="hamming",
                         n_fft=512, n_filters=20, f_min=0.0, f_max=8000.0, n_ceps=20, log_floor=MATLAB_EPS,
                         deltas=2, delta_halfwidth=1, delta_normalize=False, pad_end=True),
    "asvspoof2021": dict(sample_rate=16000, pre_emphasis=0.0, win_ms=30.0, hop_ms=15.0, window="hamming",
                         n_fft=1024, n_filters=70, f_min=0.0, f_max=4000.0, n_ceps=19, log_floor=MATLAB_EPS,
                         deltas=2, delta_halfwidth=1, delta_normalize=True, pad_end=True),
}

CQCC_PRESETS: dict[str, dict[str, Any]] = {
    "asvspoof2019": dict(sample_rate=16000, bins_per_octave=96, f_min=15.625, f_max=8000.0, gamma=None,
                         min_window=4, uniform_per_octave=16, n_ceps=30, include_c0=True, log_floor=MATLAB_EPS,
                         deltas=2, delta_halfwidth=3, delta_normalize=True, min_duration_ms=20.0),
    "asvspoof2021": dict(sample_rate=16000, bins_per_octave=12, f_min=62.5, f_max=4000.0, gamma=None,
                         min_window=4, uniform_per_octave=16, n_ceps=20, include_c0=True, log_floor=MATLAB_EPS,
                         deltas=2, delta_halfwidth=3, delta_normalize=True, min_duration_ms=20.0),
}

_PRESETS = {"lfcc": LFCC_PRESETS, "cqcc": CQCC_PRESETS}
_WINDOWS = ("hamming", "hann", "rectangular")


# ---- parameters -------------------------------------------------------------------------------------------

def frontend_params(kind: str, preset: str = "asvspoof2019", **overrides) -> dict[str, Any]:
    """The complete, validated parameter set of front end ``kind`` ("lfcc" or "cqcc"): the preset's values
    with ``overrides`` applied. This dict is what defines the features (and keys the feature cache)."""
    if kind not in _PRESETS:
        raise ConfigError(f"unknown front end {kind!r}; known: {', '.join(_PRESETS)}")
    presets = _PRESETS[kind]
    if preset not in presets:
        raise ConfigError(f"{kind}: unknown preset {preset!r}; presets: {', '.join(presets)}")
    params = dict(presets[preset])
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise ConfigError(f"{kind}: unknown parameter {unknown[0]!r}; valid: {', '.join(params)}")
    params.update(overrides)
    _validate(kind, params)
    return params


def _validate(kind: str, p: dict[str, Any]) -> None:
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ConfigError(f"{kind}: {what}")

    need(p["sample_rate"] > 0, "sample_rate must be positive")
    need(0 <= p["f_min"] < p["f_max"], "need 0 <= f_min < f_max")
    need(p["deltas"] in (0, 1, 2), "deltas must be 0, 1 or 2")
    need(p["delta_halfwidth"] >= 1, "delta_halfwidth must be >= 1")
    if kind == "lfcc":
        need(p["window"] in _WINDOWS, f"window must be one of {', '.join(_WINDOWS)}")
        need(p["n_fft"] >= 2 and p["n_filters"] >= 1, "n_fft >= 2 and n_filters >= 1 are required")
        need(1 <= p["n_ceps"] <= p["n_filters"], "n_ceps must be between 1 and n_filters")
        need(p["win_ms"] > 0 and p["hop_ms"] > 0, "win_ms and hop_ms must be positive")
        need(p["f_max"] <= p["sample_rate"] / 2, "f_max must not exceed the Nyquist frequency")
    else:
        need(p["f_min"] > 0, "f_min must be positive")
        need(p["bins_per_octave"] >= 1 and p["uniform_per_octave"] >= 1, "bins_per_octave and "
             "uniform_per_octave must be >= 1")
        need(p["n_ceps"] >= 1, "n_ceps must be >= 1")


def feature_dim(kind: str, params: dict[str, Any]) -> int:
    """Number of feature dimensions the parameter set produces."""
    return params["n_ceps"] * (1 + params["deltas"])


# ---- shared pieces ----------------------------------------------------------------------------------------

def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Rows 0..n_out-1 of the orthonormal DCT-II matrix of size n_in (MATLAB ``dct``, scipy ``norm='ortho'``):
    ``C[k, n] = w_k cos(pi k (2n + 1) / (2 n_in))``, ``w_0 = sqrt(1/n_in)``, ``w_k = sqrt(2/n_in)``."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    c = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    c[0] /= math.sqrt(2.0)
    return c


def deltas(x: np.ndarray, halfwidth: int = 1, normalize: bool = True) -> np.ndarray:
    """Regression deltas along time (axis 0) with the edge frames replicated:
    ``d[t] = sum_{j=1..h} j (x[t+j] - x[t-j])``, divided by ``2 sum j^2`` when ``normalize`` (HTK, ``Deltas``
    in the official code); unnormalised it is rastamat's ``deltas`` (2019 LFCC)."""
    n = x.shape[0]
    padded = np.concatenate([np.repeat(x[:1], halfwidth, axis=0), x, np.repeat(x[-1:], halfwidth, axis=0)])
    d = np.zeros_like(x)
    for j in range(1, halfwidth + 1):
        d += j * (padded[halfwidth + j:halfwidth + j + n] - padded[halfwidth - j:halfwidth - j + n])
    if normalize:
        d /= 2.0 * sum(j * j for j in range(1, halfwidth + 1))
    return d


def _with_deltas(static: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    parts = [static]
    for _ in range(p["deltas"]):
        parts.append(deltas(parts[-1], p["delta_halfwidth"], p["delta_normalize"]))
    return np.concatenate(parts, axis=1).astype(np.float32)


def _as_wave(wave) -> np.ndarray:
    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected a mono waveform (1-D array), got shape {x.shape}")
    if x.size == 0:
        raise ValueError("empty waveform: no samples to extract features from")
    return x


# ---- LFCC -------------------------------------------------------------------------------------------------

def lfcc(wave, sample_rate: int | None = None, preset: str = "asvspoof2019", **overrides) -> np.ndarray:
    """Linear-frequency cepstral coefficients of a mono waveform, shape ``(frames, n_ceps * (1 + deltas))``."""
    if sample_rate is not None:
        overrides["sample_rate"] = sample_rate
    return lfcc_from_params(wave, frontend_params("lfcc", preset, **overrides))


def lfcc_frame_count(n_samples: int, win: int, hop: int, pad_end: bool = True) -> int:
    """Frames of MATLAB ``buffer(x, win, win - hop, 'nodelay')`` (``pad_end``: the last partial frame is
    zero-padded) or, without ``pad_end``, full frames only. At least one frame in both cases."""
    if pad_end:
        return max(1, math.ceil((n_samples - (win - hop)) / hop))
    return max(1, (n_samples - win) // hop + 1)


def linear_filterbank(sample_rate: float, n_fft: int, n_filters: int, f_min: float, f_max: float) -> np.ndarray:
    """``(n_fft//2 + 1, n_filters)`` triangular filters (MATLAB ``trimf``, peak 1) with edges
    ``linspace(f_min, f_max, n_filters + 2)`` evaluated at the bin frequencies ``linspace(0, fs/2, n_fft/2 + 1)``."""
    freqs = (sample_rate / 2) * np.linspace(0, 1, n_fft // 2 + 1)
    edges = np.linspace(f_min, f_max, n_filters + 2)
    fb = np.zeros((freqs.size, n_filters))
    for i in range(n_filters):
        a, b, c = edges[i:i + 3]
        rise = (freqs - a) / (b - a) if b > a else np.zeros_like(freqs)
        fall = (c - freqs) / (c - b) if c > b else np.zeros_like(freqs)
        fb[:, i] = np.clip(np.minimum(rise, fall), 0.0, None)
        fb[freqs == b, i] = 1.0
    return fb


@lru_cache(maxsize=32)
def _lfcc_tables(sample_rate, win, n_fft, n_filters, f_min, f_max, n_ceps, window):
    win_fn = {"hamming": np.hamming, "hann": np.hanning, "rectangular": np.ones}[window](win)
    fb = linear_filterbank(sample_rate, n_fft, n_filters, f_min, f_max)
    used = np.nonzero(fb.any(axis=1))[0]  # bins outside [f_min, f_max] weigh 0: skip them (exactly equal)
    bins = slice(int(used[0]), int(used[-1]) + 1) if used.size else slice(0, 1)
    fb = np.ascontiguousarray(fb[bins])
    dct_t = np.ascontiguousarray(dct_matrix(n_ceps, n_filters).T)
    for a in (win_fn, fb, dct_t):
        a.setflags(write=False)
    return win_fn, bins, fb, dct_t


def lfcc_from_params(wave, p: dict[str, Any]) -> np.ndarray:
    x = _as_wave(wave)
    fs = p["sample_rate"]
    win = int(round(p["win_ms"] * fs / 1000))
    hop = int(round(p["hop_ms"] * fs / 1000))
    if p["pre_emphasis"]:
        x = np.concatenate([x[:1], x[1:] - p["pre_emphasis"] * x[:-1]])
    n_frames = lfcc_frame_count(x.size, win, hop, p["pad_end"])
    needed = (n_frames - 1) * hop + win
    if needed > x.size:
        x = np.pad(x, (0, needed - x.size))
    win_fn, bins, fb, dct_t = _lfcc_tables(fs, win, p["n_fft"], p["n_filters"], float(p["f_min"]), float(p["f_max"]),
                                     p["n_ceps"], p["window"])
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:n_frames]
    n_fft = p["n_fft"]
    if n_fft <= win:  # MATLAB fft(x, n) truncates a longer frame
        windowed = frames[:, :n_fft] * win_fn[:n_fft]
    else:  # zero-padded in place: scipy's own padding (rfft(..., n=)) is about 3x slower
        windowed = np.zeros((n_frames, n_fft))
        np.multiply(frames, win_fn, out=windowed[:, :win])
    spec = scipy.fft.rfft(windowed, axis=1)[:, bins]
    power = spec.real ** 2 + spec.imag ** 2
    static = np.log10(power @ fb + p["log_floor"]) @ dct_t
    return _with_deltas(static, p)


# ---- CQT / CQCC -------------------------------------------------------------------------------------------

def _gamma(p: dict[str, Any]) -> float:
    """The official bandwidth offset: ``228.7 (2^(1/B) - 2^(-1/B))`` Hz (ERB-like widening at low f)."""
    if p.get("gamma") is not None:
        return float(p["gamma"])
    b = p["bins_per_octave"]
    return 228.7 * (2 ** (1 / b) - 2 ** (-1 / b))


@lru_cache(maxsize=32)
def cqt_frequencies(sample_rate: float, bins_per_octave: int, f_min: float, f_max: float,
                    gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre frequencies and bandwidths (Hz) of the CQT bins, as the toolbox's ``nsgcqwin``:
    ``f_k = f_min 2^(k/B)``, ``k = 0..floor(B log2(f_max/f_min))``, bandwidth ``Q f_k + gamma`` with
    ``Q = 2^(1/B) - 2^(-1/B)``; bins whose band crosses Nyquist (or 0 Hz) are dropped."""
    nyquist = sample_rate / 2
    f_max = min(f_max, nyquist)
    n = math.floor(bins_per_octave * math.log2(f_max / f_min))
    freqs = f_min * 2.0 ** (np.arange(n + 1) / bins_per_octave)
    q = 2 ** (1 / bins_per_octave) - 2 ** (-1 / bins_per_octave)
    bw = q * freqs + gamma
    keep = (freqs + bw / 2 <= nyquist)
    keep &= np.cumprod(keep).astype(bool)  # the toolbox cuts at the first bin over Nyquist
    low = np.nonzero(freqs - bw / 2 < 0)[0]
    if low.size:
        keep[: low[-1] + 1] = False
    if not keep.any():
        raise ConfigError("cqcc: no CQT bin fits between 0 Hz and Nyquist with these parameters")
    freqs, bw = freqs[keep], bw[keep]
    freqs.setflags(write=False)
    bw.setflags(write=False)
    return freqs, bw


@lru_cache(maxsize=64)
def _cqt_kernel(n_samples: int, sample_rate: float, bins_per_octave: int, f_min: float, f_max: float,
                gamma: float, min_window: int):
    """Sparse spectral kernel of the rasterized CQT for signals of ``n_samples`` samples. One entry per
    (bin, DFT bin in its window): its slot in the flattened ``(bins, M)`` array to inverse-transform, the rfft
    index it reads, and the weights of the real and imaginary parts (the imaginary weight is negated where
    the window reaches below 0 Hz and reads the mirrored bin, since ``X[-j] = conj(X[j])`` for a real signal)."""
    freqs, bw_hz = cqt_frequencies(sample_rate, bins_per_octave, f_min, f_max, gamma)
    fftres = sample_rate / n_samples
    posit = np.floor(freqs / fftres).astype(np.int64)
    width = np.floor(bw_hz / fftres + 0.5).astype(np.int64)  # MATLAB round (half away from zero)
    width = np.maximum(width, min_window)
    m_frames = int(width.max())  # "full" rasterization: every bin gets the hop of the widest (top) bin
    # window offsets -floor(L/2) .. ceil(L/2)-1 of every bin, concatenated
    first = -(width // 2)
    starts = np.concatenate([[0], np.cumsum(width)[:-1]])
    bin_of = np.repeat(np.arange(width.size), width)
    offset = np.arange(int(width.sum())) - np.repeat(starts, width) + np.repeat(first, width)
    rel = offset / width[bin_of]
    hann = np.where(np.abs(rel) < 0.5, 0.5 + 0.5 * np.cos(2 * np.pi * rel), 0.0)
    slot = bin_of * m_frames + np.mod(offset, m_frames)  # offset m sits at slot m mod M (FFT order)
    index = np.mod(posit[bin_of] + offset, n_samples)
    mirrored = index > n_samples // 2
    index = np.where(mirrored, n_samples - index, index)
    weight = hann * (2.0 / n_samples)  # the toolbox's "sine" normalization 2M/Ls times the ifft's 1/M
    imag_weight = np.where(mirrored, -weight, weight)
    for a in (slot, index, weight, imag_weight):
        a.setflags(write=False)
    return slot, index, weight, imag_weight, width.size, m_frames


def cqt_power(wave, sample_rate: float = 16000, bins_per_octave: int = 96, f_min: float = 15.625,
              f_max: float = 8000.0, gamma: float | None = None, min_window: int = 4) -> np.ndarray:
    """Power ``|X_k[n]|^2`` of the official constant-Q transform, shape ``(bins, frames)``.

    Definition (the 2013 toolbox's ``cqt(x, B, fs, fmin, fmax, 'rasterize', 'full', 'gamma', gamma)``):
    with ``X`` the ``Ls``-point DFT of the whole signal, bin k (centre ``f_k``, bandwidth ``Q f_k + gamma``)
    takes a Hann window of ``L_k = max(round(bw_k Ls / fs), 4)`` DFT bins, offsets ``m = -floor(L_k/2) ..
    ceil(L_k/2) - 1`` around ``p_k = floor(f_k Ls / fs)``, and
    ``X_k[n] = (2/Ls) sum_m X[p_k + m] h_k(m) e^{2 pi i m n / M}``, ``n = 0..M-1``, where ``M = max_k L_k``
    (the top bin's) for every bin: a frame hop of ``Ls / M`` samples.
    """
    x = _as_wave(wave)
    if gamma is None:
        gamma = 228.7 * (2 ** (1 / bins_per_octave) - 2 ** (-1 / bins_per_octave))
    slot, index, weight, imag_weight, n_bins, m_frames = _cqt_kernel(
        x.size, float(sample_rate), int(bins_per_octave), float(f_min), float(f_max), float(gamma),
        int(min_window))
    spec = scipy.fft.rfft(x)
    buf = np.zeros((n_bins * m_frames, 2))
    buf[slot, 0] = spec.real[index] * weight
    buf[slot, 1] = spec.imag[index] * imag_weight
    rows = buf.view(np.complex128).reshape(n_bins, m_frames)
    # unscaled inverse DFT: the 1/M is already in ``weight``
    coef = scipy.fft.ifft(rows, axis=1, norm="forward", overwrite_x=True).view(np.float64)
    coef = coef.reshape(n_bins, m_frames, 2)
    return np.einsum("ktc,ktc->kt", coef, coef)  # re^2 + im^2 in one pass


@lru_cache(maxsize=16)
def cqcc_projection(sample_rate: float, bins_per_octave: int, f_min: float, f_max: float, gamma: float,
                    uniform_per_octave: int, n_ceps: int, include_c0: bool) -> np.ndarray:
    """``(n_ceps, bins)`` matrix that maps a log-power CQT frame to its cepstrum: cubic-spline (not-a-knot,
    MATLAB ``spline``) resampling onto the uniform grid ``f_min + j * step``, ``step = f_min (2^(kl/B) - 1)``
    = ``f_min / d``, up to the last bin frequency, followed by the orthonormal DCT-II, rows c0.. (or c1..)."""
    from scipy.interpolate import CubicSpline

    freqs, _ = cqt_frequencies(sample_rate, bins_per_octave, f_min, f_max, gamma)
    kl = bins_per_octave * math.log2(1 + 1 / uniform_per_octave)
    step = f_min * (2 ** (kl / bins_per_octave) - 1)
    n_grid = int(math.floor((freqs[-1] - freqs[0]) / step + 1e-9)) + 1
    grid = freqs[0] + step * np.arange(n_grid)
    first = 0 if include_c0 else 1
    if first + n_ceps > n_grid:
        raise ConfigError(f"cqcc: n_ceps={n_ceps} exceeds the {n_grid} points of the uniform frequency grid")
    if freqs.size < 4:
        raise ConfigError("cqcc: need at least 4 CQT bins for the spline resampling")
    spline = CubicSpline(freqs, np.eye(freqs.size), axis=0, bc_type="not-a-knot")(grid)  # (grid, bins)
    proj = dct_matrix(first + n_ceps, n_grid)[first:] @ spline
    proj.setflags(write=False)
    return proj


def cqcc(wave, sample_rate: int | None = None, preset: str = "asvspoof2019", **overrides) -> np.ndarray:
    """Constant-Q cepstral coefficients of a mono waveform, shape ``(frames, n_ceps * (1 + deltas))``."""
    if sample_rate is not None:
        overrides["sample_rate"] = sample_rate
    return cqcc_from_params(wave, frontend_params("cqcc", preset, **overrides))


def cqcc_from_params(wave, p: dict[str, Any]) -> np.ndarray:
    x = _as_wave(wave)
    fs = float(p["sample_rate"])
    min_len = max(2, int(math.ceil(p["min_duration_ms"] * fs / 1000)))
    if x.size < min_len:
        x = np.pad(x, (0, min_len - x.size))
    gamma = _gamma(p)
    power = cqt_power(x, fs, p["bins_per_octave"], p["f_min"], p["f_max"], gamma, p["min_window"])
    proj = cqcc_projection(fs, int(p["bins_per_octave"]), float(p["f_min"]), float(p["f_max"]), gamma,
                           int(p["uniform_per_octave"]), int(p["n_ceps"]), bool(p["include_c0"]))
    static = (proj @ np.log(power + p["log_floor"])).T
    return _with_deltas(static, p)


_EXTRACTORS = {"lfcc": lfcc_from_params, "cqcc": cqcc_from_params}


def extract(kind: str, wave, params: dict[str, Any]) -> np.ndarray:
    """Features of ``wave`` for front end ``kind`` with a complete parameter set (see :func:`frontend_params`)."""
    return _EXTRACTORS[kind](wave, params)
