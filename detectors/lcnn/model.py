"""LFCC-LCNN (the ASVspoof 2021 LA/DF baseline of the NII toolkit, Wang & Yamagishi) as one torch module that
takes waveforms: the LFCC front end runs inside the network, then the LCNN (convolutions with max-feature-map),
two bidirectional LSTM layers, average pooling over time and one linear output, the logit of bona fide.

What the official code does (asvspoof-challenge/2021 ``LA/Baseline-LFCC-LCNN``: ``project/baseline_LA/model.py``
with ``sandbox/util_frontend.py`` ``LFCC`` and ``sandbox/block_nn.py``), as written here:

* LFCC: pre-emphasis ``x[n] - 0.97 x[n-1]`` (``x[0]`` kept); ``torch.stft`` with a 1024-point FFT, hop 160
  (10 ms), a *periodic* Hamming window of 320 samples (20 ms) centred in the 1024-point frame, ``center=True``
  with zero padding of 512 on both sides, so there are ``1 + samples // 160`` frames; power ``|X|^2``; only the
  first ``int(0.5 * 513) = 256`` bins (0-4 kHz) are kept; 20 triangular filters with edges
  ``linspace(0, 4000, 22)`` evaluated on ``linspace(0, 4000, 256)`` (the official axis: bin 255 is labelled
  4000 Hz, not its true 3984.4 Hz); ``log10(. + float32 eps)``; orthonormal DCT-II (20 coefficients); c0 is then
  *replaced* by the log energy ``log10(sum(power of the 256 kept bins) / 1024 + float32 eps)``; deltas
  ``x[t+1] - x[t-1]`` (edges replicated, not divided by 2) and delta-deltas as deltas of the deltas -> 60 dims.
* LCNN (layer indices as the official ``Sequential``): conv 5x5 (64) MFM, maxpool 2; conv 1x1 (64) MFM, BN;
  conv 3x3 (96) MFM; maxpool 2, BN; conv 1x1 (96) MFM, BN; conv 3x3 (128) MFM; maxpool 2; conv 1x1 (128) MFM, BN;
  conv 3x3 (64) MFM, BN; conv 1x1 (64) MFM, BN; conv 3x3 (64) MFM; maxpool 2; dropout 0.7. BatchNorm without
  affine parameters; max-feature-map = the maximum of the two halves of the channels.
* (batch, 32, frames/16, 60/16) -> (batch, frames/16, 96) -> BLSTM -> BLSTM (96 -> 2 x 48 each); the output
  is ``linear(mean_t(blstm(h) + h))``: a residual around the two BLSTM layers, then the mean over time.

Compared with the project's LFCC (``spoofbench.detectors.frontends.lfcc``, the LFCC-GMM front end): the
orthonormal DCT-II agrees (``frontends.dct_matrix`` is reused) and so do the unnormalised deltas with replicated
edges (``frontends.deltas(x, 1, normalize=False)``, the 2019 preset; written again in torch here, tested equal),
and the 0.97 pre-emphasis (2019 preset). They differ in the window (periodic Hamming here, symmetric
``np.hamming`` there), the framing (centred frames with zero padding here; MATLAB ``buffer`` frames from sample 0
there), the FFT size (1024; the 2019 preset has 512), the filter bank's frequency axis (the official 0-4 kHz axis
stretched over 256 bins here; true bin frequencies there), the log floor (float32 eps 1.2e-7 here; MATLAB's
2.2e-16 there) and c0 (replaced by log energy here; kept there). So the front end is the official one, in torch.

Layer names are ours (``lcnn.<i>`` keeps the official index ``m_transform.0.<i>``); ``official.py`` maps the
official ``state_dict`` keys. Parameters: 269,729 learned (the official count of ``requires_grad`` tensors);
the official model also stores the filter bank, the DCT matrix and four unused normalisation scalars as
frozen parameters (275,253 in all); here the filter bank and the DCT are non-persistent buffers.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..frontends import dct_matrix

#: float32 machine epsilon, the official log floor (``torch.finfo(torch.float32).eps``)
FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


@dataclass(frozen=True)
class LCNNConfig:
    """Architecture of the LFCC-LCNN (the defaults are the ASVspoof 2021 LA/DF baseline)."""

    sample_rate: int = 16000
    frame_length: int = 320      # 20 ms
    frame_shift: int = 160       # 10 ms
    n_fft: int = 1024
    n_filters: int = 20
    max_freq: float = 0.5        # fraction of Nyquist kept (0.5: 0-4 kHz at 16 kHz)
    pre_emphasis: float = 0.97
    with_energy: bool = True     # c0 replaced by the log energy
    #: output channels of the nine convolutions (each max-feature-map halves them)
    channels: tuple = (64, 64, 96, 96, 128, 128, 64, 64, 64)
    dropout: float = 0.7

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if len(self.channels) != 9 or any(c < 2 or c % 2 for c in self.channels):
            raise ValueError(f"channels must be nine even integers >= 2, got {self.channels!r}")
        if not 0 < self.max_freq <= 1:
            raise ValueError(f"max_freq must be in (0, 1], got {self.max_freq!r}")
        if self.frame_length > self.n_fft:
            raise ValueError("frame_length must not exceed n_fft")
        if 3 * self.n_filters < 16:
            raise ValueError("n_filters must be at least 6 (four 2x poolings of the 3 x n_filters features)")

    @property
    def feature_dim(self) -> int:
        return 3 * self.n_filters

    @property
    def embedding_dim(self) -> int:
        """Width of the BLSTM input: last channels / 2 times the feature axis after four 2x poolings."""
        return self.channels[-1] // 2 * (self.feature_dim // 16)

    @property
    def min_samples(self) -> int:
        """Shortest input with at least one frame after the four 2x poolings (16 frames)."""
        return 15 * self.frame_shift

    def to_dict(self) -> dict:
        return asdict(self)


# ---- LFCC front end ---------------------------------------------------------------------------------------

def official_filterbank(n_bins: int, sample_rate: float, n_filters: int, max_freq: float) -> np.ndarray:
    """``(n_bins, n_filters)`` triangular filters on the official frequency axis ``(sr/2) * linspace(0, max_freq,
    n_bins)``, edges ``linspace(0, sr/2 * max_freq, n_filters + 2)``, peak 1 (MATLAB ``trimf``)."""
    freqs = (sample_rate / 2) * np.linspace(0.0, max_freq, n_bins)
    edges = np.linspace(freqs[0], freqs[-1], n_filters + 2)
    fb = np.zeros((n_bins, n_filters))
    for i in range(n_filters):
        a, b, c = edges[i:i + 3]
        rise = (freqs - a) / (b - a)
        fall = (c - freqs) / (c - b)
        fb[:, i] = np.clip(np.minimum(rise, fall), 0.0, None)
    return fb


def deltas(x: torch.Tensor) -> torch.Tensor:
    """``x[t+1] - x[t-1]`` along time (dim 1) with the edge frames replicated (not divided by 2)."""
    padded = torch.cat([x[:, :1], x, x[:, -1:]], dim=1)
    return padded[:, 2:] - padded[:, :-2]


class LFCC(nn.Module):
    """(batch, samples) waveforms -> (batch, 1 + samples // shift, 3 * n_filters) LFCC + deltas + delta-deltas,
    the official definition (module docstring). Nothing here is learned."""

    def __init__(self, cfg: LCNNConfig):
        super().__init__()
        self.cfg = cfg
        self.n_bins = int(cfg.max_freq * (cfg.n_fft // 2 + 1))
        fb = official_filterbank(self.n_bins, cfg.sample_rate, cfg.n_filters, cfg.max_freq)
        self.register_buffer("filterbank", torch.tensor(fb, dtype=torch.float32), persistent=False)
        dct_t = dct_matrix(cfg.n_filters, cfg.n_filters).T
        self.register_buffer("dct", torch.tensor(dct_t, dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hamming_window(cfg.frame_length, periodic=True), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        x = x.float()
        if cfg.pre_emphasis:
            x = torch.cat([x[:, :1], x[:, 1:] - cfg.pre_emphasis * x[:, :-1]], dim=1)
        if torch.onnx.is_in_onnx_export():  # ONNX export: the STFT as a convolution (no complex tensors there)
            power = self._power_by_convolution(x)
        else:
            spec = torch.stft(x, cfg.n_fft, cfg.frame_shift, cfg.frame_length, window=self.window, center=True,
                              pad_mode="constant", onesided=True, return_complex=True)
            power = (spec.real.square() + spec.imag.square()).transpose(1, 2)[:, :, :self.n_bins]
        cep = torch.log10(power @ self.filterbank + FLOAT32_EPS) @ self.dct
        if cfg.with_energy:
            energy = torch.log10(power.sum(dim=2) / cfg.n_fft + FLOAT32_EPS)
            cep = torch.cat([energy.unsqueeze(2), cep[:, :, 1:]], dim=2)
        d1 = deltas(cep)
        return torch.cat([cep, d1, deltas(d1)], dim=2)

    def _power_by_convolution(self, x: torch.Tensor) -> torch.Tensor:
        """The first ``n_bins`` bins of ``|stft|^2`` above (centred, zero-padded frames; the window centred in
        ``n_fft``) as one strided convolution with windowed cosine and sine kernels: (batch, frames, n_bins)."""
        cfg = self.cfg
        left = (cfg.n_fft - cfg.frame_length) // 2   # torch.stft centres the shorter window in n_fft
        n = torch.arange(cfg.frame_length, dtype=torch.float64) + left
        angle = 2 * math.pi * torch.arange(self.n_bins, dtype=torch.float64)[:, None] * n[None, :] / cfg.n_fft
        window = self.window.double()[None, :]
        kernels = torch.cat([torch.cos(angle) * window, torch.sin(angle) * window]).float().unsqueeze(1)
        # frame k reads samples [k * shift - lead, k * shift - lead + frame_length); padding the end by
        # frame_length - lead gives exactly the stft's 1 + samples // shift frames, for any length
        lead = cfg.n_fft // 2 - left
        padded = F.pad(x, (lead, cfg.frame_length - lead))[:, None]
        parts = F.conv1d(padded, kernels.to(x.device), stride=cfg.frame_shift)
        return (parts[:, :self.n_bins].square() + parts[:, self.n_bins:].square()).transpose(1, 2)


# ---- network ----------------------------------------------------------------------------------------------

class MaxFeatureMap(nn.Module):
    """The element-wise maximum of the first and second halves of the channels (dim 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = int(x.shape[1]) // 2  # a constant under ONNX export, so the channel count stays known
        return torch.maximum(x[:, :half], x[:, half:2 * half])


class BLSTM(nn.Module):
    """A bidirectional LSTM over (batch, time, dim) keeping the width (dim // 2 per direction)."""

    def __init__(self, dim: int):
        super().__init__()
        self.lstm = nn.LSTM(dim, dim // 2, bidirectional=True, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


def lcnn_layers(channels: tuple, dropout: float) -> nn.Sequential:
    """The official 29-layer LCNN ``Sequential`` for nine convolution widths (the official: 64, 64, 96, 96, 128,
    128, 64, 64, 64), in the official order, so ``lcnn[i]`` is the official ``m_transform[0][i]``."""
    c = channels
    h = [n // 2 for n in c]  # widths after each max-feature-map

    def conv(c_in, c_out, k):
        return nn.Conv2d(c_in, c_out, k, 1, padding=k // 2)

    def bn(n):
        return nn.BatchNorm2d(n, affine=False)

    return nn.Sequential(
        conv(1, c[0], 5), MaxFeatureMap(), nn.MaxPool2d(2, 2),
        conv(h[0], c[1], 1), MaxFeatureMap(), bn(h[1]), conv(h[1], c[2], 3), MaxFeatureMap(),
        nn.MaxPool2d(2, 2), bn(h[2]),
        conv(h[2], c[3], 1), MaxFeatureMap(), bn(h[3]), conv(h[3], c[4], 3), MaxFeatureMap(),
        nn.MaxPool2d(2, 2),
        conv(h[4], c[5], 1), MaxFeatureMap(), bn(h[5]), conv(h[5], c[6], 3), MaxFeatureMap(), bn(h[6]),
        conv(h[6], c[7], 1), MaxFeatureMap(), bn(h[7]), conv(h[7], c[8], 3), MaxFeatureMap(), nn.MaxPool2d(2, 2),
        nn.Dropout(dropout),
    )


class LCNNModel(nn.Module):
    """(batch, samples) float waveforms -> (batch,) logits of bona fide (sigmoid = P(bona fide))."""

    def __init__(self, cfg: LCNNConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or LCNNConfig()
        self.frontend = LFCC(cfg)
        self.lcnn = lcnn_layers(cfg.channels, cfg.dropout)
        self.blstm = nn.Sequential(BLSTM(cfg.embedding_dim), BLSTM(cfg.embedding_dim))
        self.out = nn.Linear(cfg.embedding_dim, 1)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, frames, dims) LFCC -> (batch, frames // 16, embedding_dim), the BLSTM input."""
        h = self.lcnn(features.unsqueeze(1))            # (batch, channels, frames', dims')
        return h.permute(0, 2, 1, 3).flatten(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] < self.cfg.min_samples:  # too short for four 2x poolings: zero-pad, as a batch pads
            x = F.pad(x, (0, self.cfg.min_samples - x.shape[1]))
        # the front end has nothing to learn (the official runs it without gradients) unless the waveform itself
        # asks for one (input attributions, spoofbench.explain); always float32: under bfloat16 autocast the
        # filter bank product would lose the log spectrum's low bits
        with torch.set_grad_enabled(torch.is_grad_enabled() and x.requires_grad), \
                torch.autocast(x.device.type, enabled=False):
            features = self.frontend(x)
        h = self.embed(features)
        return self.out((self.blstm(h) + h).mean(dim=1)).squeeze(1)
