"""RawNet2 model: parameter counts, official key names, sinc front end, forward equivalence with an
independent literal re-implementation of the official forward pass, the fused GRU, official checkpoints."""
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spoofbench.detectors.rawnet2 import VARIANTS, RawNet2Model, from_official, mel_band_edges
from spoofbench.detectors.rawnet2 import gru as gru_module
from spoofbench.detectors.rawnet2.gru import PackedWeightCache, gru_layer, gru_layer_inference
from spoofbench.detectors.rawnet2.model import fft_correlate, max_of_phases, pool_frames, sinc_bandpass
from spoofbench.protocols.errors import BenchError


# ---- an independent, literal re-implementation of the official forward pass (functional, on a state_dict) ----
def literal_filters(n_filters, taps, layout):
    """Official SincConv: mel edges from a 257-point grid, filters in numpy with a symmetric Hamming window."""
    grid = 8000 * np.linspace(0, 1, 257)
    mel = 2595 * np.log10(1 + grid / 700)
    count = n_filters + 1 if layout == "2021" else n_filters + 3
    edges = (700 * (10 ** (np.linspace(mel.min(), mel.max(), count) / 2595) - 1))[:n_filters + 1]
    n = np.arange(-(taps - 1) / 2, (taps - 1) / 2 + 1)
    rows = [np.hamming(taps) * (2 * hi / 16000 * np.sinc(2 * hi * n / 16000)
                                - 2 * lo / 16000 * np.sinc(2 * lo * n / 16000))
            for lo, hi in zip(edges[:-1], edges[1:])]
    return torch.tensor(np.array(rows), dtype=torch.float32).unsqueeze(1)


def literal_forward(sd, x, n_filters, taps, layout, quirk, training=False):
    """Returns logits. BatchNorm in eval mode (running stats) unless ``training``."""
    def bn(name, h):
        return F.batch_norm(h, sd[f"{name}.running_mean"].clone(), sd[f"{name}.running_var"].clone(),
                            sd[f"{name}.weight"], sd[f"{name}.bias"], training, 0.1, 1e-5)

    def conv(name, h, pad):
        return F.conv1d(h, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=pad)

    h = F.conv1d(x.view(len(x), 1, -1), literal_filters(n_filters, taps, layout))
    h = F.selu(bn("first_bn", F.max_pool1d(torch.abs(h), 3)))
    for i in range(6):
        p = f"block{i}.0"
        out = h if i == 0 else F.leaky_relu(bn(f"{p}.bn1", h), 0.3)
        out = conv(f"{p}.conv1", h if quirk else out, 1)
        out = conv(f"{p}.conv2", F.leaky_relu(bn(f"{p}.bn2", out), 0.3), 1)
        ident = conv(f"{p}.conv_downsample", h, 0) if f"{p}.conv_downsample.weight" in sd else h
        xb = F.max_pool1d(out + ident, 3)
        y = torch.sigmoid(F.linear(xb.mean(-1), sd[f"fc_attention{i}.0.weight"], sd[f"fc_attention{i}.0.bias"]))
        h = xb * y[:, :, None] + y[:, :, None]
    h = F.selu(bn("bn_before_gru", h)).permute(0, 2, 1)
    layers = max(int(k.split("_l")[-1]) for k in sd if k.startswith("gru.weight_ih_l")) + 1
    gru = torch.nn.GRU(h.shape[-1], sd["gru.weight_hh_l0"].shape[1], num_layers=layers, batch_first=True)
    gru.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("gru.")})
    h = gru(h)[0][:, -1]
    h = F.linear(h, sd["fc1_gru.weight"], sd["fc1_gru.bias"])
    return F.linear(h, sd["fc2_gru.weight"], sd["fc2_gru.bias"])


