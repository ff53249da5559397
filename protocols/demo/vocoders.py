"""Signal-processing spoofing attacks for the demo corpus: vocoders and voice conversions.

Each attack analyses bona-fide-like speech and resynthesises it the way a classic vocoder or conversion
system does, so its artefacts (lost phase coherence, strictly periodic or noise excitation, smoothed
envelopes, frame-rate discontinuities, concatenation joins) are in the signal for a countermeasure to find.
All functions take and return float64 waveforms at 16 kHz of the same length as their input.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from .speech import SAMPLE_RATE as SR
from .speech import allpole_response, block_filter, overlap_add


# ---- analysis helpers ------------------------------------------------------------------------------------------
def frames(x: np.ndarray, size: int, hop: int) -> np.ndarray:
    """Centred frames (zero-padded at both ends), shape (n_frames, size); frame t is centred on sample t*hop."""
    pad = size // 2
    xp = np.pad(x, (pad, pad + size))
    n = 1 + len(x) // hop
    return np.lib.stride_tricks.sliding_window_view(xp, size)[::hop][:n]


def f0_track(x: np.ndarray, hop: int = 80, size: int = 640, fmin: float = 60.0, fmax: float = 400.0,
             threshold: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation pitch tracker: (f0 Hz, voiced flag) per frame of ``hop`` samples.

    Normalised autocorrelation of Hann-windowed frames (corrected for the window's own autocorrelation),
    highest peak between ``fmin`` and ``fmax``, parabolic interpolation; voiced when the peak exceeds
    ``threshold`` and the frame is within 40 dB of the loudest one; median-smoothed over 5 frames.
    """
    win = np.hanning(size)
    fr = frames(x, size, hop) * win
    n_fft = 2 * size
    spec = np.abs(np.fft.rfft(fr, n_fft, axis=1)) ** 2
    ac = np.fft.irfft(spec, n_fft, axis=1)[:, :size]
    wac = np.fft.irfft(np.abs(np.fft.rfft(win, n_fft)) ** 2, n_fft)[:size]
    ac = ac / np.maximum(ac[:, :1], 1e-12) / np.maximum(wac / wac[0], 1e-3)
    lo, hi = int(SR / fmax), int(SR / fmin)
    seg = ac[:, lo:hi]
    k = np.argmax(seg, axis=1)
    peak = seg[np.arange(len(seg)), k]
    km = np.clip(k, 1, seg.shape[1] - 2)
    y0, y1, y2 = seg[np.arange(len(seg)), km - 1], seg[np.arange(len(seg)), km], seg[np.arange(len(seg)), km + 1]
    denom = y0 - 2 * y1 + y2
    delta = np.where(np.abs(denom) > 1e-9, 0.5 * (y0 - y2) / np.where(denom == 0, 1, denom), 0.0)
    lag = lo + km + np.clip(delta, -1, 1)
    f0 = SR / lag
    energy = 10 * np.log10(np.mean(fr ** 2, axis=1) + 1e-12)
    voiced = (peak > threshold) & (energy > energy.max() - 40)
    from scipy.ndimage import median_filter

    f0 = median_filter(f0, 5, mode="nearest")
    voiced = median_filter(voiced.astype(np.int8), 5, mode="nearest").astype(bool)
    return f0, voiced


