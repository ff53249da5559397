"""The time-frequency plane every explanation is drawn on, and the one way regions of it are removed.

A :class:`TFGrid` is a short-time Fourier transform (Hann window, 75 % overlap, so overlap-add resynthesis is
exact): attribution maps have its (frequency bins, frames) shape. Removing a time-frequency region means zeroing
its STFT cells and resynthesising: a band-stop filter over that time span, or silence when the region spans every
frequency. Occlusion, band importance and the deletion test all remove regions this way, so their numbers compare.

A :class:`CellGrid` cuts the plane into coarse cells (time patches x equal-width frequency bands): the patches
that occlusion masks one at a time and the cells the deletion test removes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal


@dataclass(frozen=True)
class TFGrid:
    """STFT settings: ``n_fft``-sample Hann frames every ``hop`` samples at ``sample_rate`` Hz."""

    sample_rate: int = 16000
    n_fft: int = 512
    hop: int = 128

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def frequencies(self) -> np.ndarray:
        """Centre frequency (Hz) of each bin."""
        return np.arange(self.n_bins) * self.sample_rate / self.n_fft

    def n_frames(self, n_samples: int) -> int:
        return self.stft(np.zeros(n_samples, dtype=np.float32)).shape[1]

    def frame_times(self, n_samples: int) -> np.ndarray:
        """Centre time (s) of each frame."""
        return np.arange(self.n_frames(n_samples)) * self.hop / self.sample_rate

    def stft(self, wave: np.ndarray) -> np.ndarray:
        """(bins, frames) complex STFT of a mono wave."""
        return signal.stft(np.asarray(wave, dtype=np.float64), fs=self.sample_rate, window="hann",
                           nperseg=self.n_fft, noverlap=self.n_fft - self.hop, boundary="zeros", padded=True)[2]

    def istft(self, spec: np.ndarray, n_samples: int) -> np.ndarray:
        """The wave of ``spec`` (overlap-add), cut or zero-padded to ``n_samples``, float32."""
        wave = signal.istft(spec, fs=self.sample_rate, window="hann", nperseg=self.n_fft,
                            noverlap=self.n_fft - self.hop, boundary=True)[1]
        out = np.zeros(n_samples, dtype=np.float32)
        out[:min(n_samples, len(wave))] = wave[:n_samples]
        return out

    def power_db(self, wave: np.ndarray, floor_db: float = -100.0) -> np.ndarray:
        """Power spectrogram in dB (re full scale), floored at ``floor_db``."""
        power = np.abs(self.stft(wave)) ** 2
        return np.maximum(10 * np.log10(power + 1e-20), floor_db)

    def remove(self, wave: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``wave`` with the STFT cells where ``mask`` (bins, frames) is true (or weights in [0, 1]: the
        fraction removed) zeroed and resynthesised."""
        spec = self.stft(wave)
        if mask.shape != spec.shape:
            raise ValueError(f"mask of shape {mask.shape} does not fit the STFT's {spec.shape}")
        return self.istft(spec * (1.0 - mask.astype(np.float64)), len(wave))

    def band_stop(self, wave: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
        """``wave`` with the band [low_hz, high_hz) removed over its whole duration."""
        spec = self.stft(wave)
        freqs = self.frequencies()
        spec[(freqs >= low_hz) & (freqs < high_hz)] = 0
        return self.istft(spec, len(wave))


@dataclass(frozen=True)
class CellGrid:
    """Coarse cells over a :class:`TFGrid`: time patches of ``patch_s`` seconds x ``n_bands`` equal-width bands
    from 0 to the Nyquist frequency."""

    tf: TFGrid
    n_samples: int
    patch_s: float = 0.25
    n_bands: int = 8

    @property
    def band_edges_hz(self) -> np.ndarray:
        return np.linspace(0.0, self.tf.sample_rate / 2, self.n_bands + 1)

    def _frame_bounds(self) -> np.ndarray:
        n_frames = self.tf.n_frames(self.n_samples)
        per_patch = max(1, int(round(self.patch_s * self.tf.sample_rate / self.tf.hop)))
        bounds = list(range(0, n_frames, per_patch)) + [n_frames]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] < per_patch // 2:  # a sliver at the end joins its neighbour
            del bounds[-2]
        return np.asarray(bounds)

    def _bin_bounds(self) -> np.ndarray:
        freqs = self.tf.frequencies()
        bounds = [int(np.searchsorted(freqs, edge)) for edge in self.band_edges_hz[:-1]] + [len(freqs)]
        return np.asarray(bounds)

    @property
    def shape(self) -> tuple[int, int]:
        """(bands, time patches)."""
        return self.n_bands, len(self._frame_bounds()) - 1

    def patch_times_s(self) -> np.ndarray:
        """(patches + 1) patch boundaries in seconds (frame centres, clipped to the wave)."""
        t = self._frame_bounds() * self.tf.hop / self.tf.sample_rate
        return np.minimum(t, self.n_samples / self.tf.sample_rate)

    def cell_mask(self, cells: np.ndarray) -> np.ndarray:
        """(bins, frames) boolean STFT mask of the true entries of a (bands, patches) boolean array."""
        fb, tb = self._bin_bounds(), self._frame_bounds()
        mask = np.zeros((self.tf.n_bins, tb[-1]), dtype=bool)
        for b, p in zip(*np.nonzero(cells)):
            mask[fb[b]:fb[b + 1], tb[p]:tb[p + 1]] = True
        return mask

    def cell_means(self, tf_map: np.ndarray) -> np.ndarray:
        """(bands, patches) means of a (bins, frames) map."""
        fb, tb = self._bin_bounds(), self._frame_bounds()
        out = np.zeros(self.shape)
        for b in range(self.shape[0]):
            for p in range(self.shape[1]):
                out[b, p] = tf_map[fb[b]:fb[b + 1], tb[p]:tb[p + 1]].mean()
        return out

    def expand(self, cells: np.ndarray) -> np.ndarray:
        """A (bands, patches) array spread over the (bins, frames) plane (each cell's value on its pixels)."""
        fb, tb = self._bin_bounds(), self._frame_bounds()
        return np.repeat(np.repeat(cells, np.diff(fb), axis=0), np.diff(tb), axis=1)
