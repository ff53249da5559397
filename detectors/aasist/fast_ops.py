"""The operations that make the AASIST encoder fast on CPU in evaluation, each equal to the official layer it
replaces up to float32 rounding (tests/test_aasist_model.py compares the network with the official outputs).

Where the official code spends an inference (AMD EPYC, batch 8): about three quarters in the first two
residual blocks, whose maps are 32 channels x 24 bands x 21,490 frames (66 MB per utterance). There oneDNN
runs the 2x3 convolutions in the official layout (NCHW) at about 0.6x their channels-last speed, and the
separate BatchNorm, shortcut and pooling passes each read and write those maps again. So in evaluation the
encoder runs channels-last, BatchNorm folded into conv1, SELU in place, the time pooling as a reduction over
the contiguous (batch, H, W, C) view. The first block (one input channel) has no separate shortcut at all
(:func:`first_block_eval`), and the sinc front end runs by FFT (:func:`correlate_fft`). Training keeps the
official layout and the direct sinc convolution (channels-last ran its backward convolutions slower).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def channels_last(t: torch.Tensor) -> torch.Tensor:
    """``t`` (batch, C, H, W) with channels-last strides. For one channel both layouts are contiguous and
    ``contiguous(memory_format=...)`` keeps the NCHW strides, with which oneDNN then writes an NCHW result
    (and the next convolution converts it): the strides are set explicitly."""
    if t.shape[1] != 1:
        return t.contiguous(memory_format=torch.channels_last)
    t = t.contiguous()
    n, _, h, w = t.shape
    return t.as_strided(t.shape, (h * w, 1, w, 1))


def fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(conv(x))`` as one convolution (BatchNorm in evaluation mode)."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    return conv.weight * scale.view(-1, 1, 1, 1), (conv.bias - bn.running_mean) * scale + bn.bias


def conv2d_cl(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """``F.conv2d`` (stride 1) in channels-last, the result channels-last (ONNX export: the plain convolution)."""
    if torch.onnx.is_in_onnx_export():
        return F.conv2d(x, weight, bias, padding=padding)
    return F.conv2d(channels_last(x), channels_last(weight), bias, padding=padding)


def first_block_eval(conv1: tuple, conv2: nn.Conv2d, downsample: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """The first residual block without its max pooling, ``conv2(selu(conv1(x))) + downsample(x)`` for a
    one-channel ``x`` (batch, 1, H, W), with ``conv1`` (2x3, padding (1, 1)) a (weight, bias) pair, ``conv2``
    (2x3, padding (0, 1)) and ``downsample`` (1x3, padding (0, 1)).

    The shortcut rides along as one more channel: conv1 also copies ``x`` into channel C (a one-hot kernel:
    output row r of conv1 holds input row r), SELU skips that channel, and conv2 reads it with the shortcut's
    kernel in its first kernel row (output row r reads rows r and r + 1). One C+1 -> C convolution (3 % more
    arithmetic) replaces the one-channel shortcut convolution and the addition, two passes over maps of
    C x H x W per utterance that are memory-bound."""
    weight1, bias1 = conv1
    channels = weight1.shape[0]
    copy = torch.zeros(1, 1, *weight1.shape[2:], dtype=weight1.dtype, device=weight1.device)
    copy[0, 0, 1, 1] = 1.0
    weight1 = torch.cat([weight1, copy])
    bias1 = torch.cat([bias1, bias1.new_zeros(1)])
    shortcut = F.pad(downsample.weight, (0, 0, 0, conv2.weight.shape[2] - 1))  # (C, 1, 1, 3) -> (C, 1, 2, 3)
    weight2 = torch.cat([conv2.weight, shortcut], dim=1)
    out = F.conv2d(channels_last(x), channels_last(weight1), bias1, padding=(1, 1))
    F.selu(out[:, :channels], inplace=True)
    return F.conv2d(out, channels_last(weight2), conv2.bias + downsample.bias, padding=(0, 1))


def correlate_fft(x: torch.Tensor, filters: torch.Tensor, block: int = 1024) -> torch.Tensor:
    """``F.conv1d(x, filters.unsqueeze(1))`` for x (batch, 1, samples) and filters (n, taps), by overlap-save
    FFTs of ``block`` points: (batch, n, samples - taps + 1). Per output and filter that is about a tenth of
    the direct convolution's arithmetic (AASIST: 69 filters of 129 taps); the result differs from it by
    float32 rounding (about 1e-6 of the largest output). The filters' spectra are conjugated: conv1d
    correlates."""
    taps = filters.shape[-1]
    outputs = x.shape[-1] - taps + 1
    hop = block - taps + 1  # valid outputs per block
    blocks = -(-outputs // hop)
    signal = F.pad(x[:, 0], (0, blocks * hop + taps - 1 - x.shape[-1]))
    spectra = torch.fft.rfft(signal.unfold(1, block, hop), n=block)           # (batch, blocks, block/2 + 1)
    response = torch.fft.rfft(filters.to(spectra.real.dtype), n=block).conj()  # (n, block/2 + 1)
    y = torch.fft.irfft(spectra.unsqueeze(2) * response, n=block)[..., :hop]   # (batch, blocks, n, hop)
    return y.permute(0, 2, 1, 3).reshape(x.shape[0], filters.shape[0], blocks * hop)[..., :outputs]


def max_pool_time(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """``max_pool2d(x, (1, k))`` as a reduction over the (batch, H, W, C) view, contiguous for a
    channels-last ``x``; the result is channels-last."""
    frames = x.shape[-1] // k
    nhwc = x.permute(0, 2, 3, 1)[:, :, :frames * k]
    return nhwc.unflatten(2, (frames, k)).amax(dim=3).permute(0, 3, 1, 2)


def sinc_band_pool(x: torch.Tensor, bands: int) -> torch.Tensor:
    """``max_pool2d(|x|, (3, 3))`` of the sinc output (batch, 3 * bands, samples): (batch, 1, bands, samples // 3).
    The max over each band's 3 filters as element-wise maxima of whole rows, then over time triples (2x faster
    than one reduction over both, which strides across rows)."""
    frames = x.shape[-1] // 3
    rows = x.unflatten(1, (bands, 3))
    band_max = torch.maximum(torch.maximum(rows[:, :, 0].abs(), rows[:, :, 1].abs()), rows[:, :, 2].abs())
    return band_max[..., :frames * 3].unflatten(-1, (frames, 3)).amax(dim=-1).unsqueeze(1)
