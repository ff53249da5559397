"""RawBoost (Tak et al., ICASSP 2022): data boosting on the raw waveform, ``rawboost:1`` ... ``rawboost:8``.

1. linear and non-linear convolutive noise: the sum of the waveform's first ``n_f`` powers, each through a
   random multi-band notch FIR filter (the powers above the first attenuated by a random gain);
2. impulsive signal-dependent additive noise: a random share (up to ``p`` %) of the samples get noise
   proportional to themselves;
3. stationary signal-independent additive noise: white noise through a random notch filter, at a random SNR;
4. 1, 2, 3 in series; 5. 1, 2; 6. 1, 3; 7. 2, 3; 8. 1 and 2 in parallel (their outputs summed).

The parameters default to the official ones (the argparse defaults of the official training script), and the
random draws follow the same distributions; the test ``tests/test_augment_rawboost.py`` compares output
statistics with those of the official code run on the same input (``tests/fixtures/rawboost_official.json``).
This is our implementation, vectorised with FFT convolution; where the official code assumes 16 kHz (band
centres up to 8 kHz) the centres are drawn up to the Nyquist frequency of the rate in use.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Transform, TransformError, register_transform


@dataclass(frozen=True)
class RawBoostParams:
    n_bands: int = 5             # notch bands per filter
    min_f: float = 20.0          # band centre range (Hz)
    max_f: float = 8000.0
    min_bw: float = 100.0        # band width range (Hz)
    max_bw: float = 1000.0
    min_coeff: int = 10          # FIR taps per band (made odd)
    max_coeff: int = 100
    min_g: float = 0.0           # filter gain range (dB)
    max_g: float = 0.0
    min_bias_lin_nonlin: float = 5.0    # extra attenuation (dB) of the non-linear terms
    max_bias_lin_nonlin: float = 20.0
    n_f: int = 5                 # powers of the waveform summed by algorithm 1
    p: float = 10.0              # algorithm 2: at most this % of the samples get impulsive noise
    g_sd: float = 2.0            # algorithm 2: noise amplitude relative to the sample
    snr_min: float = 10.0        # algorithm 3: SNR range (dB)
    snr_max: float = 40.0


OFFICIAL = RawBoostParams()

#: algorithm -> the steps it runs in series ("8": 1 and 2 in parallel)
ALGORITHMS = {1: (1,), 2: (2,), 3: (3,), 4: (1, 2, 3), 5: (1, 2), 6: (1, 3), 7: (2, 3), 8: None}


def _peak_normalise(x: np.ndarray, always: bool) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0 and (always or peak > 1):
        return x / peak
    return x


def _uniform(rng: np.random.Generator, a: float, b: float) -> float:
    """Uniform between a and b in either order (the official gain range of the non-linear terms is [-5, -20])."""
    return a + (b - a) * rng.random()


def _bandstop(numtaps: int, low: float, high: float, fs: float) -> np.ndarray:
    """The band-stop FIR filter ``scipy.signal.firwin(numtaps, [low, high], window="hamming", fs=fs)`` designs
    (windowed ideal response of the pass bands [0, low] and [high, Nyquist], unit gain at DC), in plain numpy:
    scipy's function costs about 1.5 ms a call in its argument handling, half of RawBoost 3's time."""
    nyquist = fs / 2
    m = np.arange(numtaps) - 0.5 * (numtaps - 1)
    edges = ((0.0, low / nyquist), (high / nyquist, 1.0))
    h = sum(right * np.sinc(right * m) - left * np.sinc(left * m) for left, right in edges)
    h = h * np.hamming(numtaps)
    return h / h.sum()


def notch_filter(rng: np.random.Generator, params: RawBoostParams, fs: float, min_g: float,
                 max_g: float) -> np.ndarray:
    """A cascade of ``n_bands`` random band-stop FIR filters, scaled to a peak gain drawn in [min_g, max_g] dB."""
    nyquist = fs / 2
    b = np.ones(1)
    for _ in range(params.n_bands):
        fc = _uniform(rng, params.min_f, min(params.max_f, nyquist))
        bw = _uniform(rng, params.min_bw, params.max_bw)
        taps = int(_uniform(rng, params.min_coeff, params.max_coeff))
        taps += 1 - taps % 2  # band-stop filters need an odd length
        low, high = max(fc - bw / 2, 1e-3), min(fc + bw / 2, nyquist - 1e-3)
        b = np.convolve(_bandstop(taps, low, high, fs), b)
    gain_db = _uniform(rng, min_g, max_g)
    response = np.abs(np.fft.rfft(b, 1024)[:512])  # scipy.signal.freqz's default 512-point grid
    return 10 ** (gain_db / 20) * b / np.max(response)


def apply_fir(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Filter and remove the filter's delay (half its length): the output lines up with the input."""
    from scipy import signal as sps

    shift = (len(b) + 1) // 2
    full = sps.oaconvolve(x, b)
    out = np.zeros(len(x))
    part = full[shift:shift + len(x)]
    out[:len(part)] = part
    return out


