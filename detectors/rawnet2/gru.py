"""One GRU layer as a single autograd node, for training on CPU.

PyTorch's CPU GRU records every time step in the autograd graph, so its backward accumulates the
(3H x H) weight gradient once per step: 29 steps x 3 layers of 12 MB read-modify-writes in RawNet2.
Here the backward walks the steps only for the (batch x 3H) gate gradients and then forms each weight
gradient with ONE matrix product over all steps. Same equations as ``torch.nn.GRU``:

    r = sigmoid(Wir x + bir + Whr h + bhr)      z = sigmoid(Wiz x + biz + Whz h + bhz)
    n = tanh(Win x + bin + r * (Whn h + bhn))    h' = n + z * (h - n)
"""
from __future__ import annotations

import torch


def _mkl_packing_available() -> bool:
    try:
        return torch.backends.mkl.is_available() and hasattr(torch.ops.mkl, "_mkl_linear")
    except (AttributeError, RuntimeError):
        return False


_MKL_PACKING = _mkl_packing_available()


def _dnnl_packing_available() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_reorder_linear_weight") \
            and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):
        return False


#: oneDNN's prepacked float32 linear (``torch.ops.mkldnn``): for the GRU's small-batch recurrent products
#: (batch x 1024 times 1024 x 3072) it is 4-5x faster than MKL's packed GEMM on an AMD EPYC (Zen 4, 2
#: threads: 0.26 vs 1.2 ms at batch 8, natively and with the kernels restricted to AVX2), presumably as MKL takes
#: a generic code path on non-Intel processors. Preferred over MKL packing wherever it exists.
_DNNL_PACKING = _dnnl_packing_available()
#: Which packed GEMM the recurrent products use on CPU in float32: "dnnl", "mkl" or "none" (plain addmm).
PACKED_GEMM = "dnnl" if _DNNL_PACKING else "mkl" if _MKL_PACKING else "none"


class PackedWeightCache(dict):
    """Packed weights of one model, keyed by (address, shape, batch). Copies and pickles start empty: the
    packed tensors are opaque (no storage to copy) and belong to the original weights."""

    def __deepcopy__(self, memo):
        return type(self)()

    def __reduce__(self):
        return type(self), ()


def _pack(weight: torch.Tensor, batch: int | None, backend: str) -> torch.Tensor:
    if backend == "dnnl":
        return torch.ops.mkldnn._reorder_linear_weight(weight, batch)
    return torch.ops.mkl._mkl_reorder_linear_weight(weight, batch)


def _packed_weight(weight: torch.Tensor, batch: int | None, cache: dict, backend: str = "mkl") -> torch.Tensor:
    """Packed ``weight`` (MKL or oneDNN layout, ``backend``) from ``cache`` (packing a 12 MB weight costs
    ~2 ms, a tenth of a layer's recurrence at batch 8). The entry holds the weight itself, so its address
    cannot be reused by another tensor while cached (``weight.detach()`` shares the parameter's storage and
    version counter); the version catches in-place updates (``load_state_dict``, optimiser steps)."""
    key = (weight.data_ptr(), tuple(weight.shape), batch, backend)
    entry = cache.get(key)
    if entry is None or entry[1] != weight._version:
        if len(cache) >= 16:  # a few layers x (input, recurrent) x batch sizes; never grows without bound
            cache.clear()
        entry = (weight, weight._version, _pack(weight, batch, backend))
        cache[key] = entry
    return entry[2]


def step_linear(weight: torch.Tensor, batch: int, cache: dict | None = None, backend: str | None = None):
    """``f(x, bias) = x @ weight.T + bias`` for many calls with the same weight and ``batch`` rows.

    On CPU the weight is packed once into the GEMM library's layout (``PACKED_GEMM``, or ``backend``:
    "dnnl", "mkl", "none"): the recurrent products are small (batch x 1024 times 1024 x 3072) and an unpacked
    GEMM re-packs the 12 MB weight on every call, which costs as much as the arithmetic (MKL packing measured
    2.6x faster than addmm at batch 8 on an Intel Xeon; oneDNN packing 4x faster than MKL's on an AMD EPYC).
    Elsewhere: ``addmm``."""
    backend = PACKED_GEMM if backend is None else backend
    if backend == "dnnl" and torch.jit.is_tracing():  # the tracer cannot record the op's empty scalar list
        backend = "mkl" if _MKL_PACKING else "none"
    if backend != "none" and weight.device.type == "cpu" and weight.dtype == torch.float32:
        weight = weight.detach().contiguous()
        packed = _pack(weight, batch, backend) if cache is None else _packed_weight(weight, batch, cache, backend)
        if backend == "dnnl":
            return lambda x, bias: torch.ops.mkldnn._linear_pointwise(x.contiguous(), packed, bias, "none", [], "")
        return lambda x, bias: torch.ops.mkl._mkl_linear(x.contiguous(), packed, weight, bias, batch)
    weight_t = weight.detach().t()
    return lambda x, bias: torch.addmm(bias, x, weight_t)


