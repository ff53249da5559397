"""LFCC and CQCC front ends against slow, literal computations of their written definitions, and physics."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from spoofbench.detectors import frontends as fe
from spoofbench.protocols.errors import ConfigError

EPS = np.finfo(np.float64).eps
FS = 16000


# ---- slow references, written from the MATLAB code's definitions, loop by loop ---------------------------

def slow_trimf(f, a, b, c):
    if f <= a or f >= c:
        return 1.0 if f == b else 0.0
    if f == b:
        return 1.0
    return (f - a) / (b - a) if f < b else (c - f) / (c - b)


def slow_deltas(x, hlen, normalize):
    t_len = x.shape[0]
    out = np.zeros_like(x)
    for t in range(t_len):
        for j in range(1, hlen + 1):
            out[t] += j * (x[min(t + j, t_len - 1)] - x[max(t - j, 0)])
    return out / (2 * sum(j * j for j in range(1, hlen + 1))) if normalize else out


def slow_dct(v, n_out):
    n = len(v)
    out = np.zeros(n_out)
    for k in range(n_out):
        w = math.sqrt(1 / n) if k == 0 else math.sqrt(2 / n)
        out[k] = w * sum(v[i] * math.cos(math.pi * k * (2 * i + 1) / (2 * n)) for i in range(n))
    return out


def slow_lfcc(x, win_ms, nfft, nfilt, ncoef, fmin, fmax, preemph, delta_norm):
    x = np.asarray(x, dtype=float)
    if preemph:
        y = x.copy()
        for n in range(1, len(x)):
            y[n] = x[n] - preemph * x[n - 1]
        x = y
    win = int(FS * win_ms / 1000)
    hop = win // 2
    frames, start = [], 0
    while True:  # MATLAB buffer(x, win, win/2, 'nodelay'): until a frame reaches the end, last one zero-padded
        frame = np.zeros(win)
        seg = x[start:start + win]
        frame[:len(seg)] = seg
        frames.append(frame)
        if start + win >= len(x):
            break
        start += hop
    hamming = np.array([0.54 - 0.46 * math.cos(2 * math.pi * n / (win - 1)) for n in range(win)])
    freqs = (FS / 2) * np.linspace(0, 1, nfft // 2 + 1)
    edges = np.linspace(fmin, fmax, nfilt + 2)
    fb = np.array([[slow_trimf(f, *edges[i:i + 3]) for i in range(nfilt)] for f in freqs])
    dft = np.exp(-2j * np.pi * np.outer(np.arange(nfft // 2 + 1), np.arange(win)) / nfft)
    static = []
    for frame in frames:
        power = np.abs(dft @ (frame * hamming)) ** 2
        static.append(slow_dct(np.log10(power @ fb + EPS), ncoef))
    static = np.array(static)
    d1 = slow_deltas(static, 1, delta_norm)
    return np.hstack([static, d1, slow_deltas(d1, 1, delta_norm)])


def slow_cqt_power(x, B, fmin, fmax):
    """The toolbox's cqt(..., 'rasterize', 'full', 'gamma', 228.7 (2^(1/B) - 2^(-1/B))), bin by bin."""
    ls = len(x)
    spectrum = np.fft.fft(x)
    gamma = 228.7 * (2 ** (1 / B) - 2 ** (-1 / B))
    q = 2 ** (1 / B) - 2 ** (-1 / B)
    nyq = FS / 2
    kept = []
    for k in range(int(math.floor(B * math.log2(fmax / fmin))) + 1):
        f = fmin * 2 ** (k / B)
        if f + (q * f + gamma) / 2 > nyq:
            break
        kept.append((f, q * f + gamma))
    fftres = FS / ls
    windows = []
    for f, bw in kept:
        width = max(int(math.floor(bw / fftres + 0.5)), 4)
        windows.append((int(math.floor(f / fftres)), width))
    m = windows[-1][1]
    out = np.zeros((len(windows), m))
    for row, (posit, width) in enumerate(windows):
        if width % 2 == 0:
            xs = np.concatenate([np.arange(0, width // 2) / width, np.arange(-width // 2, 0) / width])
        else:
            xs = np.concatenate([np.arange(0, (width + 1) // 2) / width, np.arange(-(width - 1) // 2, 0) / width])
        g = (0.5 + 0.5 * np.cos(2 * np.pi * xs)) * (np.abs(xs) < 0.5)
        half_up, half_down = (width + 1) // 2, width // 2
        g_centred = np.concatenate([g[half_up:], g[:half_up]])
        bins = np.mod(posit + np.arange(-half_down, half_up), ls)
        temp = np.zeros(m, dtype=complex)
        slots = np.concatenate([np.arange(m - half_down, m), np.arange(0, half_up)])
        temp[slots] = spectrum[bins] * g_centred * (2 * m / ls)
        out[row] = np.abs(np.fft.ifft(temp)) ** 2
    return out, np.array([f for f, _ in kept])


def slow_cqcc(x, B, fmin, fmax, d, n_ceps):
    power, freqs = slow_cqt_power(x, B, fmin, fmax)
    logp = np.log(power + EPS)
    step = fmin * (2 ** (B * math.log2(1 + 1 / d) / B) - 1)
    grid = [freqs[0]]
    while grid[-1] + step <= freqs[-1] + 1e-9:
        grid.append(freqs[0] + step * len(grid))
    grid = np.array(grid)
    static = []
    for t in range(logp.shape[1]):
        uniform = CubicSpline(freqs, logp[:, t], bc_type="not-a-knot")(grid)
        static.append(slow_dct(uniform, n_ceps))
    static = np.array(static)
    d1 = slow_deltas(static, 3, True)
    return np.hstack([static, d1, slow_deltas(d1, 3, True)])


# ---- LFCC -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset,length", [("asvspoof2019", 3001), ("asvspoof2019", 3200),
                                           ("asvspoof2021", 2777), ("asvspoof2021", 300)])
def test_lfcc_equals_slow_definition(preset, length):
    rng = np.random.default_rng(length)
    x = rng.normal(size=length) * 0.1
    p = fe.frontend_params("lfcc", preset)
    ref = slow_lfcc(x, p["win_ms"], p["n_fft"], p["n_filters"], p["n_ceps"], p["f_min"], p["f_max"],
                    p["pre_emphasis"], p["delta_normalize"])
    got = fe.lfcc(x, preset=preset)
    assert got.shape == ref.shape == (ref.shape[0], 60 if preset == "asvspoof2019" else 57)
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-4)


@pytest.mark.parametrize("n", [1, 159, 160, 319, 320, 321, 480, 481, 16000, 16001])
def test_lfcc_frame_count_is_matlab_buffer(n):
    # buffer(x, 320, 160, 'nodelay') gives ceil((n - 160) / 160) frames; at least one frame for short input
    expected = max(1, math.ceil((n - 160) / 160))
    assert fe.lfcc(np.ones(n) * 0.01).shape[0] == expected
    assert fe.lfcc_frame_count(n, 320, 160, pad_end=False) == max(1, (n - 320) // 160 + 1)


def test_filterbank_edges_and_shape():
    fb = fe.linear_filterbank(FS, 512, 20, 0.0, 8000.0)
    freqs = np.linspace(0, 8000, 257)
    edges = np.linspace(0, 8000, 22)
    for i in range(20):
        support = freqs[fb[:, i] > 0]
        assert support.min() > edges[i] and support.max() < edges[i + 2]
        assert fb[:, i].max() <= 1.0
    # 2021: 70 filters on [0, 4000] Hz: nothing above 4 kHz, every bin below covered
    fb21 = fe.linear_filterbank(FS, 1024, 70, 0.0, 4000.0)
    f21 = np.linspace(0, 8000, 513)
    assert not fb21[f21 >= 4000].any()
    assert (fb21[(f21 > 0) & (f21 < 4000)].sum(1) > 0).all()


def test_dct_basis_is_orthonormal_dct2():
    import scipy.fft

    c = fe.dct_matrix(20, 20)
    np.testing.assert_allclose(c @ c.T, np.eye(20), atol=1e-12)
    np.testing.assert_allclose(c, scipy.fft.dct(np.eye(20), type=2, norm="ortho", axis=0), atol=1e-12)


def test_deltas_conventions():
    t = np.arange(10, dtype=float)[:, None] ** 2
    htk = fe.deltas(t, 1, normalize=True)
    rasta = fe.deltas(t, 1, normalize=False)
    np.testing.assert_allclose(htk[1:-1, 0], 2 * np.arange(1, 9))  # ((t+1)^2 - (t-1)^2) / 2
    np.testing.assert_allclose(rasta, 2 * htk)
    assert htk[0, 0] == (1 - 0) / 2 and htk[-1, 0] == (81 - 64) / 2  # edges replicated
    x = np.random.default_rng(0).normal(size=(12, 3))
    np.testing.assert_allclose(fe.deltas(x, 3, True), slow_deltas(x, 3, True), atol=1e-12)


@pytest.mark.parametrize("preset", ["asvspoof2019", "asvspoof2021"])
def test_pure_tone_lands_in_its_lfcc_filter(preset):
    p = fe.frontend_params("lfcc", preset)
    centres = np.linspace(p["f_min"], p["f_max"], p["n_filters"] + 2)[1:-1]
    target = p["n_filters"] // 3
    t = np.arange(FS) / FS
    x = 0.5 * np.sin(2 * np.pi * centres[target] * t)
    # with every cepstrum kept the DCT inverts: recover the log filterbank energies
    feats = fe.lfcc(x, preset=preset, n_ceps=p["n_filters"], deltas=0).astype(np.float64)
    log_energy = feats.mean(0) @ fe.dct_matrix(p["n_filters"], p["n_filters"])
    assert int(np.argmax(log_energy)) == target


def test_lfcc_params_overrides_and_errors():
    assert fe.lfcc(np.zeros(4000), n_ceps=10).shape[1] == 30
    assert fe.lfcc(np.zeros(4000), deltas=0).shape[1] == 20
    with pytest.raises(ConfigError, match="unknown parameter 'n_cepstra'"):
        fe.lfcc(np.zeros(4000), n_cepstra=10)
    with pytest.raises(ConfigError, match="unknown preset"):
        fe.lfcc(np.zeros(4000), preset="asvspoof2015")
    with pytest.raises(ConfigError, match="Nyquist"):
        fe.lfcc(np.zeros(4000), f_max=9000)
    with pytest.raises(ValueError, match="empty"):
        fe.lfcc(np.zeros(0))


# ---- CQT / CQCC -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("B,fmin,fmax,length", [(12, 62.5, 4000.0, 4001), (96, 15.625, 8000.0, 3000),
                                                (24, 100.0, 7000.0, 200)])
def test_cqt_power_equals_toolbox_procedure(B, fmin, fmax, length):
    x = np.random.default_rng(length).normal(size=length)
    ref, ref_freqs = slow_cqt_power(x, B, fmin, fmax)
    got = fe.cqt_power(x, FS, B, fmin, fmax)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * ref.max())
    freqs, _ = fe.cqt_frequencies(FS, B, fmin, fmax, 228.7 * (2 ** (1 / B) - 2 ** (-1 / B)))
    np.testing.assert_allclose(freqs, ref_freqs)


def test_cqt_bins_and_frame_count_follow_the_definition():
    # 2021: 12 bins/octave over 62.5 Hz .. 4 kHz = 6 octaves -> 73 bins, none near Nyquist
    freqs, bw = fe.cqt_frequencies(FS, 12, 62.5, 4000.0, 228.7 * (2 ** (1 / 12) - 2 ** (-1 / 12)))
    assert len(freqs) == 73 and freqs[-1] == pytest.approx(4000.0)
    # 2019: bins whose band crosses 8 kHz are dropped
    f19, bw19 = fe.cqt_frequencies(FS, 96, 15.625, 8000.0, 228.7 * (2 ** (1 / 96) - 2 ** (-1 / 96)))
    assert (f19 + bw19 / 2 <= 8000).all()
    nxt = f19[-1] * 2 ** (1 / 96)
    assert nxt + ((2 ** (1 / 96) - 2 ** (-1 / 96)) * nxt + 228.7 * (2 ** (1 / 96) - 2 ** (-1 / 96))) / 2 > 8000
    for n in (1000, 32000, 48123):
        frames = fe.cqt_power(np.ones(n), FS, 12, 62.5, 4000.0).shape[1]
        assert frames == max(4, math.floor(bw[-1] * n / FS + 0.5))


def test_pure_tone_lands_in_its_cqt_bin_with_sine_normalisation():
    n = 32000
    freqs, _ = fe.cqt_frequencies(FS, 96, 15.625, 8000.0, 228.7 * (2 ** (1 / 96) - 2 ** (-1 / 96)))
    k = int(np.argmin(np.abs(freqs - 1000.0)))
    tone_hz = math.floor(freqs[k] * n / FS) * FS / n  # the DFT bin at the centre of bin k's window
    x = 0.3 * np.cos(2 * np.pi * tone_hz * np.arange(n) / FS)
    power = fe.cqt_power(x, FS, 96, 15.625, 8000.0)
    assert int(np.argmax(power.mean(1))) == k
    np.testing.assert_allclose(np.sqrt(power[k]), 0.3, rtol=1e-9)  # 'sine' normalisation: amplitude kept


@pytest.mark.parametrize("preset,length", [("asvspoof2021", 3000), ("asvspoof2019", 1600)])
def test_cqcc_equals_slow_definition(preset, length):
    p = fe.frontend_params("cqcc", preset)
    x = np.random.default_rng(7).normal(size=length) * 0.1
    ref = slow_cqcc(x, p["bins_per_octave"], p["f_min"], p["f_max"], p["uniform_per_octave"], p["n_ceps"])
    got = fe.cqcc(x, preset=preset)
    assert got.shape == ref.shape and got.shape[1] == (90 if preset == "asvspoof2019" else 60)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


def test_cqcc_short_silent_and_bad_input():
    for x in (np.zeros(16000), np.ones(50) * 0.1, np.zeros(1)):
        feats = fe.cqcc(x, preset="asvspoof2021")
        assert feats.shape[0] >= 1 and np.isfinite(feats).all()
    assert fe.cqcc(np.zeros(8000), preset="asvspoof2021", n_ceps=5, include_c0=False).shape[1] == 15
    with pytest.raises(ConfigError, match="n_ceps"):
        fe.cqcc(np.zeros(8000), preset="asvspoof2021", n_ceps=5000)
    with pytest.raises(ValueError, match="mono"):
        fe.cqcc(np.zeros((2, 8000)))