def convolutive(x: np.ndarray, rng, params: RawBoostParams, fs: float) -> np.ndarray:
    """Algorithm 1: sum over i of notch_i(x**i); the linear term at the base gain, the others lower."""
    y = np.zeros(len(x))
    for i in range(params.n_f):
        if i == 0:
            min_g, max_g = params.min_g, params.max_g
        else:
            min_g, max_g = params.min_g - params.min_bias_lin_nonlin, params.max_g - params.max_bias_lin_nonlin
        y += apply_fir(np.power(x, i + 1), notch_filter(rng, params, fs, min_g, max_g))
    return _peak_normalise(y - y.mean(), always=False)


def impulsive(x: np.ndarray, rng, params: RawBoostParams) -> np.ndarray:
    """Algorithm 2: a random share (uniform up to ``p`` %) of the samples, chosen at random, get
    ``g_sd * x * (u1 * u2)`` added, u1 and u2 uniform in [-1, 1]."""
    share = _uniform(rng, 0, params.p)
    n = int(len(x) * share / 100)
    where = rng.permutation(len(x))[:n]
    factor = (2 * rng.random(n) - 1) * (2 * rng.random(n) - 1)
    y = x.copy()
    y[where] = x[where] + params.g_sd * x[where] * factor
    return _peak_normalise(y, always=False)


def stationary(x: np.ndarray, rng, params: RawBoostParams, fs: float) -> np.ndarray:
    """Algorithm 3: white noise through a random notch filter, added at an SNR uniform in [snr_min, snr_max]."""
    noise = rng.standard_normal(len(x))
    noise = _peak_normalise(apply_fir(noise, notch_filter(rng, params, fs, params.min_g, params.max_g)), True)
    snr = _uniform(rng, params.snr_min, params.snr_max)
    norm = np.linalg.norm(noise)
    if norm == 0:
        return x
    return x + noise / norm * np.linalg.norm(x) / 10 ** (snr / 20)


def rawboost(x: np.ndarray, algorithm: int, rng: np.random.Generator, fs: float,
             params: RawBoostParams = OFFICIAL) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if algorithm == 8:
        return _peak_normalise(convolutive(x, rng, params, fs) + impulsive(x, rng, params), always=False)
    steps = {1: lambda v: convolutive(v, rng, params, fs), 2: lambda v: impulsive(v, rng, params),
             3: lambda v: stationary(v, rng, params, fs)}
    for step in ALGORITHMS[algorithm]:
        x = steps[step](x)
    return x


class RawBoost(Transform):
    def __init__(self, algorithm: int, params: RawBoostParams = OFFICIAL):
        self.algorithm, self.params = algorithm, params
        self.spec = f"rawboost:{algorithm}"

    def transform(self, wave, sample_rate, rng):
        return rawboost(wave, self.algorithm, rng, float(sample_rate), self.params).astype(np.float32)


@register_transform("rawboost", "rawboost:1..8", "RawBoost data boosting (Tak et al. 2022), official defaults")
def _rawboost(arg):
    if arg not in {str(k) for k in ALGORITHMS}:
        raise TransformError(f"'rawboost:{arg}': expected rawboost:N with N = 1 to 8 (1 convolutive, "
                             "2 impulsive, 3 stationary noise, 4-7 in series, 8 parallel)")
    return RawBoost(int(arg))
