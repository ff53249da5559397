"""Frame classes for time importance: silence (energy far below the file's loudest frames), voiced (periodic:
a strong normalised autocorrelation peak at a pitch lag of 60-400 Hz) and unvoiced (the rest), on the frames of
a :class:`~spoofbench.explain.tf.TFGrid`."""
from __future__ import annotations

import numpy as np

from .tf import TFGrid

SILENCE_DB = -40.0      # frames this far below the loudest frame are silence
VOICED_PEAK = 0.45      # normalised autocorrelation peak above which a frame is voiced
PITCH_HZ = (60.0, 400.0)


def frame_classes(wave: np.ndarray, tf: TFGrid) -> np.ndarray:
    """One label per STFT frame: 0 silence, 1 unvoiced, 2 voiced."""
    n_frames = tf.n_frames(len(wave))
    half = tf.n_fft // 2
    padded = np.pad(np.asarray(wave, dtype=np.float64), (half, half + tf.n_fft))
    frames = np.lib.stride_tricks.sliding_window_view(padded, tf.n_fft)[::tf.hop][:n_frames]
    frames = (frames - frames.mean(axis=1, keepdims=True)) * np.hanning(tf.n_fft)
    energy = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)
    spec = np.fft.rfft(frames, n=2 * tf.n_fft, axis=1)
    acf = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :tf.n_fft]
    lo, hi = int(tf.sample_rate / PITCH_HZ[1]), int(tf.sample_rate / PITCH_HZ[0])
    peak = acf[:, lo:min(hi, tf.n_fft - 1)].max(axis=1) / np.maximum(acf[:, 0], 1e-12)
    classes = np.where(peak >= VOICED_PEAK, 2, 1)
    classes[energy < energy.max() + SILENCE_DB] = 0
    return classes


def trim_silence(wave: np.ndarray, tf: TFGrid) -> np.ndarray:
    """``wave`` without its leading and trailing silent frames (unchanged when every frame is silent)."""
    speech = np.flatnonzero(frame_classes(wave, tf) > 0)
    if speech.size == 0:
        return wave
    start = max(0, speech[0] * tf.hop - tf.n_fft // 2)
    stop = min(len(wave), speech[-1] * tf.hop + tf.n_fft // 2)
    return wave[start:stop] if stop - start >= tf.n_fft else wave


def mask_frames(wave: np.ndarray, tf: TFGrid, frames: np.ndarray) -> np.ndarray:
    """``wave`` with the STFT frames where ``frames`` is true silenced (all frequencies)."""
    mask = np.zeros((tf.n_bins, len(frames)), dtype=bool)
    mask[:, frames] = True
    return tf.remove(wave, mask)