def official_fixture(config, seed=0):
    """A state_dict with the official key names, random weights and non-trivial BatchNorm statistics."""
    g = torch.Generator().manual_seed(seed)
    shapes = {k: v for k, v in RawNet2Model(config).state_dict().items()}
    sd = {}
    for k, v in shapes.items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            sd[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif k.endswith("running_mean"):
            sd[k] = 0.1 * torch.randn(v.shape, generator=g)
        elif ".bn" in k or "first_bn" in k or "bn_before" in k:
            sd[k] = (1.0 if k.endswith("weight") else 0.0) + 0.1 * torch.randn(v.shape, generator=g)
        else:
            fan_in = v[0].numel() if v.dim() > 1 else 64
            sd[k] = torch.randn(v.shape, generator=g) / np.sqrt(fan_in)
    return sd


def rel_diff(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / a.abs().max())


# ---- parameter counts and names ------------------------------------------------------------------------
@pytest.mark.parametrize("preset,count", [("rawnet2", 17_621_410), ("rawnet2.icassp21", 25_433_602),
                                          ("rawnet2.asvspoof5", 17_621_410)])
def test_parameter_counts_of_the_published_variants(preset, count):
    from spoofbench.detectors import create_detector

    assert create_detector(preset).n_parameters() == count


def test_state_dict_has_the_official_key_names_and_no_sinc_filters():
    sd = RawNet2Model(VARIANTS["2021"]).state_dict()
    assert len(sd) == 119 and sum(k.endswith("num_batches_tracked") for k in sd) == 13
    for key in ("first_bn.running_var", "block0.0.conv1.weight", "block1.0.bn1.weight",
                "block2.0.conv_downsample.weight", "fc_attention5.0.bias", "bn_before_gru.weight",
                "gru.weight_hh_l2", "fc1_gru.weight", "fc2_gru.bias"):
        assert key in sd
    assert not any(k.startswith("block0.0.bn1") or "sinc" in k.lower() for k in sd)
    assert tuple(sd["block0.0.conv1.weight"].shape) == (20, 20, 3)  # Conv1d shapes, as the official checkpoints


def test_mel_edges_as_published():
    edges = mel_band_edges(20)
    expected = [0, 94.0, 200.6, 321.6, 458.7, 614.3, 790.8, 991.0, 1218.1, 1475.6, 1767.8, 2099.2, 2475.1, 2901.4,
                3385.0, 3933.6, 4555.8, 5261.5, 6062.0, 6970.0, 8000]
    np.testing.assert_allclose(edges, expected, atol=0.051)
    assert round(mel_band_edges(128, layout="icassp21")[-1]) == 7669


# ---- sinc front end ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("taps,length", [(1025, 9000), (129, 5000), (1025, 1025)])
def test_fft_sinc_equals_direct_sinc(taps, length):
    edges = mel_band_edges(20)
    filters = torch.tensor(sinc_bandpass(edges[:-1], edges[1:], taps, 16000), dtype=torch.float32).unsqueeze(1)
    x = torch.randn(3, 1, length)
    direct, fft = F.conv1d(x, filters), fft_correlate(x, filters, block=2048 if taps == 1025 else None)
    assert fft.shape == direct.shape
    assert rel_diff(direct, fft) < 1e-5


@pytest.mark.parametrize("variant,length", [("2021", n) for n in (1027, 1029, 8193, 8194, 12000, 64600)]
                         + [("icassp21", n) for n in (131, 146, 147, 5000, 64600)])
def test_chunked_front_end_equals_pool_of_abs_of_direct_conv(variant, length):
    """2021 (1025 taps): overlap-save FFT, 1 to 9 blocks with odd ends; ICASSP 2021 (129 taps): the float32
    Toeplitz GEMM, with lengths that are not multiples of its 16 phases or of the pool."""
    model = RawNet2Model(VARIANTS[variant])
    x = torch.randn(3, 1, length)
    expected = F.max_pool1d(F.conv1d(x, model.sinc_conv.filters).abs(), 3)
    assert model.sinc_conv.use_fft == (variant == "2021")
    got = model.sinc_conv.abs_pooled(x)
    assert got.shape == expected.shape
    assert rel_diff(expected, got) < 1e-5
    cfg = VARIANTS[variant]
    literal = literal_filters(cfg.sinc_filters, cfg.sinc_taps, cfg.sinc_edges)
    assert torch.equal(model.sinc_conv.filters, literal) or rel_diff(literal, model.sinc_conv.filters) < 1e-6


def test_front_end_refuses_an_input_too_short_to_pool():
    with pytest.raises(ValueError, match="1026 samples is too short"):
        RawNet2Model(VARIANTS["2021"]).sinc_conv.abs_pooled(torch.randn(1, 1, 1026))


@pytest.mark.parametrize("n_phases", [1, 2, 3, 5])
def test_max_of_phases_equals_amax_with_and_without_out(n_phases):
    phases = torch.randn(4, 6, n_phases, 3)
    expected = phases.amax(2)
    assert torch.equal(max_of_phases(phases, 2), expected)
    out = torch.empty(4, 6, 3)
    assert max_of_phases(phases, 2, out=out) is out and torch.equal(out, expected)
    assert torch.equal(max_of_phases(phases.transpose(2, 3), -1), expected)  # strided view, last axis


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("frames", [3, 7, 88, 2354])
def test_pool_frames_equals_max_pool2d_on_channels_last_maps(dtype, frames):
    x = torch.randn(2, 20, 1, frames).to(dtype).contiguous(memory_format=torch.channels_last)
    got = pool_frames(x)
    assert torch.equal(got, F.max_pool2d(x, (1, 3)))
    assert got.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("n_filters,taps", [(20, 1025), (16, 129)])
def test_bf16_gemm_front_end_is_close_to_the_float32_one(n_filters, taps):
    model = RawNet2Model(VARIANTS["2021"], sinc_filters=n_filters, sinc_taps=taps)
    x = torch.randn(3, 1, 9000)
    exact = model.sinc_conv.abs_pooled(x)
    fast = model.sinc_conv.abs_pooled_gemm(x, torch.bfloat16)
    assert fast.shape == exact.shape and fast.dtype == torch.float32  # bfloat16 arithmetic, float32 result
    assert fast.unsqueeze(2).is_contiguous(memory_format=torch.channels_last)
    assert rel_diff(exact, fast.float()) < 1e-2


def test_learnable_sinc_starts_at_the_fixed_bank_and_learns():
    fixed = RawNet2Model(VARIANTS["2021"], sinc_taps=129)
    learn = RawNet2Model(VARIANTS["2021"], sinc_taps=129, learnable_sinc=True)
    assert rel_diff(fixed.sinc_conv.filters, learn.sinc_conv.current_filters()) < 1e-6
    learn.load_state_dict(fixed.state_dict(), strict=False)
    learn.train()
    learn(torch.randn(2, 16000))[:, 1].sum().backward()
    assert learn.sinc_conv.low_hz_.grad is not None and learn.sinc_conv.low_hz_.grad.abs().sum() > 0
    assert "sinc_conv.band_hz_" in learn.state_dict()


# ---- forward equivalence -------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant,quirk", [("2021", True), ("asvspoof5", False)])
def test_forward_equals_literal_official_forward(variant, quirk):
    config = VARIANTS[variant]
    assert config.raw_input_conv1 is quirk
    sd = official_fixture(config)
    model = RawNet2Model(config)
    model.load_state_dict(sd)
    x = 0.1 * torch.randn(4, 30000, generator=torch.Generator().manual_seed(1))  # train-mode BN: batch > 2
    expected = literal_forward(sd, x, 20, 1025, "2021", quirk)
    model.eval()
    with torch.no_grad():
        got = model(x)
    assert rel_diff(expected, got) < 1e-5
    # the 2021 baseline's output is the log-softmax of these logits
    assert rel_diff(torch.log_softmax(expected, 1), torch.log_softmax(got, 1)) < 1e-5
    # training mode (batch statistics, the autograd path) too. Normalising by the statistics of 4 items
    # amplifies rounding, and the summation order depends on the thread count (1.9e-5 measured with one
    # thread, 1e-6 with two on an AMD EPYC): 1e-4, still far below the quirk's effect checked next
    model.train()
    with torch.no_grad():
        got_train = model(x)
    assert rel_diff(literal_forward(sd, x, 20, 1025, "2021", quirk, training=True), got_train) < 1e-4
    # and the quirk matters: the other residual wiring gives other outputs
    assert rel_diff(literal_forward(sd, x, 20, 1025, "2021", not quirk), expected) > 1e-3


def test_icassp_forward_equals_literal_forward():
    config = VARIANTS["icassp21"]
    sd = official_fixture(config, seed=3)
    model = RawNet2Model(config).eval()
    model.load_state_dict(sd)
    x = 0.1 * torch.randn(2, 20000)
    with torch.no_grad():
        assert rel_diff(literal_forward(sd, x, 128, 129, "icassp21", False), model(x)) < 1e-5


def test_eval_in_chunks_of_utterances_equals_one_chunk(monkeypatch):
    import spoofbench.detectors.rawnet2.model as model_module

    model = RawNet2Model(VARIANTS["asvspoof5"], gru_hidden=32, gru_layers=2, fc_hidden=16).eval()
    x = 0.1 * torch.randn(5, 20000)
    with torch.no_grad():
        whole = model(x)
        monkeypatch.setattr(model_module, "INFERENCE_CHUNK_BYTES", 1)  # one utterance per chunk
        assert model._inference_chunk(x.shape[1]) == 1
        torch.testing.assert_close(model(x), whole)


def test_benchmark_reference_is_the_same_function():
    from spoofbench.benchmark.perf.rawnet2 import ReferenceRawNet2

    config = VARIANTS["2021"]
    sd = official_fixture(config, seed=5)
    ref = ReferenceRawNet2(config).eval()
    ref.load_state_dict(sd)
    x = 0.1 * torch.randn(2, 30000)
    with torch.no_grad():
        assert rel_diff(literal_forward(sd, x, 20, 1025, "2021", True), ref(x)) < 1e-5

def test_benchmark_repetitions_take_turns_and_use_self_reported_times():
    from spoofbench.benchmark.perf.rawnet2 import _interleaved

    calls = []
    result = _interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b") or 0.5}, reps=3)
    assert calls == ["a", "b"] * 4                          # one warm-up each, then turns
    assert result["b"] == (0.5, 0.5)                        # a function may report its own seconds
    assert 0 <= result["a"][0] <= result["a"][1] < 0.5


def test_benchmark_reference_process_computes_the_in_process_reference():
    """The child process (glibc's default allocator) builds the same weights and batch from the seed, takes
    the same training step, and gives eval-mode logits whatever it ran last."""
    from spoofbench.benchmark.perf.rawnet2 import ReferenceProcess, _inference_fn, _models, _reference_step_fn

    _, ref, x, y = _models("2021", 2, seed=3)
    child = ReferenceProcess("2021", 2, seed=3)
    try:
        seconds = [child.ask("train"), child.ask("infer"), child.ask("train")]
        logits = torch.tensor(child.ask("logits"))
    finally:
        child.close()
    assert all(isinstance(s, float) and s > 0 for s in seconds)
    step = _reference_step_fn(ref, x, y)
    for _ in range(2):
        ref.train()
        step()
    torch.testing.assert_close(logits, _inference_fn(ref.eval(), x)(), rtol=1e-4, atol=1e-5)


def test_benchmark_report_shows_both_real_time_factors_and_ratios():
    from spoofbench.benchmark.perf.rawnet2 import format_report

    row = {"variant": "2021", "batch": 8, "audio_s": 32.3, "ref_train_s": 0.9, "ours_train_s": 0.45,
           "ref_heap_train_s": 0.675, "ref_infer_s": 0.323, "ours_infer_s": 0.1292, "ref_heap_infer_s": 0.2584,
           "ours_int8_infer_s": 0.0646, "int8_max_rel_diff": 1e-2, "max_rel_diff": 2e-7, "ref_phases_max_rel_diff": 0.0,
           "ref_flops": 33.5e9, "ours_flops": 8.7e9}
    result = {"rows": [row], "limits": {"fp32_gflops": 300.0, "bf16_gflops": 2000.0}, "reps": 3, "threads": 2,
              "cpu_count": 2, "torch": "x", "load_before": (0.0, 0.0, 0.0), "load_after": (0.0, 0.0, 0.0)}
    text = format_report(result, fast_modes=("int8",))
    line = text.splitlines()[2]
    assert "0.0100/0.0040" in line                  # RTF of the reference and of ours
    assert "2.00x (1.50x)" in line                  # train: vs glibc defaults, vs the same allocator
    assert "2.50x (2.00x)" in line                  # inference
    assert "0.065 (5.0x / 4.0x)" in line            # fast mode
    assert "float32 300 GFLOP/s, bfloat16 2000 GFLOP/s" in text
    result["limits"]["bf16_gflops"] = None  # bfloat16 not native: not measured
    assert "float32 300 GFLOP/s, bfloat16 emulated on this CPU (not measured)" in format_report(result, ("int8",))


# ---- the fused GRU ---------------------------------------------------------------------------------------------
def test_fused_gru_matches_torch_gru_values_and_gradients():
    torch.manual_seed(0)
    gru = torch.nn.GRU(5, 7).double()
    x = torch.randn(6, 3, 5, dtype=torch.float64, requires_grad=True)
    params = [gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0]
    assert torch.autograd.gradcheck(gru_layer, (x, *params))
    out = gru_layer(x, *params)
    ref = gru(x)[0]
    torch.testing.assert_close(out, ref)
    grads = torch.autograd.grad(out[-1].sum() + out.pow(2).sum(), [x, *params])
    ref_grads = torch.autograd.grad(ref[-1].sum() + ref.pow(2).sum(), [x, *params])
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b)


