"""``bench perf rawnet2``: RawNet2 training-step and inference time, ours vs a plain reference implementation.

The reference (:class:`ReferenceRawNet2`) follows the official ASVspoof 2021 / ICASSP 2021 code literally:
the sinc filters are rebuilt in numpy on every forward and applied by a direct ``conv1d``; the blocks run
in (batch, channels, time) layout; ``nn.GRU``; plain ``torch.optim.Adam``. It is written for this benchmark
(not copied) and loads the same state_dict, so both compute the same function: the table reports the
largest relative difference of their outputs.

Measured: a training step (forward + weighted cross-entropy + backward + Adam) and an inference batch,
at each batch size, as the minimum (and median) over repetitions; the real-time factor of inference
(seconds of compute per second of audio); the forward FLOPs counted by ``torch.utils.flop_counter``
(the reference's direct sinc convolution is counted; our FFT is not a matmul and is estimated); and this
CPU's arithmetic limit, the GFLOP/s of a large float32 (and bfloat16) matrix product.

The reference is timed twice: first as users run the official code, with glibc's default allocator (which
maps and unmaps every block over 32 MB, so large feature maps page-fault in anew on every pass), then under
the allocator our model sets on CPU (``reuse_freed_memory``), so that the second ratio compares the code alone.
"""
from __future__ import annotations

import math
import os
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from protocols.files import write_text_atomic


# ---- the literal reference ----------------------------------------------------------------------------
class _ReferenceSinc(nn.Module):
    """Official SincConv behaviour: Mel edges in numpy; filters recomputed in numpy each forward."""

    def __init__(self, n_filters, taps, layout, sample_rate=16000):
        super().__init__()
        self.taps = taps + 1 if taps % 2 == 0 else taps
        self.sample_rate = sample_rate
        grid = int(sample_rate / 2) * np.linspace(0, 1, 257)
        mel = 2595 * np.log10(1 + grid / 700)
        points = n_filters + 1 if layout == "2021" else n_filters + 3
        hz = 700 * (10 ** (np.linspace(mel.min(), mel.max(), points) / 2595) - 1)
        self.edges = hz[: n_filters + 1]
        self.support = torch.arange(-(self.taps - 1) / 2, (self.taps - 1) / 2 + 1)
        self.band_pass = torch.zeros(n_filters, self.taps)

    def forward(self, x):
        for i in range(len(self.edges) - 1):
            low, high = self.edges[i], self.edges[i + 1]
            h_high = (2 * high / self.sample_rate) * np.sinc(2 * high * self.support / self.sample_rate)
            h_low = (2 * low / self.sample_rate) * np.sinc(2 * low * self.support / self.sample_rate)
            self.band_pass[i, :] = torch.Tensor(np.hamming(self.taps)) * torch.Tensor(h_high - h_low)
        return F.conv1d(x, self.band_pass.to(x.device).view(len(self.edges) - 1, 1, self.taps))


class _ReferenceBlock(nn.Module):
    def __init__(self, c_in, c_out, first, raw_input_conv1):
        super().__init__()
        self.first, self.raw_input_conv1 = first, raw_input_conv1
        if not first:
            self.bn1 = nn.BatchNorm1d(c_in)
        self.lrelu = nn.LeakyReLU(negative_slope=0.3)
        self.conv1 = nn.Conv1d(c_in, c_out, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel_size=3, padding=1)
        self.downsample = c_in != c_out
        if self.downsample:
            self.conv_downsample = nn.Conv1d(c_in, c_out, kernel_size=1)
        self.mp = nn.MaxPool1d(3)

    def forward(self, x):
        identity = x
        out = x if self.first else self.lrelu(self.bn1(x))
        out = self.conv1(x if self.raw_input_conv1 else out)
        out = self.conv2(self.lrelu(self.bn2(out)))
        if self.downsample:
            identity = self.conv_downsample(identity)
        return self.mp(out + identity)