def levinson(r: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Levinson-Durbin over rows of autocorrelations ``r`` (n, >order): LPC ``a`` (n, order+1), error power."""
    n = r.shape[0]
    a = np.zeros((n, order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy() + 1e-9
    for i in range(1, order + 1):
        acc = r[:, i] + np.sum(a[:, 1:i] * r[:, i - 1:0:-1], axis=1)
        k = -acc / err
        a[:, 1:i] = a[:, 1:i] + k[:, None] * a[:, i - 1:0:-1]
        a[:, i] = k
        err = err * (1 - k * k)
    return a, np.maximum(err, 1e-12)


def lpc_frames(x: np.ndarray, order: int, hop: int = 80, size: int = 400,
               smooth: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Frame-wise LPC (autocorrelation method, Hamming window, lag window): coefficients and gain per frame.
    ``smooth`` > 1 averages the autocorrelations over that many frames (the over-smoothed trajectories of a
    statistical parametric synthesiser; averaging autocorrelations keeps every filter stable)."""
    fr = frames(x, size, hop) * np.hamming(size)
    n_fft = 2 * size
    r = np.fft.irfft(np.abs(np.fft.rfft(fr, n_fft, axis=1)) ** 2, n_fft, axis=1)[:, :order + 1]
    if smooth > 1:
        from scipy.ndimage import uniform_filter1d

        r = uniform_filter1d(r, smooth, axis=0, mode="nearest")
    r[:, 0] *= 1.0001  # white-noise correction keeps the filters stable
    lag = np.exp(-0.5 * (2 * np.pi * 60 / SR * np.arange(order + 1)) ** 2)
    a, err = levinson(r * lag, order)
    return a, np.sqrt(err / size)


_WINDOWS: dict[int, np.ndarray] = {}
_OLA_NORM: dict[tuple[int, int, int], np.ndarray] = {}


def _hann(n_fft: int) -> np.ndarray:
    if n_fft not in _WINDOWS:
        _WINDOWS[n_fft] = np.hanning(n_fft + 1)[:-1]  # periodic Hann
    return _WINDOWS[n_fft]


def _stft_tf(x: np.ndarray, n_fft: int, hop: int, dtype=np.float64) -> np.ndarray:
    """Centred STFT, frames first: shape (1 + len(x)//hop, n_fft//2+1)."""
    from scipy import fft

    pad = n_fft // 2
    xp = np.pad(np.asarray(x, dtype=dtype), (pad, pad))
    n_frames = 1 + len(x) // hop
    fr = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop][:n_frames] * _hann(n_fft).astype(dtype)
    return fft.rfft(fr, axis=1)