def test_inference_gru_matches_torch_gru_and_follows_weight_updates():
    torch.manual_seed(0)
    gru = torch.nn.GRU(5, 16)
    x = torch.randn(6, 3, 5)
    params = [gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0]
    cache = PackedWeightCache()
    with torch.no_grad():
        torch.testing.assert_close(gru_layer_inference(x, *params, cache=cache), gru(x)[0])
        gru.weight_hh_l0.mul_(-0.5)  # in place, same address: a stale packed weight would be used
        torch.testing.assert_close(gru_layer_inference(x, *params, cache=cache), gru(x)[0])


_BACKENDS = ["none"] + (["mkl"] if gru_module._MKL_PACKING else []) + (["dnnl"] if gru_module._DNNL_PACKING else [])


@pytest.mark.parametrize("backend", _BACKENDS)
def test_packed_recurrent_products_match_addmm_and_follow_weight_updates(backend):
    """Each packed GEMM (oneDNN, MKL) computes x @ W.T + b as addmm does, and repacks after an in-place update."""
    torch.manual_seed(0)
    weight, bias, x = 0.03 * torch.randn(96, 32), torch.randn(96), torch.randn(4, 32)
    cache = PackedWeightCache()
    product = gru_module.step_linear(weight, 4, cache, backend)(x, bias)
    torch.testing.assert_close(product, torch.addmm(bias, x, weight.t()))
    weight.mul_(-0.5)
    product = gru_module.step_linear(weight, 4, cache, backend)(x, bias)
    torch.testing.assert_close(product, torch.addmm(bias, x, weight.t()))