class ReferenceRawNet2(nn.Module):
    """The official forward pass, literally (returns logits; the 2021 code applies log-softmax after)."""

    def __init__(self, config):
        super().__init__()
        c_sinc, (c_low, c_high) = config.sinc_filters, config.block_channels
        self.Sinc_conv = _ReferenceSinc(c_sinc, config.sinc_taps, config.sinc_edges, config.sample_rate)
        self.first_bn = nn.BatchNorm1d(c_sinc)
        self.selu = nn.SELU(inplace=True)
        ins, outs = [c_sinc, c_low, c_low, c_high, c_high, c_high], [c_low, c_low, c_high, c_high, c_high, c_high]
        for i, (ci, co) in enumerate(zip(ins, outs)):
            setattr(self, f"block{i}", nn.Sequential(_ReferenceBlock(ci, co, i == 0, config.raw_input_conv1)))
            setattr(self, f"fc_attention{i}", nn.Sequential(nn.Linear(co, co)))
        self.avgpool = nn.AdaptiveAvgPool1d(1)
        self.bn_before_gru = nn.BatchNorm1d(c_high)
        self.gru = nn.GRU(c_high, config.gru_hidden, num_layers=config.gru_layers, batch_first=True)
        self.fc1_gru = nn.Linear(config.gru_hidden, config.fc_hidden)
        self.fc2_gru = nn.Linear(config.fc_hidden, 2)
        self.sig = nn.Sigmoid()

    def forward(self, x):
        x = self.Sinc_conv(x.view(x.shape[0], 1, x.shape[1]))
        x = self.selu(self.first_bn(F.max_pool1d(torch.abs(x), 3)))
        for i in range(6):
            xb = getattr(self, f"block{i}")(x)
            y = getattr(self, f"fc_attention{i}")(self.avgpool(xb).view(xb.size(0), -1))
            y = self.sig(y).view(y.size(0), y.size(1), -1)
            x = xb * y + y
        x = self.selu(self.bn_before_gru(x)).permute(0, 2, 1)
        self_gru_out, _ = self.gru(x)
        return self.fc2_gru(self.fc1_gru(self_gru_out[:, -1, :]))


# ---- measurements -------------------------------------------------------------------------------------
#: The clock of every timing: wall time, or this process's CPU time (``--clock cpu``: with one thread on a
#: loaded machine it is far less disturbed by other processes than wall time; with several threads it also
#: counts their busy-waiting).
CLOCK = [time.perf_counter]

def _timed(fn, reps: int, keep_first: bool = False):
    """(min, median) seconds of ``reps`` calls after a warm-up call; with ``keep_first`` also the warm-up's
    result."""
    first = fn()  # warm-up
    times = []
    for _ in range(reps):
        start = CLOCK[0]()
        fn()
        times.append(CLOCK[0]() - start)
    return (min(times), statistics.median(times), first) if keep_first else (min(times), statistics.median(times))


def _train_step_fn(model, x, y, optimizer):
    weights = torch.tensor([1.0, 9.0])

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y, weight=weights)
        loss.backward()
        optimizer.step()
    return step


def _inference_fn(model, x, autocast=None):
    def run():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast == "bf16"):
            return model(x).float()
    return run


def forward_flops(model, x) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return int(counter.get_total_flops())


