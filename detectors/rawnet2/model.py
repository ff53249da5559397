"""RawNet2 (Tak et al., ICASSP 2021; ASVspoof 2021 and ASVspoof 5 baselines) as one configurable module.

The layer names are the official ones, so an official ``state_dict`` loads without renaming:
``first_bn``, ``block{0..5}.0.{bn1,conv1,bn2,conv2,conv_downsample}``, ``fc_attention{0..5}.0``,
``bn_before_gru``, ``gru``, ``fc1_gru``, ``fc2_gru``. The fixed sinc filters are not learned and, as in
the official code, are not in the state_dict (they live in a non-persistent buffer, rebuilt from the config).

Differences from the official code are speed only, never numbers (float32 outputs agree within 1e-5):
the filters are built once in float64 instead of in numpy on every forward, the 1025-tap band-pass
convolution runs by overlap-save FFT, on CPU the wide residual convolutions take their gradients by matrix
products (``conv.py``), and the GRU runs as one autograd node whose backward computes the weight gradients
with one matrix product per layer instead of one per time step. CPU
inference also keeps the packed recurrent weights (oneDNN's layout, else MKL's) between calls.

Importing or building the model changes nothing outside it (no allocator settings: those belong to the engine,
``spoofbench.detectors.neural.memory``), so the network can be traced or exported like any ``nn.Module``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .conv import conv3_channels_last
from .gru import PACKED_GEMM, PackedWeightCache, gru_layer, gru_layer_inference

#: Eval mode runs the convolutional part a few utterances at a time (BatchNorm then uses running statistics,
#: so utterances are independent): as many as keep the front end's output map under this many bytes, at most
#: ``INFERENCE_CHUNK_MAX``. Measured on 2 cores: the 2021 model (1.7 MB per utterance) is fastest 8 at a time
#: (at batch 32, 16 or 32 at a time are no faster in float32 and 8-16% slower in bfloat16), the ICASSP 2021
#: model (11 MB per utterance) 2 at a time (about 10% faster than 8).
INFERENCE_CHUNK_BYTES = 24 << 20
INFERENCE_CHUNK_MAX = 8

#: Above this many taps the FFT convolution beats the direct one on CPU (measured; see ``bench perf rawnet2``).
FFT_MIN_TAPS = 256


@dataclass(frozen=True)
class RawNet2Config:
    """Architecture of one RawNet2 variant (the defaults are the ASVspoof 2021 baseline)."""

    sinc_filters: int = 20
    sinc_taps: int = 1025            # forced odd, as the official code does with its 1024
    sinc_edges: str = "2021"         # "2021": N+1 Mel edges over 0..fs/2; "icassp21": first N+1 of N+3
    learnable_sinc: bool = False     # SincNet-style learnable low cut-off and bandwidth
    block_channels: tuple = (20, 128)  # blocks 0-1, blocks 2-5
    gru_hidden: int = 1024
    gru_layers: int = 3
    fc_hidden: int = 1024
    raw_input_conv1: bool = True     # the 2021 baseline's quirk: conv1 reads the raw block input
    sample_rate: int = 16000

    def __post_init__(self):
        object.__setattr__(self, "block_channels", tuple(int(c) for c in self.block_channels))
        if self.sinc_taps % 2 == 0:  # symmetric filters need an odd length, as in the official SincConv
            object.__setattr__(self, "sinc_taps", self.sinc_taps + 1)
        if self.sinc_edges not in ("2021", "icassp21"):
            raise ValueError(f"sinc_edges must be '2021' or 'icassp21', got {self.sinc_edges!r}")

    def to_dict(self) -> dict:
        return asdict(self)


#: The published variants (parameter counts: 17,621,410 / 25,433,602 / 17,621,410).
VARIANTS = {
    "2021": RawNet2Config(),
    "icassp21": RawNet2Config(sinc_filters=128, sinc_taps=129, sinc_edges="icassp21", block_channels=(128, 512),
                              raw_input_conv1=False),
    "asvspoof5": RawNet2Config(raw_input_conv1=False),
}
#: Input length (samples) each variant was trained and scored with.
VARIANT_SAMPLES = {"2021": 64600, "icassp21": 64600, "asvspoof5": 64000}


# ---- sinc front end ------------------------------------------------------------------------------
def max_of_phases(phases: torch.Tensor, dim: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """Elementwise maximum over axis ``dim`` of a strided view that holds the phases of a max-pool window
    (e.g. (..., T // 3, 3)), into ``out`` if given: ~5x faster on CPU than ``amax``, and unlike ``max_pool``
    it keeps no argmax indices."""
    if phases.shape[dim] == 1:
        return phases.select(dim, 0).clone() if out is None else out.copy_(phases.select(dim, 0))
    result = torch.maximum(phases.select(dim, 0), phases.select(dim, 1), out=out)
    for k in range(2, phases.shape[dim]):
        torch.maximum(result, phases.select(dim, k), out=result)
    return result


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_band_edges(n_filters: int, sample_rate: int = 16000, layout: str = "2021") -> np.ndarray:
    """The ``n_filters + 1`` band edges (Hz, float64) of the official Mel-spaced sinc filters.

    Both layouts start from the mel values of a 257-point (NFFT 512) grid over 0..fs/2. "2021" spaces
    N+1 points over the whole range; "icassp21" spaces N+3 and keeps the first N+1, so its top band
    stops below fs/2 (7669 Hz at 16 kHz for N = 128)."""
    grid = (sample_rate // 2) * np.linspace(0.0, 1.0, 257)
    mel = hz_to_mel(grid)
    if layout == "2021":
        return mel_to_hz(np.linspace(mel.min(), mel.max(), n_filters + 1))
    if layout == "icassp21":
        return mel_to_hz(np.linspace(mel.min(), mel.max(), n_filters + 3))[: n_filters + 1]
    raise ValueError(f"unknown sinc edge layout {layout!r}")


def sinc_bandpass(low_hz: np.ndarray, high_hz: np.ndarray, taps: int, sample_rate: int) -> np.ndarray:
    """Hamming-windowed ideal band-pass filters, one row per (low, high) pair, in float64:
    h[n] = w[n] (2 f2/fs sinc(2 f2 n/fs) - 2 f1/fs sinc(2 f1 n/fs)), n = -(K-1)/2 .. (K-1)/2."""
    n = np.arange(taps, dtype=np.float64) - (taps - 1) / 2
    low = np.asarray(low_hz, dtype=np.float64)[:, None]
    high = np.asarray(high_hz, dtype=np.float64)[:, None]
    ideal = 2 * high / sample_rate * np.sinc(2 * high * n / sample_rate) \
        - 2 * low / sample_rate * np.sinc(2 * low * n / sample_rate)
    return np.hamming(taps)[None, :] * ideal


def fft_block_size(taps: int) -> int:
    """Overlap-save FFT length for a ``taps``-tap filter: the power of two nearest 8x the filter, at least 4096
    (measured best on CPU: 8192 for 1025 taps on 64,600 samples is 20% faster than 16384, which pads 5 blocks
    of 15,360 outputs to 76,800 for 63,576 needed)."""
    return 1 << max(12, round(math.log2(8 * taps)))


def fft_correlate(x: torch.Tensor, filters: torch.Tensor, block: int | None = None,
                  kernel_spectrum: torch.Tensor | None = None) -> torch.Tensor:
    """``F.conv1d(x, filters)`` (valid cross-correlation, one input channel) by overlap-save FFT.

    x: (B, 1, T); filters: (C, 1, K). Returns (B, C, T - K + 1). Blocks of ``block`` samples keep each
    FFT in cache; the cost grows like log(block) per output sample instead of like K.
    ``kernel_spectrum``: the precomputed ``filter_spectrum(filters, block)``."""
    batch, _, length = x.shape
    n_out_ch, _, taps = filters.shape
    out_len = length - taps + 1
    if out_len < 1:
        raise ValueError(f"input of {length} samples is shorter than the {taps}-tap sinc filters")
    block = block or fft_block_size(taps)
    hop = block - taps + 1                       # valid outputs per block
    n_blocks = -(-out_len // hop)
    sig = F.pad(x[:, 0], (0, (n_blocks - 1) * hop + block - length))
    spec = torch.fft.rfft(sig.unfold(-1, block, hop), n=block)      # (B, n_blocks, F)
    if kernel_spectrum is None:
        kernel_spectrum = filter_spectrum(filters, block)
    prod = spec.unsqueeze(1) * kernel_spectrum[None, :, None, :]      # (B, C, n_blocks, F)
    out = torch.fft.irfft(prod, n=block)[..., taps - 1:]              # (B, C, n_blocks, hop)
    return out.reshape(batch, n_out_ch, n_blocks * hop)[..., :out_len]


def filter_spectrum(filters: torch.Tensor, block: int) -> torch.Tensor:
    """Spectrum of the time-reversed filters (correlation = convolution with the reversed filter)."""
    return torch.fft.rfft(filters[:, 0].flip(-1), n=block)


#: Largest intermediate (bytes) of the chunked front end: small enough that the allocator reuses memory
#: instead of mapping fresh pages for every tensor (page faults cost more than the arithmetic here).
FRONT_END_CHUNK_BYTES = 8 << 20


class SincFrontEnd(nn.Module):
    """Band-pass filter bank on the raw waveform (official SincConv: stride 1, no padding, no bias).

    Fixed (default, as published): filters built once in float64, cast, kept in a non-persistent buffer.
    Learnable: SincNet-style parameters ``low_hz_`` and ``band_hz_`` (Hz, initialised at the Mel edges so
    that the untrained bank equals the fixed one); filters rebuilt differentiably on every forward."""

    def __init__(self, n_filters: int, taps: int, sample_rate: int = 16000, layout: str = "2021",
                 learnable: bool = False, use_fft: bool | None = None):
        super().__init__()
        self.n_filters, self.taps, self.sample_rate, self.learnable = n_filters, taps, sample_rate, learnable
        self.use_fft = taps >= FFT_MIN_TAPS if use_fft is None else use_fft
        edges = mel_band_edges(n_filters, sample_rate, layout)
        self.register_buffer("band_edges_hz", torch.from_numpy(edges), persistent=False)
        if learnable:
            self.low_hz_ = nn.Parameter(torch.from_numpy(edges[:-1]).float())
            self.band_hz_ = nn.Parameter(torch.from_numpy(np.diff(edges)).float())
            n = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
            self.register_buffer("_taps_index", n, persistent=False)
            self.register_buffer("_window", torch.from_numpy(np.hamming(taps)), persistent=False)
        else:
            fixed = sinc_bandpass(edges[:-1], edges[1:], taps, sample_rate)
            self.register_buffer("filters", torch.from_numpy(fixed).float().unsqueeze(1), persistent=False)

    def current_filters(self) -> torch.Tensor:
        """(C, 1, K) float32 filters; for the learnable bank, differentiable w.r.t. its parameters."""
        if not self.learnable:
            return self.filters
        fs = self.sample_rate
        low = self.low_hz_.abs().double()[:, None]
        high = torch.clamp(low + self.band_hz_.abs().double()[:, None], max=fs / 2)
        n = self._taps_index[None, :]
        ideal = 2 * high / fs * torch.sinc(2 * high * n / fs) - 2 * low / fs * torch.sinc(2 * low * n / fs)
        return (self._window[None, :] * ideal).float().unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T) -> (B, C, T - K + 1), differentiable (for the learnable bank or an input gradient)."""
        filters = self.current_filters()
        if self.use_fft and not torch.onnx.is_in_onnx_export():  # ONNX has no FFT op the exporter maps to
            return fft_correlate(x.float(), filters).to(x.dtype)
        return F.conv1d(x, filters.to(x.dtype))

    def _derived(self, key: tuple, build):
        """A tensor derived from the fixed filters (FFT spectrum, Toeplitz matrix), built once per ``key`` and
        per filter tensor (moving the module to another device makes new filters)."""
        cache = self.__dict__.setdefault("_derived_cache", {})
        key = (*key, str(self.filters.device), self.filters.data_ptr())
        if key not in cache:
            if len(cache) >= 8:  # a few block sizes / phases / dtypes; never grows without bound
                cache.clear()
            cache[key] = build()
        return cache[key]

    def _spectrum(self, block: int) -> torch.Tensor:
        return self._derived(("spectrum", block), lambda: filter_spectrum(self.filters, block))

    @torch.no_grad()
    def abs_pooled(self, x: torch.Tensor, pool: int = 3) -> torch.Tensor:
        """``max_pool1d(|forward(x)|, pool)`` without a gradient (only for the fixed bank), in chunks so that no
        intermediate exceeds ``FRONT_END_CHUNK_BYTES``. The (B, C, T') result is stored time-major, so
        ``.unsqueeze(2)`` of it is a channels-last map."""
        batch, _, length = x.shape
        out_len = length - self.taps + 1
        if out_len < pool:
            raise ValueError(f"input of {length} samples is too short for the {self.taps}-tap sinc filters "
                             f"and max-pool {pool} (at least {self.taps + pool - 1})")
        x = x.to(self.filters.dtype)
        if not self.use_fft and x.device.type == "cpu":
            # short filters: one float32 GEMM, 15-20% faster than oneDNN's conv + transposed copy
            return self.abs_pooled_gemm(x, torch.float32, pool, phases=16)
        out = x.new_empty(batch, out_len // pool, self.n_filters)  # stored time-major: channels-last maps
        if self.use_fft:
            self._fft_abs_pooled(x, out, pool)
        else:
            self._direct_abs_pooled(x, out, pool)
        return out.transpose(1, 2)

    def _fft_abs_pooled(self, x: torch.Tensor, out: torch.Tensor, pool: int) -> None:
        """Overlap-save FFT whose hop is a multiple of ``pool``: each block's valid outputs are pooled where
        they lie, so no block is copied out and re-joined first (about 10% faster than pooling the
        joined signal). A few rows at a time keep the (rows, C, blocks, block) output near 8 MB."""
        batch, _, length = x.shape
        n_pooled = out.shape[1]
        block = fft_block_size(self.taps)
        hop = (block - self.taps + 1) // pool * pool
        n_blocks = -(-n_pooled * pool // hop)
        sig = F.pad(x[:, 0], (0, max(0, (n_blocks - 1) * hop + block - length)))
        spec = torch.fft.rfft(sig.unfold(-1, block, hop)[:, :n_blocks], n=block)  # (B, blocks, bins)
        kernel = self._spectrum(block)[None, :, None, :]
        rows = batch if x.device.type != "cpu" else \
            max(1, FRONT_END_CHUNK_BYTES // (self.n_filters * n_blocks * block * 4))
        for r in range(0, batch, rows):
            y = torch.fft.irfft(spec[r:r + rows, None] * kernel, n=block).abs_()  # (b, C, blocks, block)
            pooled = max_of_phases(y[..., self.taps - 1:self.taps - 1 + hop].unflatten(-1, (hop // pool, pool)), -1)
            out[r:r + rows] = pooled.flatten(2)[..., :n_pooled].transpose(1, 2)

    def _direct_abs_pooled(self, x: torch.Tensor, out: torch.Tensor, pool: int) -> None:
        """Direct convolution (short filters, GPU: big kernels, and a caching allocator)."""
        y = F.max_pool1d(F.conv1d(x, self.filters).abs_(), pool)
        out.copy_(y.transpose(1, 2))

    @torch.no_grad()
    def abs_pooled_gemm(self, x: torch.Tensor, dtype=torch.bfloat16, pool: int = 3,
                        phases: int = 64) -> torch.Tensor:
        """``abs_pooled`` with the filter bank as one GEMM in ``dtype``. Output blocks of ``phases`` samples are
        (frame of K + phases - 1 inputs) @ (a Toeplitz matrix of the filters): the direct convolution's
        arithmetic plus (phases - 1) / K, in one product that keeps the matrix units busy, with time-major
        (channels-last) float32 output and no transpose. bfloat16 (fast inference, 64 phases): relative error
        ~4e-3; float32 (short filters, 16 phases): the convolution's numbers."""
        batch, _, length = x.shape
        taps, n_filters = self.taps, self.n_filters
        out_len = length - taps + 1
        span = taps + phases - 1
        toeplitz = self._toeplitz(phases, dtype)
        n_frames = -(-out_len // phases)
        sig = F.pad(x[:, 0].to(dtype), (0, (n_frames - 1) * phases + span - length))
        rows = max(1, FRONT_END_CHUNK_BYTES // (n_frames * phases * n_filters * toeplitz.element_size()))
        # float32 result (time-major): the BatchNorm and SELU after it run ~3x faster in float32 than in bfloat16
        out = x.new_empty(batch, out_len // pool, n_filters, dtype=torch.float32)
        for r in range(0, batch, rows):
            frames = sig[r:r + rows].unfold(-1, span, phases)                       # (b, frames, span)
            y = (frames.reshape(-1, span) @ toeplitz).view(len(frames), n_frames * phases, n_filters)
            y = y[:, :out_len // pool * pool].abs_().view(len(frames), -1, pool, n_filters)
            max_of_phases(y, 2, out=out[r:r + rows])
        return out.transpose(1, 2)

    def _toeplitz(self, phases: int, dtype) -> torch.Tensor:
        def build():
            taps, n_filters = self.taps, self.n_filters
            bank = self.filters[:, 0].t().double()                                  # (K, C)
            mat = self.filters.new_zeros(taps + phases - 1, phases, n_filters, dtype=torch.float64)
            for p in range(phases):
                mat[p:p + taps, p] = bank
            return mat.reshape(taps + phases - 1, phases * n_filters).to(dtype)
        return self._derived(("toeplitz", phases, dtype), build)

    def extra_repr(self) -> str:
        return f"{self.n_filters} filters x {self.taps} taps, learnable={self.learnable}, fft={self.use_fft}"


# ---- residual blocks -----------------------------------------------------------------------------
# Feature maps travel as (batch, channels, 1, frames) tensors in channels-last memory, i.e. stored as
# (batch, frames, channels): oneDNN's convolutions are 2-3x faster in that layout for these thin
# (20-128 channel) maps, and the GRU then reads the frames without a transpose copy. The modules keep
# the official Conv1d / BatchNorm parameter shapes (BatchNorm2d has BatchNorm1d's keys and shapes).

def conv(layer: nn.Conv1d, x: torch.Tensor, weight=None, bias=None) -> torch.Tensor:
    """Apply a Conv1d layer (or the given weight/bias of its shape) to a (B, C, 1, T) map."""
    weight = layer.weight if weight is None else weight
    bias = layer.bias if bias is None else bias
    if layer.kernel_size[0] == 3 and layer.padding[0] == 1 and not torch.onnx.is_in_onnx_export():
        return conv3_channels_last(x, weight, bias)
    return F.conv2d(x, weight.unsqueeze(2), bias, padding=(0, layer.padding[0]))


def pool_frames(x: torch.Tensor, pool: int = 3) -> torch.Tensor:
    """``F.max_pool2d(x, (1, pool))`` of a (B, C, 1, T) channels-last map, without a gradient: elementwise
    maxima of the ``pool`` phases of the (B, T, C) storage. No argmax indices are kept (CPU max_pool2d computes
    them even without autograd), and bfloat16 avoids ATen's slow pooling kernel: measured 2-4x faster."""
    batch, channels, _, frames = x.shape
    kept = frames // pool
    phases = x.permute(0, 2, 3, 1)[:, 0, :kept * pool].reshape(batch, kept, pool, channels)  # a view if channels-last
    return max_of_phases(phases, 2).unsqueeze(1).permute(0, 3, 1, 2)  # (B, C, 1, T // pool), channels-last


def as_map(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T) -> (B, C, 1, T) channels-last."""
    return x.unsqueeze(2).contiguous(memory_format=torch.channels_last)


class ResidualBlock(nn.Module):
    """[BN -> LeakyReLU(0.3)] -> conv3 -> BN -> LeakyReLU -> conv3, + shortcut (1x1 conv when the channel
    count changes), max-pool 3. ``raw_input_conv1`` reproduces the 2021 baseline, whose conv1 reads the
    raw block input (bn1 is computed in training only for its running statistics, then thrown away)."""

    def __init__(self, in_ch: int, out_ch: int, first: bool = False, raw_input_conv1: bool = False):
        super().__init__()
        self.first, self.raw_input_conv1 = first, raw_input_conv1
        if not first:
            self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv1d(in_ch, out_ch, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv1d(out_ch, out_ch, kernel_size=3, padding=1)
        if in_ch != out_ch:
            self.conv_downsample = nn.Conv1d(in_ch, out_ch, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C_in, 1, T) -> (B, C_out, 1, T // 3)."""
        if self.first:
            out = x
        elif self.raw_input_conv1:
            if self.training:
                self.bn1(x)  # the official code computes it (its running stats move) and discards it
            out = x
        else:
            out = F.leaky_relu(self.bn1(x), 0.3)
        out = conv(self.conv2, F.leaky_relu(self.bn2(conv(self.conv1, out)), 0.3, inplace=True))
        identity = conv(self.conv_downsample, x) if hasattr(self, "conv_downsample") else x
        return F.max_pool2d(out + identity, (1, 3))

    @torch.no_grad()
    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode forward without autograd: bn2 folded into conv1, in-place activations (same numbers
        up to float rounding, fewer passes over memory)."""
        if self.first or self.raw_input_conv1:
            out = x
        else:
            out = F.leaky_relu(batch_norm_affine(x, self.bn1), 0.3, inplace=True)
        scale, shift = bn_scale_shift(self.bn2)
        out = conv(self.conv1, out, self.conv1.weight * scale[:, None, None], self.conv1.bias * scale + shift)
        out = conv(self.conv2, F.leaky_relu(out, 0.3, inplace=True))
        out += conv(self.conv_downsample, x) if hasattr(self, "conv_downsample") else x
        return pool_frames(out)


def bn_scale_shift(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as y = x * scale + shift (per channel)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def batch_norm_affine(x: torch.Tensor, bn, inplace: bool = False) -> torch.Tensor:
    """Eval-mode BatchNorm of a (B, C, 1, T) map, optionally in place."""
    scale, shift = bn_scale_shift(bn)
    out = x if inplace else x.clone(memory_format=torch.channels_last)
    return out.mul_(scale[:, None, None].to(x.dtype)).add_(shift[:, None, None].to(x.dtype))


class RawNet2Model(nn.Module):
    """RawNet2. ``forward(x)`` takes (batch, samples) float waveforms and returns (batch, 2) logits
    [spoof, bona fide]; ``log_softmax`` of them equals the 2021 baseline's output."""

    def __init__(self, config: RawNet2Config | None = None, **overrides):
        super().__init__()
        cfg = config or RawNet2Config()
        if overrides:
            cfg = RawNet2Config(**{**cfg.to_dict(), **overrides})
        self.config = cfg
        c_sinc, (c_low, c_high) = cfg.sinc_filters, cfg.block_channels
        self.sinc_conv = SincFrontEnd(c_sinc, cfg.sinc_taps, cfg.sample_rate, cfg.sinc_edges, cfg.learnable_sinc)
        self.first_bn = nn.BatchNorm2d(c_sinc)
        ins = [c_sinc, c_low, c_low, c_high, c_high, c_high]
        outs = [c_low, c_low, c_high, c_high, c_high, c_high]
        for i, (ci, co) in enumerate(zip(ins, outs)):
            # nn.Sequential wrappers keep the official key names block{i}.0.* and fc_attention{i}.0.*
            setattr(self, f"block{i}", nn.Sequential(ResidualBlock(ci, co, first=i == 0,
                                                                   raw_input_conv1=cfg.raw_input_conv1)))
            setattr(self, f"fc_attention{i}", nn.Sequential(nn.Linear(co, co)))
        self.bn_before_gru = nn.BatchNorm2d(c_high)
        self.gru = nn.GRU(c_high, cfg.gru_hidden, num_layers=cfg.gru_layers, batch_first=True)
        self.fc1_gru = nn.Linear(cfg.gru_hidden, cfg.fc_hidden)
        self.fc2_gru = nn.Linear(cfg.fc_hidden, 2)
        #: "auto": the fused GRU on CPU in float32, nn.GRU otherwise (cuDNN, bf16, quantised); "fused" /
        #: "native" force one.
        self.gru_impl = "auto"
        # inference: packed recurrent weights (oneDNN or MKL layout, see gru.step_linear)
        self._packed_gru_weights = PackedWeightCache()

    def _stages(self):
        """(block, attention) pairs in order (they are attributes for the official key names)."""
        for i in range(6):
            yield getattr(self, f"block{i}")[0], getattr(self, f"fc_attention{i}")

    def _front_end(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) waveforms -> (B, C, 1, T') = max_pool(|sinc(x)|, 3) as a channels-last map."""
        x = x.unsqueeze(1)
        if self.sinc_conv.learnable or x.requires_grad or torch.onnx.is_in_onnx_export():
            return as_map(F.max_pool1d(self.sinc_conv(x).abs(), 3))
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and not torch.is_grad_enabled():
            # fast inference: the filter bank as one bfloat16 matrix product
            return self.sinc_conv.abs_pooled_gemm(x, torch.get_autocast_dtype("cpu")).unsqueeze(2)
        return self.sinc_conv.abs_pooled(x).unsqueeze(2)  # fixed filters: nothing to differentiate

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The fc1 output (the ASVspoof 5 baseline's 1024-d embedding)."""
        if x.dim() != 2:
            raise ValueError(f"expected (batch, samples) waveforms, got shape {tuple(x.shape)}")
        if not self.training and not torch.is_grad_enabled() and not torch.onnx.is_in_onnx_export():
            return self._embed_inference(x)  # (ONNX export traces the plain layers below: no chunks, caches)
        # in-place activations where the producer's backward does not need its output (BatchNorm)
        x = F.selu(self.first_bn(self._front_end(x)), inplace=True)
        for block, attention in self._stages():
            x = block(x)
            # filter-wise feature map scaling: x*y + y with y = sigmoid(FC(mean over time))
            y = torch.sigmoid(attention(x.mean(dim=(2, 3))))[:, :, None, None]  # (not len(x): traced as a constant)
            x = torch.addcmul(y, x, y)
        x = F.selu(self.bn_before_gru(x), inplace=True)
        return self.fc1_gru(self._gru_last(x[:, :, 0].transpose(1, 2)))  # (batch, frames, channels)

    @torch.no_grad()
    def _embed_inference(self, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode ``embed`` without autograd: chunked front end, folded BatchNorm, in-place ops. Eval-mode
        BatchNorm treats every utterance alone, so the convolutional part runs a few utterances at a time
        (small intermediates stay in cache and reuse freed memory); the GRU then takes the whole batch."""
        frames = [self._conv_features(part) for part in x.split(self._inference_chunk(x.shape[1]))]
        return self.fc1_gru(self._gru_last(torch.cat(frames) if len(frames) > 1 else frames[0]))

    def _inference_chunk(self, n_samples: int) -> int:
        """Utterances per chunk of the convolutional part in eval mode (see ``INFERENCE_CHUNK_BYTES``)."""
        map_bytes = max(1, (n_samples - self.sinc_conv.taps + 1) // 3) * self.sinc_conv.n_filters * 4
        return max(1, min(INFERENCE_CHUNK_MAX, INFERENCE_CHUNK_BYTES // map_bytes))

    def _conv_features(self, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode features before the GRU, (batch, frames, channels)."""
        x = F.selu(batch_norm_affine(self._front_end(x), self.first_bn, inplace=True), inplace=True)
        if torch.is_autocast_enabled(x.device.type):  # bf16 inference: one cast here, not one per operation
            x = x.to(torch.get_autocast_dtype(x.device.type))
        for block, attention in self._stages():
            x = block.infer(x)
            y = torch.sigmoid(attention(x.mean(dim=(2, 3)))).view(len(x), -1, 1, 1).to(x.dtype)
            x = torch.addcmul(y, x, y, out=x)  # x*y + y in one pass (two passes cost 2x in bfloat16)
        x = F.selu(batch_norm_affine(x, self.bn_before_gru, inplace=True), inplace=True)
        return x[:, :, 0].transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2_gru(self.embed(x))

    def _use_fused_gru(self, x: torch.Tensor) -> bool:
        if torch.onnx.is_in_onnx_export():  # nn.GRU becomes ONNX's GRU operator
            return False
        if self.gru_impl in ("fused", "native"):
            return self.gru_impl == "fused"
        # on CPU (float32) the fused layer with packed recurrent weights beats nn.GRU, training or not
        return x.device.type == "cpu" and x.dtype == torch.float32 and isinstance(self.gru, nn.GRU) \
            and (torch.is_grad_enabled() or PACKED_GEMM != "none" or len(x) >= 16)

    def _gru_last(self, x: torch.Tensor) -> torch.Tensor:
        """Last time step of the top GRU layer, (batch, hidden)."""
        if not self._use_fused_gru(x):
            if not isinstance(self.gru, nn.GRU):  # dynamically quantised: takes float32 even under autocast
                x = x.float()
            return self.gru(x)[0][:, -1]
        seq = x.transpose(0, 1).contiguous()  # (time, batch, features)
        for layer in range(self.gru.num_layers):
            weights = [getattr(self.gru, f"{kind}_l{layer}")
                       for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            if torch.is_grad_enabled():
                seq = gru_layer(seq, *weights)
            else:
                seq = gru_layer_inference(seq, *weights, cache=self._packed_gru_weights)
        return seq[-1]

    def n_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    @staticmethod
    def scores_from_logits(logits: torch.Tensor) -> torch.Tensor:
        """Detection score: logit(bona fide) - logit(spoof), the log-odds of bona fide (higher = bona fide)."""
        return logits[:, 1] - logits[:, 0]