@pytest.mark.parametrize("backend", _BACKENDS)
def test_inference_and_fused_gru_match_torch_gru_with_each_packed_gemm(backend, monkeypatch):
    monkeypatch.setattr(gru_module, "PACKED_GEMM", backend)
    torch.manual_seed(0)
    gru = torch.nn.GRU(24, 64)
    x = torch.randn(7, 8, 24)
    params = [gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0]
    with torch.no_grad():
        ref = gru(x)[0]
        torch.testing.assert_close(gru_layer_inference(x, *params, cache=PackedWeightCache()), ref)
    torch.testing.assert_close(gru_layer(x, *params).detach(), ref)


def test_eval_output_follows_load_state_dict_and_model_deep_copies():
    import copy

    small = dict(gru_hidden=32, gru_layers=2, fc_hidden=16)
    model = RawNet2Model(VARIANTS["asvspoof5"], **small).eval()
    other = RawNet2Model(VARIANTS["asvspoof5"], **small).eval()
    x = 0.1 * torch.randn(2, 30000)
    with torch.no_grad():
        model(x)  # fills the packed-weight cache
        model.load_state_dict(other.state_dict())
        torch.testing.assert_close(model(x), other(x))
        torch.testing.assert_close(copy.deepcopy(model)(x), other(x))


