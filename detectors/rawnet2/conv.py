"""The residual blocks' 3-tap convolution for training on CPU: oneDNN forward, backward by matrix products.

Feature maps are channels-last (stored (batch, time, channels)). oneDNN's backward for that layout is
2-3x slower than its forward on the wide, long maps of RawNet2 (128-512 channels, 2,000-21,000 frames).
Here the backward is six matrix products over the whole batch flattened to (batch x time) rows: tap k
of the weight pairs output frame t with input frame t + k - 1, which over the flattened rows is a shift
of one row. The shift wrongly pairs the last frame of one utterance with the first of the next; those
(batch - 1) pairs are subtracted by two small products. Measured on 2 cores (batch 8, ``bench perf
rawnet2`` shapes): 128 ch x 21,490 frames 362 -> 199 ms, 512 ch x 2,387 frames 500 -> 216 ms; on 20
channels oneDNN stays faster, hence ``GEMM_BACKWARD_MIN_CHANNELS``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

#: Use the matrix-product backward when both channel counts are at least this (oneDNN wins below).
GEMM_BACKWARD_MIN_CHANNELS = 128


class _Conv3(torch.autograd.Function):
    """``conv2d(x, weight[:, :, None], bias, padding=(0, 1))`` of a (B, C_in, 1, T) channels-last map."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        x = x.contiguous(memory_format=torch.channels_last)
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return F.conv2d(x, weight.unsqueeze(2), bias, padding=(0, 1))

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad = grad.contiguous(memory_format=torch.channels_last)
        g, xt = grad[:, :, 0].transpose(1, 2), x[:, :, 0].transpose(1, 2)  # (B, T, C) views, no copy
        batch, steps, c_in = xt.shape
        gf, xf = g.reshape(batch * steps, -1), xt.reshape(batch * steps, c_in)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[1]:
            grad_w = weight.new_empty(3, weight.shape[0], c_in)
            torch.mm(gf.t(), xf, out=grad_w[1])
            torch.mm(gf[1:].t(), xf[:-1], out=grad_w[0])   # output frame t, input frame t - 1
            grad_w[0].addmm_(g[1:, 0].t(), xt[:-1, -1], alpha=-1)
            torch.mm(gf[:-1].t(), xf[1:], out=grad_w[2])   # output frame t, input frame t + 1
            grad_w[2].addmm_(g[:-1, -1].t(), xt[1:, 0], alpha=-1)
            grad_w = grad_w.permute(1, 2, 0).contiguous()
        if ctx.needs_input_grad[0]:
            taps = weight.permute(2, 0, 1)  # (3, C_out, C_in)
            gx = torch.mm(gf, taps[1])
            gx[:-1].addmm_(gf[1:], taps[0])
            gx[1:].addmm_(gf[:-1], taps[2])
            gx3 = gx.view(batch, steps, c_in)
            gx3[:-1, -1].addmm_(g[1:, 0], taps[0], alpha=-1)
            gx3[1:, 0].addmm_(g[:-1, -1], taps[2], alpha=-1)
            grad_x = gx3.transpose(1, 2).unsqueeze(2)  # (B, C_in, 1, T), channels-last strides
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = gf.sum(0)
        return grad_x, grad_w, grad_b


def conv3_channels_last(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """3-tap, 'same'-padded convolution of a (B, C_in, 1, T) channels-last map with a Conv1d ``weight``
    (C_out, C_in, 3): the same numbers as ``F.conv2d`` (up to float summation order), with the
    matrix-product backward on wide CPU float32 maps when a gradient is needed."""
    wide = min(weight.shape[0], weight.shape[1]) >= GEMM_BACKWARD_MIN_CHANNELS
    if wide and torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype == torch.float32 \
            and weight.dtype == torch.float32 and not torch.is_autocast_enabled("cpu"):
        return _Conv3.apply(x, weight, bias)
    return F.conv2d(x, weight.unsqueeze(2), bias, padding=(0, 1))
