"""The operations that make the AASIST encoder fast on CPU in evaluation, each equal to the official layer it
replaces up to float32 rounding (tests/test_aasist_model.py compares the network with the official outputs).

Where the official code spends an inference (AMD EPYC, batch 8): about three quarters in the first two
residual blocks, whose maps are 32 channels x 24 bands x 21,490 frames (66 MB per utterance). There oneDNN
runs the 2x3 convolutions in the official layout (NCHW) at about 0.6x their channels-last speed; the
one-input-channel convolutions of the first block (conv1, the shortcut) are bound by writing their output;
``max_pool2d((1, 3))`` and the separate BatchNorm and shortcut passes each read and write those maps again. So
in evaluation the encoder runs channels-last: the one-channel convolutions as matrix products over 2x3 patches,
which come out channels-last; the time pooling as a reduction over the contiguous (batch, H, W, C) view;
BatchNorm folded into conv1; SELU and the shortcut in place. Training keeps the official layout (channels-last
ran its backward convolutions slower).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


def fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(conv(x))`` as one convolution (BatchNorm in evaluation mode)."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    return conv.weight * scale.view(-1, 1, 1, 1), (conv.bias - bn.running_mean) * scale + bn.bias


def conv2d_cl(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """``F.conv2d`` (stride 1) with a channels-last result. One input channel: the products of the zero-padded
    (kh, kw) patches with the weights, (batch, H', W', kh * kw) x (kh * kw, out), which are channels-last."""
    if x.shape[1] != 1 or torch.onnx.is_in_onnx_export():  # ONNX export: the plain convolution
        return F.conv2d(x, channels_last(weight), bias, padding=padding)
    out_channels, _, kh, kw = weight.shape
    plane = F.pad(x[:, 0], (padding[1], padding[1], padding[0], padding[0]))  # (batch, H + 2ph, W + 2pw)
    patches = plane.unfold(1, kh, 1).unfold(2, kw, 1)                         # (batch, H', W', kh, kw)
    out = F.linear(patches.flatten(3), weight.reshape(out_channels, kh * kw), bias)
    return out.permute(0, 3, 1, 2)


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