def _istft_tf(spec_tf: np.ndarray, hop: int, length: int) -> np.ndarray:
    """Weighted overlap-add inverse of :func:`_stft_tf` (the least-squares inverse of a modified STFT)."""
    from scipy import fft

    n_frames, n_bins = spec_tf.shape
    n_fft = 2 * (n_bins - 1)
    window = _hann(n_fft).astype(spec_tf.real.dtype)
    fr = fft.irfft(spec_tf, n=n_fft, axis=1) * window
    total = n_fft + hop * n_frames
    y = overlap_add(fr, hop, total)
    key = (n_fft, hop, n_frames)
    if key not in _OLA_NORM:
        wss = overlap_add(np.tile(_hann(n_fft) ** 2, (n_frames, 1)), hop, total)
        _OLA_NORM[key] = 1.0 / np.where(wss > 1e-8, wss, 1.0)
    pad = n_fft // 2
    y = (y * _OLA_NORM[key])[pad:pad + length]
    return np.pad(y, (0, length - len(y))) if len(y) < length else y


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred STFT with a periodic Hann window and zero padding, shape (n_fft//2+1, 1 + len(x)//hop)
    (librosa's convention; numpy/scipy only, several times faster than librosa for these short signals)."""
    return np.ascontiguousarray(_stft_tf(x, n_fft, hop).T)  # contiguous: later matmuls take the BLAS path


def istft(spec: np.ndarray, hop: int, length: int) -> np.ndarray:
    """Inverse of :func:`stft`, float64, exactly ``length`` samples."""
    return _istft_tf(np.ascontiguousarray(spec.T), hop, length).astype(np.float64)


def _griffin_lim(mag: np.ndarray, hop: int, length: int, n_iter: int, rng: np.random.Generator,
                 momentum: float = 0.99) -> np.ndarray:
    """Fast Griffin-Lim (Perraudin et al. 2013) from a (bins, frames) magnitude, random initial phase.
    Runs in single precision (frames first, contiguous): inaudibly different, twice as fast."""
    mag_tf = np.ascontiguousarray(mag.T, dtype=np.float32)
    n_fft = 2 * (mag_tf.shape[1] - 1)
    angles = np.exp(2j * np.pi * rng.random(mag_tf.shape)).astype(np.complex64)
    rebuilt = np.zeros_like(angles)
    beta = np.float32(momentum / (1 + momentum))
    for _ in range(n_iter):
        previous = rebuilt
        rebuilt = _stft_tf(_istft_tf(mag_tf * angles, hop, length), n_fft, hop, np.float32)
        angles = rebuilt - beta * previous
        angles /= np.abs(angles) + np.float32(1e-16)
    return _istft_tf(mag_tf * angles, hop, length).astype(np.float64)


def cepstral_envelope(mag: np.ndarray, n_ceps: int = 30) -> np.ndarray:
    """Smooth log-magnitude envelope per frame (columns of an STFT magnitude), by liftering."""
    logm = np.log(np.maximum(mag, 1e-8))
    ceps = np.fft.irfft(logm, axis=0)
    ceps[n_ceps:-n_ceps + 1 if n_ceps > 1 else None] = 0.0
    return np.exp(np.fft.rfft(ceps, axis=0).real[:mag.shape[0]])


def _per_sample(values: np.ndarray, hop: int, length: int) -> np.ndarray:
    centres = np.arange(len(values)) * hop
    return np.interp(np.arange(length), centres, values)


def _block_filter(gain: np.ndarray, a: np.ndarray, excitation: np.ndarray, hop: int) -> np.ndarray:
    """All-pole synthesis with per-frame coefficients (frame t covers samples t*hop .. t*hop+hop)."""
    n_blocks = -(-len(excitation) // hop)
    return block_filter(excitation, hop, allpole_response(_hold_last(gain, n_blocks), _hold_last(a, n_blocks), 1024))


def _hold_last(frames: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` frames (rows), the last one repeated when there are fewer (the analysis may give one
    frame fewer than there are blocks)."""
    if len(frames) >= n:
        return frames[:n]
    return np.concatenate([frames, np.repeat(frames[-1:], n - len(frames), axis=0)])


def _pulse_train(f0_samples: np.ndarray, voiced_samples: np.ndarray) -> np.ndarray:
    """Unit-energy-per-period impulse train at a per-sample F0 (zero in unvoiced parts)."""
    phase = np.cumsum(np.where(voiced_samples, f0_samples, 0.0)) / SR
    pulses = np.diff(np.floor(phase), prepend=0.0) > 0
    return pulses * np.sqrt(SR / np.maximum(f0_samples, 1.0))


# ---- vocoders -----------------------------------------------------------------------------------------------------
def lpc_vocoder(x: np.ndarray, rng: np.random.Generator, order: int = 16, mixed: bool = False,
                smooth_f0: int = 1, smooth_envelope: int = 1) -> np.ndarray:
    """Pulse/noise-excited LPC vocoder (LPC-10 style): pitch-synchronous impulses or white noise through
    frame-wise all-pole filters. ``mixed``: pulses below 3 kHz plus noise above (mixed excitation);
    ``smooth_f0``/``smooth_envelope``: moving averages over that many 5 ms frames (over-smoothing)."""
    hop = 80
    pre = lfilter([1, -0.97], [1], x)
    a, gain = lpc_frames(pre, order, hop, smooth=smooth_envelope)
    f0, voiced = f0_track(x, hop)
    if smooth_f0 > 1:
        from scipy.ndimage import uniform_filter1d

        f0 = uniform_filter1d(f0, smooth_f0, mode="nearest")
    n = len(x)
    f0_s = _per_sample(f0, hop, n)
    v_s = _per_sample(voiced.astype(float), hop, n) > 0.5
    pulses = _pulse_train(f0_s, v_s)
    noise = rng.standard_normal(n)
    if mixed:
        from scipy.signal import butter, sosfilt

        low = butter(4, 3000, "low", fs=SR, output="sos")
        high = butter(4, 3000, "high", fs=SR, output="sos")
        exc = np.where(v_s, sosfilt(low, pulses) + 0.5 * sosfilt(high, noise), noise)
    else:
        exc = np.where(v_s, pulses, noise)
    y = _block_filter(gain, a, exc, hop)
    return lfilter([1], [1, -0.97], y)


def harmonic_noise_vocoder(x: np.ndarray, rng: np.random.Generator, max_harmonic_hz: float = 7600.0,
                           noise_above_hz: float | None = None, n_ceps: int = 30) -> np.ndarray:
    """Harmonic-plus-noise vocoder: strictly periodic harmonics (amplitudes picked from the STFT peaks near
    k*F0, one fixed random phase per harmonic), plus noise shaped by the cepstrally smoothed envelope in
    unvoiced frames (and above ``noise_above_hz`` in voiced frames when given)."""
    hop, n_fft = 80, 1024
    n = len(x)
    spec = stft(x, n_fft, hop)
    window = _hann(n_fft)
    env = cepstral_envelope(np.abs(spec), n_ceps)   # in STFT-magnitude units
    f0, voiced = f0_track(x, hop)
    t = min(env.shape[1], len(f0))
    env, f0, voiced = env[:, :t], f0[:t], voiced[:t]
    f0_s = _per_sample(f0, hop, n)
    phase = 2 * np.pi * np.cumsum(f0_s) / SR
    top = max_harmonic_hz if noise_above_hz is None else noise_above_hz
    y = np.zeros(n)
    frame_idx = np.arange(t)
    sine_scale = 2.0 / window.sum()  # a sinusoid of amplitude A peaks at A*sum(w)/2 in the STFT
    frac = np.tile(np.arange(hop) / hop, t)[:n]
    # Harmonic amplitudes: the spectral peak within about half a harmonic spacing of k*F0.
    from scipy.ndimage import maximum_filter1d

    spacing = np.median(f0[voiced]) if voiced.any() else 100.0
    peaks = maximum_filter1d(np.abs(spec[:, :t]), size=max(3, int(0.6 * spacing / (SR / n_fft))), axis=0)
    # Each harmonic keeps one random phase offset: strictly periodic, but not a zero-phase pulse train.
    offsets = rng.uniform(0, 2 * np.pi, int(top / 60) + 1)
    rotor = np.exp(1j * phase)
    harmonic = np.ones(n, dtype=complex)
    for k in range(1, int(top / 60) + 1):
        ok = voiced & (k * f0 < top)
        if not ok.any():
            break
        harmonic *= rotor  # exp(i*k*phase) by repeated rotation: no transcendental call per harmonic
        amp = np.zeros(t + 1)
        bin_idx = np.round(k * f0[ok] / (SR / n_fft)).astype(int)
        amp[:t][ok] = peaks[np.minimum(bin_idx, env.shape[0] - 1), frame_idx[ok]] * sine_scale
        amp[t] = amp[t - 1]
        # linear interpolation between frames: frame value + slope * position (np.repeat beats fancy indexing)
        amp_s = np.repeat(amp[:t], hop)[:n] + np.repeat(np.diff(amp), hop)[:n] * frac
        y += amp_s * (harmonic.real * np.cos(offsets[k]) - harmonic.imag * np.sin(offsets[k]))
    bins_hz = np.arange(env.shape[0]) * SR / n_fft
    gate = np.repeat(np.where(voiced, 0.0, 1.0)[None, :], len(bins_hz), axis=0)
    if noise_above_hz is not None:
        gate = np.maximum(gate, (bins_hz[:, None] >= noise_above_hz) * 1.0)
    noise_spec = stft(rng.standard_normal(n), n_fft, hop)[:, :t]
    # Unit white noise has E|N|^2 = sum(w^2) per bin: normalise it, then impose the envelope.
    shaped = noise_spec / np.sqrt(np.sum(window ** 2)) * env * gate
    pad = np.zeros((spec.shape[0], spec.shape[1] - t), dtype=complex)
    y += istft(np.concatenate([shaped, pad], axis=1), hop, n)
    return y


def griffin_lim(x: np.ndarray, rng: np.random.Generator, n_fft: int = 512, hop: int = 128,
                n_iter: int = 32) -> np.ndarray:
    """Phase reconstruction by (fast) Griffin-Lim from the STFT magnitude, random initial phase."""
    return _griffin_lim(np.abs(stft(x, n_fft, hop)), hop, len(x), n_iter, rng)


_MEL: dict[tuple, np.ndarray] = {}


def mel_griffin_lim(x: np.ndarray, rng: np.random.Generator, n_mels: int = 80, n_fft: int = 1024,
                    hop: int = 256, n_iter: int = 32, smooth_frames: int = 1) -> np.ndarray:
    """Tacotron-style waveform generation: a mel spectrogram (``n_mels`` bands, optionally smoothed over
    ``smooth_frames`` frames like an acoustic model's output) mapped back to a linear magnitude through the
    transposed filterbank, then Griffin-Lim."""
    power = np.abs(stft(x, n_fft, hop)) ** 2
    basis = _mel_basis(n_fft, n_mels)
    mel = basis @ power
    if smooth_frames > 1:
        from scipy.ndimage import uniform_filter1d

        mel = uniform_filter1d(mel, smooth_frames, axis=1, mode="nearest")
    return _griffin_lim(np.sqrt(np.maximum(_mel_to_linear(basis, mel), 0.0)), hop, len(x), n_iter, rng)


def _mel_basis(n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float = SR / 2) -> np.ndarray:
    key = (n_fft, n_mels, fmin, fmax)
    if key not in _MEL:
        import librosa

        # float64 like the spectra: a mixed-precision matmul takes numpy's slow non-BLAS path
        _MEL[key] = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float64)
    return _MEL[key]


def _mel_to_linear(basis: np.ndarray, mel: np.ndarray) -> np.ndarray:
    """Mel power back to linear power through the transposed filterbank, normalised per linear bin (bins no
    filter covers stay 0)."""
    weights = basis.T @ np.ones(len(basis))
    return (basis.T @ mel) / np.maximum(weights, 1e-10)[:, None] * (weights > 1e-10)[:, None]


def mfcc_analysis(x: np.ndarray, n_mfcc: int, n_mels: int, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    from scipy.fft import dct

    power = np.abs(stft(x, n_fft, hop)) ** 2
    mel = _mel_basis(n_fft, n_mels) @ power
    return dct(np.log(mel + 1e-10), type=2, norm="ortho", axis=0)[:n_mfcc]


def mfcc_synthesis(mfcc: np.ndarray, n_mels: int, length: int, rng: np.random.Generator, n_fft: int = 512,
                   hop: int = 128, n_iter: int = 24) -> np.ndarray:
    """Invert truncated MFCCs: inverse DCT -> mel power -> linear power through the transposed (normalised)
    filterbank -> Griffin-Lim phase."""
    from scipy.fft import idct

    padded = np.zeros((n_mels, mfcc.shape[1]))
    padded[:len(mfcc)] = mfcc
    mel = np.exp(idct(padded, type=2, norm="ortho", axis=0))
    mag = np.sqrt(np.maximum(_mel_to_linear(_mel_basis(n_fft, n_mels), mel), 0.0))
    return _griffin_lim(mag, hop, length, n_iter, rng)


def mfcc_vocoder(x: np.ndarray, rng: np.random.Generator, n_mfcc: int = 20, n_mels: int = 60,
                 n_iter: int = 24) -> np.ndarray:
    """Resynthesis from truncated MFCCs (an MFCC vocoder)."""
    return mfcc_synthesis(mfcc_analysis(x, n_mfcc, n_mels), n_mels, len(x), rng, n_iter=n_iter)


def channel_vocoder(x: np.ndarray, rng: np.random.Generator, n_bands: int = 16) -> np.ndarray:
    """Classic channel vocoder: band energies on log-spaced bands re-imposed on a pulse-train (voiced) or
    noise (unvoiced) carrier."""
    hop, n_fft = 80, 512
    n = len(x)
    spec = stft(x, n_fft, hop)
    power = np.abs(spec) ** 2
    freqs = np.arange(power.shape[0]) * SR / n_fft
    edges = np.geomspace(80, 7900, n_bands + 1)
    band = np.clip(np.searchsorted(edges, freqs) - 1, 0, n_bands - 1)
    f0, voiced = f0_track(x, hop)
    t = min(power.shape[1], len(f0))
    energy = np.zeros((n_bands, power.shape[1]))
    np.add.at(energy, band, power)
    counts = np.bincount(band, minlength=n_bands)[:, None]
    gains = np.sqrt(energy / np.maximum(counts, 1))[band]
    carrier_t = np.where(_per_sample(voiced[:t].astype(float), hop, n) > 0.5,
                         _pulse_train(_per_sample(f0[:t], hop, n), np.ones(n, bool)), rng.standard_normal(n))
    carrier = stft(carrier_t, n_fft, hop)
    carrier /= np.sqrt(np.mean(np.abs(carrier) ** 2, axis=0, keepdims=True)) + 1e-9
    return istft(carrier * gains, hop, n)


def random_phase_harmonic(x: np.ndarray, rng: np.random.Generator, n_ceps: int = 24) -> np.ndarray:
    """Frame-wise magnitude-only synthesis: each frame is the smoothed envelope times a harmonic comb at the
    frame's F0 (noise-like where unvoiced), given a fresh random phase and overlap-added (no phase
    reconstruction at all, the crudest way back from a magnitude spectrogram)."""
    hop, n_fft = 128, 1024
    n = len(x)
    spec = stft(x, n_fft, hop)
    env = cepstral_envelope(np.abs(spec), n_ceps)
    f0, voiced = f0_track(x, hop)
    t = min(env.shape[1], len(f0))
    freqs = np.arange(env.shape[0]) * SR / n_fft
    f0c = np.maximum(f0[:t], 50.0)[None, :]
    comb = np.exp(-0.5 * ((freqs[:, None] / f0c - np.round(freqs[:, None] / f0c)) * f0c / 25.0) ** 2)
    mag = env[:, :t] * np.where(voiced[:t][None, :], comb, 1.0)
    out = np.zeros_like(spec)
    out[:, :t] = mag * np.exp(1j * rng.uniform(-np.pi, np.pi, mag.shape))
    return istft(out, hop, n)


def match_long_term_spectrum(y: np.ndarray, reference: np.ndarray, max_db: float = 20.0) -> np.ndarray:
    """Filter ``y`` (zero phase, time-invariant) so its long-term spectrum, smoothed over about 250 Hz,
    matches ``reference``'s: the post-equalisation a spoofing system applies to sound like its target.
    Local artefacts stay; only the overall spectral balance (a trivial cue) goes."""
    from scipy import fft
    from scipy.ndimage import uniform_filter1d

    n = fft.next_fast_len(max(len(y), len(reference)), real=True)  # zero padding: a fast FFT size
    spec_y = fft.rfft(y, n)
    width = max(3, int(250 * n / SR))
    power_y = uniform_filter1d(np.abs(spec_y) ** 2, width)
    power_r = uniform_filter1d(np.abs(fft.rfft(reference, n)) ** 2, width)
    gain_db = np.clip(10 * np.log10((power_r + 1e-12) / (power_y + 1e-12)), -max_db, max_db)
    return fft.irfft(spec_y * 10 ** (gain_db / 20), n)[:len(y)]


# ---- conversions (source speaker -> target speaker) -----------------------------------------------------------------
def pitch_shift_vc(x: np.ndarray, rng: np.random.Generator, ratio: float) -> np.ndarray:
    """Phase-vocoder pitch shift (time-stretch + resampling) by an F0 ratio; formants move along."""
    import librosa

    steps = 12 * np.log2(ratio) + rng.normal(0, 0.2)
    y = librosa.effects.pitch_shift(x.astype(np.float32), sr=SR, n_steps=float(steps))
    return y.astype(np.float64)[:len(x)]


def long_term_spectrum(x: np.ndarray, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Mean power spectrum over the louder half of the frames (speech, not pauses)."""
    power = np.abs(stft(x, n_fft, hop)) ** 2
    loud = power.sum(axis=0) >= np.median(power.sum(axis=0))
    return power[:, loud].mean(axis=1) + 1e-12


def spectral_filter_vc(x: np.ndarray, rng: np.random.Generator, warp: float, source_lts: np.ndarray,
                       target_lts: np.ndarray, max_db: float = 12.0) -> np.ndarray:
    """Spectral-filtering voice conversion: warp the source STFT magnitude along frequency by ``warp`` (the
    vocal-tract length ratio), filter it by the smoothed target/source long-term spectrum ratio (within
    +-``max_db``) and keep the source phase."""
    from scipy.ndimage import uniform_filter1d

    hop, n_fft = 256, 1024
    spec = stft(x, n_fft, hop)
    mag, phase = np.abs(spec), np.angle(spec)
    bins = np.arange(mag.shape[0], dtype=float)
    src_bins = np.clip(bins / warp, 0, mag.shape[0] - 1)
    lo = np.floor(src_bins).astype(int)
    hi = np.minimum(lo + 1, mag.shape[0] - 1)
    frac = (src_bins - lo)[:, None]
    warped = mag[lo] * (1 - frac) + mag[hi] * frac
    src_warped = np.interp(src_bins, bins, source_lts)
    ratio_db = 10 * np.log10(target_lts / src_warped)
    ratio_db = np.clip(uniform_filter1d(ratio_db, 21, mode="nearest"), -max_db, max_db)
    converted = warped * 10 ** (ratio_db / 20)[:, None]
    return istft(converted * np.exp(1j * phase), hop, len(x))


def lpc_filter_vc(x: np.ndarray, rng: np.random.Generator, warp: float, order: int = 18) -> np.ndarray:
    """Waveform-filtering VC: keep the source's LPC residual (its excitation), replace each frame's envelope
    by the source envelope warped along frequency by ``warp`` and refitted as an all-pole filter."""
    hop, size = 80, 400
    pre = lfilter([1, -0.97], [1], x)
    a, gain = lpc_frames(pre, order, hop, size)
    n_fft = 512
    # Residual by frame-wise inverse (FIR) filtering.
    n_blocks = -(-len(x) // hop)
    residual = block_filter(pre, hop, np.fft.rfft(_hold_last(a, n_blocks), 1024, axis=1))
    env = 1.0 / np.abs(np.fft.rfft(a, n_fft, axis=1)) ** 2            # (frames, bins) all-pole power
    bins = np.arange(env.shape[1], dtype=float)
    src = np.clip(bins / warp, 0, env.shape[1] - 1)
    warped = np.stack([np.interp(src, bins, e) for e in env])
    r = np.fft.irfft(warped, n_fft, axis=1)[:, :order + 1]
    a_new, _ = levinson(r, order)
    y = _block_filter(np.ones(len(a_new)), a_new, residual, hop)
    return lfilter([1], [1, -0.97], y)


def mfcc_vc(x: np.ndarray, rng: np.random.Generator, source_mean: np.ndarray, target_mean: np.ndarray,
            n_mfcc: int = 24, n_mels: int = 60) -> np.ndarray:
    """MFCC-domain VC: shift the source's cepstra by the difference of the speakers' mean cepstra, then invert."""
    mfcc = mfcc_analysis(x, n_mfcc, n_mels)
    mfcc = mfcc + (target_mean - source_mean)[:, None]
    return mfcc_synthesis(mfcc, n_mels, len(x), rng, n_iter=24)


def unit_concatenation(sources: list[np.ndarray], length: int, rng: np.random.Generator) -> np.ndarray:
    """Waveform concatenation ("unit selection" without a target cost): units of 50-180 ms cut from the target
    speaker's recordings at zero crossings, each stored as 8-bit mu-law and time-scaled by resampling
    (a crude prosody modification), joined with 4 ms cross-fades."""
    from scipy.signal import resample_poly

    fade = int(0.004 * SR)
    out = np.zeros(0)
    while len(out) < length + fade:
        src = sources[int(rng.integers(len(sources)))]
        size = int(rng.uniform(0.05, 0.18) * SR)
        start = int(rng.integers(0, max(1, len(src) - size)))
        unit = src[start:start + size]
        peak = np.max(np.abs(unit)) + 1e-9
        mu = 255.0
        comp = np.sign(unit / peak) * np.log1p(mu * np.abs(unit / peak)) / np.log1p(mu)
        unit = np.sign(comp) * ((1 + mu) ** np.abs(np.round(comp * 127) / 127) - 1) / mu * peak
        up = int(rng.integers(18, 23))
        unit = resample_poly(unit, up, 20)
        if len(unit) <= 2 * fade:
            continue
        if len(out) == 0:
            out = unit
        else:
            ramp = np.linspace(0, 1, fade)
            out = np.concatenate([out[:-fade], out[-fade:] * (1 - ramp) + unit[:fade] * ramp, unit[fade:]])
    return out[:length]
