"""Synthetic speech-like utterances for the demo corpus: a Klatt-style source-filter model.

Source: a Rosenberg glottal pulse train (its derivative, i.e. glottal flow plus lip radiation) following an F0
contour with declination, pitch accents and slow drift, with per-period jitter and shimmer and breath noise.
Filter: a cascade of six time-varying formant resonators (updated every 5 ms) moving between phone targets
(vowels, nasals, approximants), plus fricative and burst noise shaped by their own resonances, and pauses.
Speakers differ in F0, vocal-tract length (all formants scaled), voice quality and speaking rate.

Only numpy and scipy; one utterance of 2 s takes a few milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
BLOCK = 80  # samples per control block (5 ms): formants, amplitudes and F0 are set per block

# Adult male formant targets F1..F4 (Hz), after Peterson & Barney; F5, F6 are fixed (HIGH_FORMANTS).
VOWELS = {
    "i": (270, 2290, 3010, 3500), "I": (390, 1990, 2550, 3550), "e": (530, 1840, 2480, 3500),
    "ae": (660, 1720, 2410, 3450), "a": (730, 1090, 2440, 3400), "o": (570, 840, 2410, 3400),
    "U": (440, 1020, 2240, 3350), "u": (300, 870, 2240, 3350), "V": (640, 1190, 2390, 3450),
    "3": (490, 1350, 1690, 3300),
}
VOWEL_INDEX = {v: i for i, v in enumerate(VOWELS)}
# Voiced consonants with formant-like targets: (F1..F4, amplitude relative to a vowel)
VOICED_CONSONANTS = {
    "m": ((250, 1100, 2300, 3300), 0.25), "n": ((250, 1600, 2500, 3400), 0.25),
    "l": ((350, 1100, 2700, 3500), 0.55), "r": ((400, 1150, 1600, 3300), 0.55),
    "w": ((300, 700, 2300, 3300), 0.5), "j": ((280, 2200, 2900, 3500), 0.5),
}
# Fricatives: (centre Hz, bandwidth Hz, level, voiced)
FRICATIVES = {
    "s": (5500, 2500, 0.30, False), "sh": (3200, 1800, 0.30, False), "f": (4500, 5000, 0.10, False),
    "th": (5000, 5000, 0.08, False), "z": (5500, 2500, 0.18, True), "v": (4000, 5000, 0.08, True),
}
# Plosives: (burst centre Hz, voiced)
PLOSIVES = {"p": (900, False), "t": (4200, False), "k": (2200, False), "b": (900, True), "d": (3800, True),
            "g": (2000, True)}
FILTER_FFT = 512  # block-convolution FFT size: 32 ms of impulse response (a 70 Hz-wide formant decays by 60 dB)
BANDWIDTHS = np.array([70.0, 100.0, 140.0, 220.0, 280.0, 400.0])
HIGH_FORMANTS = (4500.0, 5800.0)  # F5, F6 (adult male) for every phone


@dataclass(frozen=True)
class Speaker:
    """A synthetic voice. ``vtl`` scales every formant (1.0 = adult male; about 1.17 for a female voice)."""

    speaker_id: str
    gender: str            # "male" | "female"
    f0: float              # median F0 (Hz)
    f0_spread: float       # semitones of pitch-accent excursion
    vtl: float             # formant scale factor
    jitter: float          # relative period jitter (0.005 = 0.5 %)
    shimmer: float         # relative amplitude shimmer per period
    breath: float          # aspiration noise level relative to voicing
    open_quotient: float   # Rosenberg open phase / period
    rate: float            # syllables per second
    formant_offsets: tuple = (1.0, 1.0, 1.0, 1.0)   # per-speaker scaling of F1..F4
    vowel_shifts: tuple = ()   # per-speaker (F1, F2) factors of each vowel in VOWELS order (an "accent")

    @classmethod
    def random(cls, speaker_id: str, gender: str, rng: np.random.Generator) -> Speaker:
        female = gender == "female"
        return cls(speaker_id=speaker_id, gender=gender,
                   f0=float(rng.uniform(165, 255) if female else rng.uniform(85, 150)),
                   f0_spread=float(rng.uniform(1.5, 3.5)),
                   vtl=float((1.17 if female else 1.0) * rng.uniform(0.9, 1.1)),
                   jitter=float(rng.uniform(0.004, 0.012)), shimmer=float(rng.uniform(0.02, 0.06)),
                   breath=float(rng.uniform(0.06, 0.18) * (1.4 if female else 1.0)),
                   open_quotient=float(rng.uniform(0.5, 0.7) + (0.05 if female else 0.0)),
                   rate=float(rng.uniform(3.6, 5.2)),
                   formant_offsets=tuple(float(v) for v in rng.uniform(0.88, 1.12, 4)),
                   vowel_shifts=tuple(tuple(float(v) for v in pair)
                                      for pair in rng.uniform(0.9, 1.1, (len(VOWELS), 2))))


def _phone_plan(rng: np.random.Generator, speaker: Speaker, n_blocks: int) -> list[tuple[str, str, int]]:
    """Sequence of (kind, phone, n_blocks): words of 1-3 CV(C) syllables separated by occasional pauses."""
    plan: list[tuple[str, str, int]] = []
    total = 0
    syll = 1.0 / speaker.rate
    fric = list(FRICATIVES)
    plos = list(PLOSIVES)
    voiced = list(VOICED_CONSONANTS)
    vowels = list(VOWELS)

    def add(kind, phone, seconds):
        nonlocal total
        n = max(2, int(round(seconds * SAMPLE_RATE / BLOCK)))
        plan.append((kind, phone, n))
        total += n

    while total < n_blocks:
        for _ in range(int(rng.integers(1, 4))):
            onset = rng.random()
            if onset < 0.3:
                add("fricative", fric[rng.integers(len(fric))], syll * rng.uniform(0.25, 0.4))
            elif onset < 0.6:
                add("closure", "-", syll * rng.uniform(0.1, 0.2))
                add("burst", plos[rng.integers(len(plos))], rng.uniform(0.012, 0.03))
            elif onset < 0.85:
                add("voiced", voiced[rng.integers(len(voiced))], syll * rng.uniform(0.15, 0.3))
            add("vowel", vowels[rng.integers(len(vowels))], syll * rng.uniform(0.35, 0.6))
            if rng.random() < 0.25:
                add("voiced", voiced[rng.integers(len(voiced))], syll * rng.uniform(0.1, 0.2))
        if rng.random() < 0.3:
            add("pause", "-", rng.uniform(0.08, 0.25))
    return plan


def _glottal_source(f0: np.ndarray, speaker: Speaker, rng: np.random.Generator) -> np.ndarray:
    """Derivative of a Rosenberg glottal flow with per-period jitter and shimmer (one value per sample)."""
    phase0 = np.cumsum(f0) / SAMPLE_RATE
    n_periods = int(phase0[-1]) + 3
    jitter = 1.0 + speaker.jitter * rng.standard_normal(n_periods)
    f0j = f0 * jitter[phase0.astype(np.int64)]
    phase = np.cumsum(f0j) / SAMPLE_RATE
    period = phase.astype(np.int64)
    t = phase - period
    tp = 0.6 * speaker.open_quotient
    tn = 0.4 * speaker.open_quotient
    flow = np.where(t < tp, 0.5 * (1 - np.cos(np.pi * t / tp)),
                    np.where(t < tp + tn, np.cos(0.5 * np.pi * np.clip((t - tp) / tn, 0, 1)), 0.0))
    shimmer = 1.0 + speaker.shimmer * rng.standard_normal(n_periods)
    flow *= shimmer[np.minimum(period, n_periods - 1)]
    return np.diff(flow, prepend=0.0), t < speaker.open_quotient


def _resonator_sos(freq: np.ndarray, bw: np.ndarray) -> np.ndarray:
    """Second-order all-pole sections with unit gain at 0 Hz; ``freq``/``bw`` shaped (..., n_formants)."""
    r = np.exp(-np.pi * bw / SAMPLE_RATE)
    c = 2 * r * np.cos(2 * np.pi * freq / SAMPLE_RATE)
    a1, a2 = -c, r * r
    sos = np.zeros(freq.shape + (6,))
    sos[..., 0] = 1 + a1 + a2
    sos[..., 3] = 1.0
    sos[..., 4] = a1
    sos[..., 5] = a2
    return sos


def overlap_add(frames_: np.ndarray, hop: int, total: int) -> np.ndarray:
    """Sum frames placed ``hop`` apart, in ceil(n/hop) strided passes instead of a loop over frames."""
    n_frames, size = frames_.shape
    out = np.zeros(total, dtype=frames_.dtype)
    for j in range(-(-size // hop)):
        part = frames_[:, j * hop:(j + 1) * hop]
        out[j * hop:j * hop + n_frames * hop].reshape(n_frames, hop)[:, :part.shape[1]] += part
    return out


def allpole_response(gain: np.ndarray, a: np.ndarray, n_fft: int) -> np.ndarray:
    """Frequency responses ``gain / A(f)`` of per-block all-pole filters, shape (n_blocks, n_fft//2+1)."""
    return np.asarray(gain, dtype=float).reshape(-1, 1) / np.fft.rfft(a, n_fft, axis=1)


def block_filter(x: np.ndarray, hop: int, response: np.ndarray) -> np.ndarray:
    """Time-varying filtering by block convolution: the samples of block ``b`` (``hop`` long) are filtered by
    ``response[b]`` (an rfft-grid frequency response) and the ringing tails are overlap-added.

    Each excitation sample goes through the filter in force when it occurs, so no state has to carry over a
    coefficient change; all blocks go through one batched FFT (far faster than a filter call per block).
    """
    n_fft = 2 * (response.shape[1] - 1)
    n_blocks = response.shape[0]
    segs = np.zeros((n_blocks, hop))
    flat = np.asarray(x, dtype=float)[:n_blocks * hop]
    segs.reshape(-1)[:len(flat)] = flat
    y_blocks = np.fft.irfft(np.fft.rfft(segs, n_fft, axis=1) * response, n_fft, axis=1)
    out = overlap_add(y_blocks, hop, hop * n_blocks + n_fft)
    return out[:len(x)]


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return x
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()
    pad = width // 2
    padded = np.pad(x, [(pad, width - 1 - pad)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    if x.ndim == 1:
        return np.convolve(padded, kernel, mode="valid")
    return np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(x.shape[1])], axis=1)


def synthesize_utterance(speaker: Speaker, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``n_samples`` of speech-like audio (float64, peak about 0.5) from ``speaker``; deterministic for ``rng``."""
    n_blocks = -(-n_samples // BLOCK) + 1
    plan = _phone_plan(rng, speaker, n_blocks)
    formants = np.zeros((n_blocks, 6))
    voice = np.zeros(n_blocks)
    asp = np.zeros(n_blocks)
    accents = np.zeros(n_blocks)
    fric_segments: list[tuple[int, int, float, float, float]] = []  # start, stop, centre, bw, level
    pos = 0
    prev_target = np.array(VOWELS["V"] + HIGH_FORMANTS, dtype=float)
    for kind, phone, n in plan:
        stop = min(pos + n, n_blocks)
        if pos >= n_blocks:
            break
        seg = slice(pos, stop)
        if kind == "vowel":
            target = np.array(VOWELS[phone] + HIGH_FORMANTS, dtype=float)
            if speaker.vowel_shifts:
                target[:2] *= speaker.vowel_shifts[VOWEL_INDEX[phone]]
            target[:2] *= rng.uniform(0.95, 1.05, 2)  # token-to-token variation
            formants[seg] = target
            voice[seg] = rng.uniform(0.8, 1.0)
            if rng.random() < 0.35:
                accents[(pos + stop) // 2] = rng.uniform(0.5, 1.0)
            prev_target = target
        elif kind == "voiced":
            targets, level = VOICED_CONSONANTS[phone]
            formants[seg] = np.array(targets + HIGH_FORMANTS, dtype=float)
            voice[seg] = level
        else:
            formants[seg] = prev_target  # the tract keeps the neighbouring vowel's shape (coarticulation)
            if kind == "fricative":
                centre, bw, level, voiced = FRICATIVES[phone]
                fric_segments.append((pos, stop, centre, bw, level))
                voice[seg] = 0.35 if voiced else 0.0
            elif kind == "burst":
                centre, voiced = PLOSIVES[phone]
                fric_segments.append((pos, stop, centre, 2000.0, 0.35))
                asp[seg] = 0.3
                voice[seg] = 0.3 if voiced else 0.0
        pos = stop
    # Coarticulation: formant targets glide over ~40 ms; amplitude envelopes over ~15 ms.
    formants = _smooth(formants, 9) * speaker.vtl
    formants[:, :4] *= np.asarray(speaker.formant_offsets)
    for k in (4, 5):
        formants[:, k] = np.maximum(formants[:, k], formants[:, k - 1] + 300)
    formants = np.minimum(formants, 0.45 * SAMPLE_RATE)
    voice = _smooth(voice, 3)
    asp = _smooth(asp, 3)

    # F0 contour (per block, then per sample): declination, pitch accents, slow drift.
    t_blocks = np.arange(n_blocks) / n_blocks
    semitones = (1.5 - 3.0 * t_blocks) * rng.uniform(0.5, 1.2)
    semitones += speaker.f0_spread * _smooth(accents, 25) * 4
    semitones += 0.6 * _smooth(rng.standard_normal(n_blocks), 41) * 3
    f0_blocks = speaker.f0 * rng.uniform(0.93, 1.07) * 2 ** (semitones / 12)
    centres = (np.arange(n_blocks) + 0.5) * BLOCK
    n_total = n_blocks * BLOCK
    grid = np.arange(n_total)
    f0 = np.interp(grid, centres, f0_blocks)
    source, open_phase = _glottal_source(f0, speaker, rng)
    voice_s = np.interp(grid, centres, voice)
    asp_s = np.interp(grid, centres, asp)
    noise = rng.standard_normal(n_total)
    excitation = source * voice_s * (SAMPLE_RATE / speaker.f0) * 0.05
    excitation += noise * (speaker.breath * voice_s * open_phase + 0.05 * asp_s) * 0.3

    # Vocal tract: cascade of 6 resonators, one all-pole filter per 5 ms block, applied by block convolution.
    bws = BANDWIDTHS * rng.uniform(0.85, 1.2)
    sos_all = _resonator_sos(formants, np.broadcast_to(bws, formants.shape))
    n_res = formants.shape[1]
    a_all = np.zeros((n_blocks, 2 * n_res + 1))
    a_all[:, 0] = 1.0
    for k in range(n_res):  # multiply out the sections, vectorised over blocks
        prev = a_all.copy()
        a_all[:, 1:] += sos_all[:, k, 4:5] * prev[:, :-1]
        a_all[:, 2:] += sos_all[:, k, 5:6] * prev[:, :-2]
    gains = np.prod(sos_all[:, :, 0], axis=1)
    out = block_filter(excitation, BLOCK, allpole_response(gains, a_all, FILTER_FFT))

    # Calibrate: loud vowels at RMS 0.1, so the phone levels below are relative to a vowel.
    loud = voice_s > 0.7
    out *= 0.1 / (np.sqrt(np.mean(out[loud] ** 2)) if loud.any() else (np.std(out) + 1e-9))

    # Frication and bursts: band-pass noise per segment with short ramps.
    from scipy.signal import lfilter  # here, not at the top: the corpus readers import this module (~1 s)

    for start, stop, centre, bw, level in fric_segments:
        a, b_ = start * BLOCK, stop * BLOCK
        seg_noise = rng.standard_normal(b_ - a)
        centre = min(centre * speaker.vtl ** 0.5 * rng.uniform(0.9, 1.1), 7200.0)
        sos = _resonator_sos(np.array([centre]), np.array([bw]))[0]
        shaped = lfilter([sos[0] * 3], sos[3:], seg_noise)
        shaped = np.diff(shaped, prepend=0.0)  # radiation tilt: frication is weak at low frequencies
        shaped *= 0.1 / (np.std(shaped) + 1e-12)
        ramp = np.minimum(1.0, np.minimum(np.arange(b_ - a), np.arange(b_ - a)[::-1]) / (0.012 * SAMPLE_RATE))
        out[a:b_] += shaped * ramp * level
    out = out[:n_samples]
    fade = min(len(out) // 4, int(0.02 * SAMPLE_RATE))
    if fade:
        out[-fade:] *= np.linspace(1.0, 0.0, fade)
        out[:fade] *= np.linspace(0.0, 1.0, fade)
    peak = np.max(np.abs(out)) or 1.0
    return out * (0.5 / peak)