def model_gradients(model, x):
    """Gradients of one output of a training-mode model, by parameter name."""
    model.zero_grad()
    torch.manual_seed(0)
    model(x)[:, 1].sum().backward()
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def assert_same_gradients(expected, got):
    assert expected.keys() == got.keys()
    for k in expected:
        if k.endswith("conv1.bias"):  # followed by a training-mode BatchNorm: its true gradient is zero
            continue
        assert rel_diff(expected[k], got[k]) < 1e-4, k


def test_model_gradients_equal_with_fused_and_native_gru():
    model = RawNet2Model(VARIANTS["asvspoof5"], gru_hidden=32, gru_layers=2, fc_hidden=16).train()
    x = 0.1 * torch.randn(4, 30000)
    grads = {}
    for impl in ("fused", "native"):
        model.gru_impl = impl
        grads[impl] = model_gradients(model, x)
    assert_same_gradients(grads["native"], grads["fused"])


# ---- the matrix-product backward of the residual convolutions -------------------------------------------------
@pytest.mark.parametrize("batch,steps", [(3, 5), (1, 4), (2, 1)])
def test_conv3_backward_gradcheck(batch, steps):
    from spoofbench.detectors.rawnet2.conv import _Conv3

    torch.manual_seed(0)
    x = torch.randn(batch, 4, 1, steps, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    w = torch.randn(3, 4, 3, dtype=torch.float64)
    b = torch.randn(3, dtype=torch.float64)
    assert torch.autograd.gradcheck(_Conv3.apply, (x.requires_grad_(), w.requires_grad_(), b.requires_grad_()))


def test_wide_conv_uses_the_gemm_backward_with_conv1d_gradients():
    from spoofbench.detectors.rawnet2.conv import conv3_channels_last

    torch.manual_seed(0)
    x = torch.randn(3, 128, 57)
    w, b = torch.randn(130, 128, 3) / 20, torch.randn(130)
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    ref = F.conv1d(leaves[0], leaves[1], leaves[2], padding=1)
    mine = [t.clone().requires_grad_() for t in (x, w, b)]
    out = conv3_channels_last(mine[0].unsqueeze(2).contiguous(memory_format=torch.channels_last), mine[1], mine[2])
    assert type(out.grad_fn).__name__ == "_Conv3Backward"
    grad = torch.randn_like(ref)
    ref.backward(grad)
    out.backward(grad.unsqueeze(2))
    assert rel_diff(ref, out[:, :, 0]) < 1e-5
    for a, got in zip(leaves, mine):
        assert rel_diff(a.grad, got.grad) < 1e-5


def test_wide_conv_under_cpu_autocast_keeps_the_onednn_path():
    from spoofbench.detectors.rawnet2.conv import conv3_channels_last

    x = torch.randn(2, 128, 1, 9).contiguous(memory_format=torch.channels_last).requires_grad_()
    w = (torch.randn(128, 128, 3) / 20).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv3_channels_last(x, w, None)
    assert type(out.grad_fn).__name__ != "_Conv3Backward"
    out.float().sum().backward()
    assert x.grad is not None and w.grad is not None


def test_icassp_gradients_equal_with_gemm_and_onednn_conv_backward(monkeypatch):
    import spoofbench.detectors.rawnet2.conv as conv_module

    model = RawNet2Model(VARIANTS["icassp21"], gru_hidden=32, gru_layers=1, fc_hidden=16).train()
    x = 0.1 * torch.randn(3, 12000)
    grads = {}
    for name, threshold in (("gemm", 128), ("onednn", 10 ** 9)):
        monkeypatch.setattr(conv_module, "GEMM_BACKWARD_MIN_CHANNELS", threshold)
        grads[name] = model_gradients(model, x)
    assert_same_gradients(grads["onednn"], grads["gemm"])


#: Run in a fresh process (the allocator settings are process-wide): how many glibc mmap'ed blocks a 64 MB
#: tensor adds (1 with glibc's defaults, 0 once large blocks come from the heap), via mallinfo2.
_MAPPED_BLOCKS = """
import ctypes, torch
class _Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks "
                "fordblks keepcost".split()]
def new_mapped_blocks():
    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _Info
    except (OSError, AttributeError):
        return -1  # not glibc >= 2.33
    before = libc.mallinfo2().hblks
    block = torch.empty(16 << 20)
    return libc.mallinfo2().hblks - before
"""


def _glibc() -> bool:
    import platform

    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def test_building_running_and_tracing_the_model_leaves_the_process_allocator_alone():
    """The network has no process-wide side effects (the engine sets the allocator up, explicitly), so it
    traces for export like any nn.Module."""
    import subprocess
    import sys

    code = _MAPPED_BLOCKS + (
        "import warnings\n"
        "from spoofbench.detectors import create_detector\n"
        "from spoofbench.detectors.neural import memory\n"
        "model = create_detector('rawnet2.small').build_model().eval()\n"
        "x = 0.1 * torch.randn(2, 24000)\n"
        "with torch.no_grad(), warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore')\n"
        "    traced = torch.jit.trace(model, x, check_trace=False)\n"
        "    y = 0.5 * x\n"
        "    print(float((traced(y) - model(y)).abs().max()), float(model(y).abs().max()))\n"
        "print(memory.allocator_untouched(), new_mapped_blocks())\n"
        "memory.reuse_freed_memory()\n"
        "print(memory._allocator_state, new_mapped_blocks())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "SPOOFBENCH_MALLOPT": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line.split() for line in out.stdout.splitlines()]
    diff, scale = float(lines[0][0]), float(lines[0][1])
    assert diff <= 1e-5 * max(scale, 1.0)  # the traced graph computes the model's function on new input
    assert lines[1][0] == "True"  # building, running and tracing changed nothing
    if _glibc():
        assert lines[1][1] == "1"  # glibc still serves a 64 MB block with mmap (its default)...
        assert lines[2] == ["on", "0"]  # ... until the engine's explicit set-up, which this test can see


@pytest.mark.parametrize("env", ["1", "0"])
def test_allocator_setting_applies_when_the_engine_scores_on_cpu_and_honours_the_opt_out(env, tmp_path):
    import subprocess
    import sys

    code = _MAPPED_BLOCKS + (
        "import numpy as np\n"
        "from spoofbench.detectors import create_detector\n"
        "from spoofbench.detectors.neural import memory\n"
        "from spoofbench.protocols.audio import write_audio\n"
        "from spoofbench.protocols.trials import TrialTable\n"
        f"path = {str(tmp_path / 'a.wav')!r}\n"
        "write_audio(path, 0.1 * np.sin(np.arange(9000) / 7.0), 16000)\n"
        "det = create_detector('rawnet2.small', n_samples=8000, progress=False, device='cpu')\n"
        "det.set_state({k: v.numpy() for k, v in det.build_model().state_dict().items()})\n"
        "print(memory._allocator_state)\n"
        "det.score(TrialTable.from_records([{'utt_id': 'a', 'path': path, 'label': 'bonafide', 'attack': '-', "
        "'speaker': 's', 'split': 'eval'}]))\n"
        "print(memory._allocator_state, new_mapped_blocks())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "SPOOFBENCH_MALLOPT": env})
    assert out.returncode == 0, out.stderr[-2000:]
    before, after = out.stdout.split("\n")[0], out.stdout.split("\n")[1].split()
    assert before == "None"  # loading the weights did not touch it
    expected = ("on" if _glibc() else "unavailable") if env == "1" else "disabled"
    assert after[0] == expected
    if _glibc():
        assert after[1] == ("0" if env == "1" else "1")


@pytest.mark.parametrize("env", ["1", "0"])
def test_allocator_serves_large_blocks_from_advised_huge_pages(env):
    """Where the kernel gives transparent huge pages only on request ("madvise" mode, as on this project's
    machines), blocks served after the allocator settings are huge-page backed; with the opt-out, none are."""
    import platform
    import subprocess
    import sys

    code = ("import torch; from spoofbench.detectors.neural import memory as m; on = m.reuse_freed_memory(); "
            "x = torch.ones(64, 1 << 20); "  # 256 MB, touched
            "huge = [l for l in open('/proc/self/smaps_rollup') if l.startswith('AnonHugePages')]; "
            "print(on, m.transparent_huge_pages_mode() or '-', huge[0].split()[1] if huge else 0, "
            "m._strict_overcommit()); print(m.allocator_description())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "SPOOFBENCH_MALLOPT": env}).stdout.splitlines()
    fields, description = out[0].split(), out[1]
    allocator_on, mode, huge_kb, strict = fields[0] == "True", fields[1], int(fields[2]), fields[3] == "True"
    assert allocator_on == (env == "1" and platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
    assert description.startswith("heap (mmap off)" if allocator_on else "glibc defaults")
    advised = allocator_on and mode == "madvise" and not strict
    assert ("1.5 GiB of it advised for huge pages" in description) == advised  # what the report says it did
    if mode == "madvise":  # elsewhere the kernel decides alone ("always": every process; "never": none)
        if advised:
            assert huge_kb >= 128 << 10  # at least half of the 256 MB block
        else:
            assert huge_kb == 0  # nothing asked for huge pages (opt-out, or strict overcommit)


@pytest.mark.parametrize("thp,strict,expected", [("madvise", False, True), ("madvise", True, False),
                                                  ("always", False, False), ("never", False, False)])
def test_huge_page_reserve_only_where_the_kernel_wants_advice_and_overcommit_is_lenient(monkeypatch, thp, strict,
                                                                                       expected):
    from spoofbench.detectors.neural import memory as model_module

    class FakeLibc:  # records the calls instead of touching this process's heap
        def __init__(self):
            self.calls = []
            calls = self.calls

            def malloc(size):  # plain functions: the code under test sets ctypes' restype/argtypes on them
                calls.append(("malloc", size))
                return 3 << 20

            def free(block):
                calls.append(("free", block))

            def madvise(start, length, advice):
                calls.append(("madvise", start, length, advice))
                return 0

            self.malloc, self.free, self.madvise = malloc, free, madvise

    monkeypatch.setattr(model_module, "transparent_huge_pages_mode", lambda: thp)
    monkeypatch.setattr(model_module, "_strict_overcommit", lambda: strict)
    libc = FakeLibc()
    assert model_module._advise_huge_heap(libc, 8 << 20) is expected
    if expected:  # the whole 2 MB pages inside [3 MB, 11 MB): [4 MB, 10 MB), then the block goes back
        assert libc.calls == [("malloc", 8 << 20), ("madvise", 4 << 20, 6 << 20, 14), ("free", 3 << 20)]
    else:
        assert libc.calls == []


# ---- official checkpoints ----------------------------------------------------------------------------------------
def test_from_official_loads_a_state_dict_file(tmp_path):
    config = VARIANTS["2021"]
    sd = official_fixture(config, seed=2)
    path = tmp_path / "official.pth"
    torch.save({f"module.{k}": v for k, v in sd.items()}, path)  # as saved from DataParallel
    model = from_official(path, variant="2021")
    assert not model.training
    x = 0.1 * torch.randn(2, 64600)
    with torch.no_grad():
        assert rel_diff(literal_forward(sd, x, 20, 1025, "2021", True), model(x)) < 1e-5
    with pytest.raises(BenchError, match="look like variant 'icassp21'|shape"):
        from_official(path, variant="icassp21")


class _Payload:
    def __reduce__(self):
        return (os.getcwd, ())


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoint_with_a_pickle_payload_is_refused(tmp_path):
    sd = official_fixture(VARIANTS["2021"])
    sd_bad = dict(sd)
    sd_bad["extra"] = _Payload()
    path = tmp_path / "evil.pth"
    torch.save(sd_bad, path)
    with pytest.raises(BenchError, match="refused: the checkpoint holds pickled Python objects"):
        from_official(path)
    raw = tmp_path / "plain.pkl"
    raw.write_bytes(pickle.dumps({"a": _Payload()}))
    with pytest.raises(BenchError, match="evil|plain.pkl"):
        from_official(raw)


@pytest.mark.parametrize("mode", ["bf16", "int8", "int8+bf16"])
def test_perf_fast_modes_score_as_the_detector_prepares_them(monkeypatch, mode):
    """bench perf rawnet2 times the fast modes the detector scores with (int8 GRU and classifier only: an int8
    Linear inside the residual blocks cannot take bfloat16 input under autocast)."""
    from spoofbench.benchmark.perf import rawnet2 as perf
    from spoofbench.detectors.neural import inference

    monkeypatch.setattr(inference, "native_bf16", lambda: True)  # the mode itself, whatever this CPU runs
    torch.manual_seed(0)
    model = RawNet2Model(VARIANTS["2021"], sinc_filters=16, sinc_taps=129, block_channels=(16, 32),
                         gru_hidden=32, gru_layers=1, fc_hidden=32).eval()
    x = torch.randn(2, 16000)
    with torch.no_grad():
        expected = model(x)
    fast, autocast = perf.fast_model(model, mode)
    logits = perf._inference_fn(fast, x, autocast)()
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()
    assert torch.allclose(logits, expected, rtol=0.1, atol=0.1)


def test_int8_with_bf16_takes_any_layer_choice(monkeypatch):
    """The engine's int8+bf16 mode casts the inputs of every int8 layer to float32, so a family that quantises
    every Linear (the engine's default) scores too."""
    from spoofbench.detectors.neural import inference

    monkeypatch.setattr(inference, "native_bf16", lambda: True)
    torch.manual_seed(0)
    model = RawNet2Model(VARIANTS["2021"], sinc_filters=16, sinc_taps=129, block_channels=(16, 32),
                         gru_hidden=32, gru_layers=1, fc_hidden=32).eval()
    fast, autocast = inference.prepare_inference(model, "int8+bf16")  # default: every Linear, GRU and LSTM
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast == "bf16"):
        logits = fast(torch.randn(2, 16000)).float()
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()


def test_benchmark_flop_count_includes_the_packed_gru_products():
    """The FLOP counter cannot see oneDNN's / MKL's packed linear ops: counted, the fused GRU equals nn.GRU."""
    from spoofbench.benchmark.perf.rawnet2 import forward_flops

    model = RawNet2Model(VARIANTS["2021"], gru_hidden=32, gru_layers=2, fc_hidden=16).eval()
    x = 0.1 * torch.randn(2, 30000)
    packed = gru_module.PACKED_GEMM
    model.gru_impl = "fused"
    fused = forward_flops(model, x)
    assert gru_module.PACKED_GEMM == packed  # restored
    model.gru_impl = "native"
    assert fused == forward_flops(model, x)