def fft_front_end_flops(batch: int, samples: int, n_filters: int, taps: int) -> int:
    """Estimate of our overlap-save front end: 2.5 N log2 N real FFT flops per block (one forward per block,
    one inverse per filter and block) plus 6 flops per complex product."""
    from detectors.rawnet2.model import fft_block_size

    block = fft_block_size(taps)
    hop = block - taps + 1
    n_blocks = math.ceil((samples - taps + 1) / hop)
    fft = 2.5 * block * math.log2(block)
    return int(batch * n_blocks * (fft * (1 + n_filters) + 6 * (block // 2 + 1) * n_filters))


def matmul_gflops(dtype=torch.float32, n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    best, _ = _timed(lambda: a @ b, reps)
    return 2 * n ** 3 / best / 1e9


def max_relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |a| (scale-relative, robust to outputs near zero)."""
    return float((a - b).abs().max() / a.abs().max().clamp_min(1e-30))


def _models(variant: str, batch: int, seed: int):
    """Our model and the reference with the same initial weights (non-trivial BatchNorm statistics, so that
    the eval-mode outputs compared later mean something), and the input batch."""
    from detectors.rawnet2.model import VARIANT_SAMPLES, VARIANTS, RawNet2Model

    config = VARIANTS[variant]
    torch.manual_seed(seed)
    ours = RawNet2Model(config)
    ref = ReferenceRawNet2(config)
    x = 0.1 * torch.randn(batch, VARIANT_SAMPLES[variant])
    with torch.no_grad():
        for module in ours.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    ref.load_state_dict(ours.state_dict())
    return ours, ref, x, torch.arange(batch) % 2


def _time_reference(ref, x, y, reps: int, prefix: str = "ref"):
    """The reference's times as ``{prefix}_train_s`` (minimum), ``{prefix}_train_med`` and the same for
    ``infer``, and its eval-mode logits after the training steps."""
    ref.train()
    train = _timed(_train_step_fn(ref, x, y, torch.optim.Adam(ref.parameters(), lr=1e-4, weight_decay=1e-4)), reps)
    ref.eval()
    infer_min, infer_med, logits = _timed(_inference_fn(ref, x), reps, keep_first=True)
    times = {f"{prefix}_train_s": train[0], f"{prefix}_train_med": train[1],
             f"{prefix}_infer_s": infer_min, f"{prefix}_infer_med": infer_med}
    return times, logits


def benchmark_reference(variant: str, batch: int, reps: int, seed: int = 0) -> dict:
    """Phase 1, before anything changes the allocator: the reference as a user runs it (glibc defaults);
    its times and, under "expected", its logits."""
    _, ref, x, y = _models(variant, batch, seed)
    times, logits = _time_reference(ref, x, y, reps)
    return {**times, "expected": logits}


def benchmark_variant(variant: str, batch: int, reps: int, fast_modes=("bf16", "int8", "int8+bf16"),
                      seed: int = 0, reference: dict | None = None) -> dict:
    """Phase 2: ours, and the reference again under the allocator ours uses (``ref_heap_*``). ``reference``:
    the phase-1 result; without it the reference is timed only here."""
    from detectors.rawnet2.model import VARIANT_SAMPLES, VARIANTS
    from detectors.rawnet2.training import _make_optimizer, prepare_inference

    config, samples = VARIANTS[variant], VARIANT_SAMPLES[variant]
    ours, ref, x, y = _models(variant, batch, seed)
    row = {"variant": variant, "batch": batch, "samples": samples, "audio_s": batch * samples / config.sample_rate}
    times, expected = _time_reference(ref, x, y, reps, "ref_heap" if reference else "ref")
    row.update(times)
    if reference:
        row.update({k: v for k, v in reference.items() if k.startswith("ref_")})

    ours.train()
    row["ours_train_s"], row["ours_train_med"] = _timed(
        _train_step_fn(ours, x, y, _make_optimizer(ours, _cfg(), torch.device("cpu"))), reps)
    ours.load_state_dict(ref.state_dict())  # both took different steps: compare them on the same weights
    ours.eval()
    row["ours_infer_s"], row["ours_infer_med"], got = _timed(_inference_fn(ours, x), reps, keep_first=True)
    row["max_rel_diff"] = max_relative_difference(expected, got)
    if reference:  # the same function under both allocators: the same logits
        row["ref_phases_max_rel_diff"] = max_relative_difference(expected, reference["expected"])
    for mode in fast_modes:
        model, autocast = prepare_inference(ours, mode)
        row[f"ours_{mode}_infer_s"], _, got = _timed(_inference_fn(model, x, autocast), reps, keep_first=True)
        row[f"{mode}_max_rel_diff"] = max_relative_difference(expected, got)
    # FLOPs grow linearly with the batch: count one utterance
    row["ref_flops"] = batch * forward_flops(ref, x[:1])
    row["ours_flops"] = batch * forward_flops(ours, x[:1]) + fft_front_end_flops(
        batch, samples, config.sinc_filters, config.sinc_taps) * ours.sinc_conv.use_fft
    return row


def _cfg():
    from detectors.rawnet2.training import TrainConfig

    return TrainConfig()


def run(variants=("2021", "icassp21"), batches=(8, 32), reps: int = 2, fast_modes=("bf16", "int8", "int8+bf16"),
        threads: int | None = None, echo=print, clock: str = "wall") -> dict:
    from detectors.rawnet2 import model as rawnet2_model

    if threads:
        torch.set_num_threads(threads)
    CLOCK[0] = time.process_time if clock == "cpu" else time.perf_counter
    load_before = os.getloadavg()
    limits = {"fp32_gflops": matmul_gflops(torch.float32), "bf16_gflops": matmul_gflops(torch.bfloat16)}
    # Our model tells glibc to serve large blocks from the heap on first use (``reuse_freed_memory``), which
    # cannot be undone in-process. So: phase 1 times the reference as users run it, with glibc's defaults;
    # phase 2 sets the allocator, then times ours and the reference again under it (the code alone).
    phase1 = {}
    if rawnet2_model.allocator_untouched():
        for variant in variants:
            for batch in batches:
                echo(f"measuring the reference ({variant}, batch {batch}) with glibc's default allocator ...")
                phase1[variant, batch] = benchmark_reference(variant, batch, reps)
    allocator = "glibc defaults"
    if rawnet2_model.reuse_freed_memory():
        thp = rawnet2_model.transparent_huge_pages_mode()
        allocator = "heap (mmap off)" + {"madvise": ", 1.5 GB of it on advised huge pages",
                                         "always": ", huge pages (the kernel's default)"}.get(thp, "")
    rows = []
    for variant in variants:
        for batch in batches:
            echo(f"measuring {variant} at batch {batch} ...")
            rows.append(benchmark_variant(variant, batch, reps, fast_modes, reference=phase1.get((variant, batch))))
    return {"rows": rows, "limits": limits, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "load_before": load_before, "load_after": os.getloadavg(), "reps": reps, "torch": torch.__version__,
            "clock": clock, "allocator": allocator}


def format_report(result: dict, fast_modes=("bf16", "int8", "int8+bf16")) -> str:
    from tabulate import tabulate

    limits = result["limits"]
    head = ["variant", "batch", "train ref s", "train ours s", "speed-up", "infer ref s", "infer ours s",
            "speed-up", "RTF ref/ours"] + [f"{m} s (x ref)" for m in fast_modes] + ["max rel diff", "GFLOP fwd ref/ours",
                                                                                "GFLOP/s ref/ours (% limit)"]

    def speedup(r, kind: str, ours_key: str, digits: int = 2, form: str = "{} ({})") -> str:
        """ours vs the reference with glibc's defaults, and vs the reference under our allocator."""
        text = f"{r[f'ref_{kind}_s'] / r[ours_key]:.{digits}f}x"
        if f"ref_heap_{kind}_s" in r:
            text = form.format(text, f"{r[f'ref_heap_{kind}_s'] / r[ours_key]:.{digits}f}x")
        return text

    table = []
    for r in result["rows"]:
        fast = [f"{r[f'ours_{m}_infer_s']:.3f} ({speedup(r, 'infer', f'ours_{m}_infer_s', 1, '{} / {}')})" for m in fast_modes]
        table.append([r["variant"], r["batch"], f"{r['ref_train_s']:.3f}", f"{r['ours_train_s']:.3f}",
                      speedup(r, "train", "ours_train_s"), f"{r['ref_infer_s']:.3f}",
                      f"{r['ours_infer_s']:.3f}", speedup(r, "infer", "ours_infer_s"),
                      f"{r['ref_infer_s'] / r['audio_s']:.4f}/{r['ours_infer_s'] / r['audio_s']:.4f}", *fast, f"{r['max_rel_diff']:.1e}",
                      f"{r['ref_flops'] / 1e9:.1f}/{r['ours_flops'] / 1e9:.1f}",
                      f"{r['ref_flops'] / r['ref_infer_s'] / 1e9:.0f}/{r['ours_flops'] / r['ours_infer_s'] / 1e9:.0f} "
                      f"({100 * r['ours_flops'] / r['ours_infer_s'] / 1e9 / limits['fp32_gflops']:.0f}%)"])
    heap_rows = [r for r in result["rows"] if "ref_heap_train_s" in r]
    lines = [tabulate(table, head, tablefmt="github", disable_numparse=True), "",
             f"times ({result.get('clock', 'wall')} clock): minimum of {result['reps']} repetitions after a warm-up "
             f"(medians in --json); "
             f"{result['threads']} threads on {result['cpu_count']} CPUs; torch {result['torch']}",
             (f"ref = the literal reference as users run it (glibc's default malloc); ours runs with the allocator it "
              f"sets on CPU ({result.get('allocator', '?')}). In parentheses: against the reference timed again "
              f"under that allocator (the code alone; fast modes: after the /): train "
              + ", ".join(f"{r['ref_heap_train_s']:.3f}" for r in heap_rows) + " s, infer "
              + ", ".join(f"{r['ref_heap_infer_s']:.3f}" for r in heap_rows) + " s."
              if heap_rows else f"malloc for both models: {result.get('allocator', '?')}."),
             f"load average before {tuple(round(v, 2) for v in result['load_before'])}, "
             f"after {tuple(round(v, 2) for v in result['load_after'])} (a loaded machine inflates every time)",
             f"CPU arithmetic limit (2048^3 matmul): float32 {limits['fp32_gflops']:.0f} GFLOP/s, "
             f"bfloat16 {limits['bf16_gflops']:.0f} GFLOP/s",
             "RTF = inference seconds per second of audio (ref: the reference as users run it; its RTF shows how "
             "fast this machine is running now); max rel diff = max|ref - ours| / max|ref| of the logits "
             "(eval mode, float32); fast modes' differences are in --json.",
             ("train step = forward + weighted cross-entropy + backward + Adam (ours: fused Adam, fused-backward GRU, "
              "matrix-product backward of the wide convolutions).")]
    for r in result["rows"]:
        for m in fast_modes:
            lines.append(f"  {r['variant']} batch {r['batch']}: {m} max rel diff {r[f'{m}_max_rel_diff']:.1e}")
    return "\n".join(lines)


# ---- the command -------------------------------------------------------------------------------------
def _command():
    import json

    import click

    @click.command("rawnet2")
    @click.option("--variants", default="2021,icassp21", show_default=True,
                  help="Comma-separated: 2021, icassp21, asvspoof5.")
    @click.option("--batches", default="8,32", show_default=True, help="Comma-separated batch sizes.")
    @click.option("--reps", type=click.IntRange(min=1), default=2, show_default=True,
                  help="Timed repetitions per measurement (after one warm-up); fewer = quicker, noisier.")
    @click.option("--fast", "fast_modes", default="bf16,int8,int8+bf16", show_default=True,
                  help="Fast inference modes to time (comma-separated; 'none' for none).")
    @click.option("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    @click.option("--clock", type=click.Choice(["wall", "cpu"]), default="wall", show_default=True,
                  help="wall time, or process CPU time (use with --threads 1 on a loaded machine).")
    @click.option("--json", "json_out", default=None, metavar="FILE", help="Also write every number as JSON.")
    def perf_rawnet2(variants, batches, reps, fast_modes, threads, clock, json_out):
        """RawNet2 train step and inference time: ours vs a literal re-implementation of the official code,
        real-time factor, forward FLOPs and this CPU's matmul GFLOP/s (about 8 minutes on 2 cores)."""
        from detectors.rawnet2.model import VARIANTS
        from protocols.errors import ConfigError

        modes = tuple(m for m in fast_modes.split(",") if m and m != "none")
        names = tuple(v.strip() for v in variants.split(",") if v.strip())
        for name in names:
            if name not in VARIANTS:
                raise ConfigError(f"unknown RawNet2 variant {name!r}; choose {', '.join(VARIANTS)}")
        try:
            sizes = tuple(int(b) for b in batches.split(","))
        except ValueError:
            raise ConfigError(f"--batches must be comma-separated integers, got {batches!r}") from None
        result = run(names, sizes, reps, modes, threads, echo=lambda m: click.echo(m, err=True), clock=clock)
        click.echo(format_report(result, modes))
        if json_out:
            write_text_atomic(json_out, json.dumps(result, indent=1))

    return perf_rawnet2


perf_rawnet2 = _command()