class _GRULayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, seq, w_ih, w_hh, b_ih, b_hh):
        steps, batch, _ = seq.shape
        hidden = w_hh.shape[1]
        # input projections of all steps at once: one big matrix product
        gi = torch.addmm(b_ih, seq.reshape(steps * batch, -1), w_ih.t()).view(steps, batch, 3 * hidden)
        recurrent = step_linear(w_hh, batch)
        out = seq.new_empty(steps, batch, hidden)
        gates = seq.new_empty(steps, batch, 3 * hidden)  # r, z, n per step, kept for the backward
        gh_n = seq.new_empty(steps, batch, hidden)        # Whn h + bhn per step
        h = seq.new_zeros(batch, hidden)
        for t in range(steps):
            gh = recurrent(h, b_hh)
            rz = torch.sigmoid(gi[t, :, :2 * hidden] + gh[:, :2 * hidden])
            r, z = rz[:, :hidden], rz[:, hidden:]
            n = torch.tanh(gi[t, :, 2 * hidden:] + r * gh[:, 2 * hidden:])
            h = n + z * (h - n)
            out[t] = h
            gates[t, :, :2 * hidden] = rz
            gates[t, :, 2 * hidden:] = n
            gh_n[t] = gh[:, 2 * hidden:]
        ctx.save_for_backward(seq, w_ih, w_hh, out, gates, gh_n)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        seq, w_ih, w_hh, out, gates, gh_n = ctx.saved_tensors
        steps, batch, hidden = out.shape
        h_prev = torch.cat([out.new_zeros(1, batch, hidden), out[:-1]])
        d_gi = torch.empty_like(gates)  # gradient w.r.t. (W_ih x + b_ih), per gate
        d_gh = torch.empty_like(gates)  # gradient w.r.t. (W_hh h + b_hh), per gate
        dh = out.new_zeros(batch, hidden)
        zero_bias = out.new_zeros(hidden)
        back = step_linear(w_hh.t(), batch)  # dh_prev += d_gh @ w_hh
        for t in range(steps - 1, -1, -1):
            dh = dh + grad_out[t]
            r, z, n = gates[t, :, :hidden], gates[t, :, hidden:2 * hidden], gates[t, :, 2 * hidden:]
            d_n = dh * (1 - z) * (1 - n * n)
            d_z = dh * (h_prev[t] - n) * z * (1 - z)
            d_r = d_n * gh_n[t] * r * (1 - r)
            d_gi[t, :, :hidden] = d_r
            d_gi[t, :, hidden:2 * hidden] = d_z
            d_gi[t, :, 2 * hidden:] = d_n
            d_gh[t, :, :2 * hidden] = d_gi[t, :, :2 * hidden]
            d_gh[t, :, 2 * hidden:] = d_n * r
            dh = dh * z + back(d_gh[t], zero_bias)
        flat_gh = d_gh.view(steps * batch, 3 * hidden)
        flat_gi = d_gi.view(steps * batch, 3 * hidden)
        grad_seq = grad_w_ih = grad_w_hh = grad_b_ih = grad_b_hh = None
        if ctx.needs_input_grad[0]:
            grad_seq = (flat_gi @ w_ih).view_as(seq)
        if ctx.needs_input_grad[1]:
            grad_w_ih = flat_gi.t() @ seq.reshape(steps * batch, -1)
        if ctx.needs_input_grad[2]:
            grad_w_hh = flat_gh.t() @ h_prev.view(steps * batch, hidden)
        if ctx.needs_input_grad[3]:
            grad_b_ih = flat_gi.sum(0)
        if ctx.needs_input_grad[4]:
            grad_b_hh = flat_gh.sum(0)
        return grad_seq, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh


@torch.no_grad()
def gru_layer_inference(seq: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                        b_hh: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
    """``gru_layer`` without autograd: nothing kept for a backward, gates computed in place, the packed
    recurrent weight kept in ``cache`` (a dict owned by the model) between calls. The loop is bound by
    reading W_hh once per step."""
    steps, batch, _ = seq.shape
    hidden = w_hh.shape[1]
    rows = seq.reshape(steps * batch, -1)
    if PACKED_GEMM == "dnnl" and cache is not None and not torch.jit.is_tracing():
        # the input projections of all steps by oneDNN too (~20% faster than addmm on an AMD EPYC), the weight
        # packed once without a batch hint (measured: the hint does not change its speed), whatever the length;
        # step_linear itself falls back to addmm off the CPU or outside float32 (not while tracing: its MKL
        # fallback needs the batch hint)
        gi = step_linear(w_ih, None, cache, "dnnl")(rows, b_ih)
    else:
        gi = torch.addmm(b_ih, rows, w_ih.t())
    gi = gi.view(steps, batch, 3 * hidden)
    recurrent = step_linear(w_hh, batch, cache)
    out = seq.new_empty(steps, batch, hidden)
    diff = seq.new_empty(batch, hidden)
    h = seq.new_zeros(batch, hidden)
    for t in range(steps):
        gh = recurrent(h, b_hh)
        rz = gh[:, :2 * hidden].add_(gi[t, :, :2 * hidden]).sigmoid_()
        r, z = rz[:, :hidden], rz[:, hidden:]
        n = gh[:, 2 * hidden:].mul_(r).add_(gi[t, :, 2 * hidden:]).tanh_()
        h = torch.addcmul(n, z, torch.sub(h, n, out=diff), out=out[t])
    return out


def gru_layer(seq: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
              b_hh: torch.Tensor) -> torch.Tensor:
    """Run one unidirectional GRU layer from a zero state. seq: (time, batch, features) -> (time, batch, hidden)."""
    return _GRULayer.apply(seq, w_ih, w_hh, b_ih, b_hh)
