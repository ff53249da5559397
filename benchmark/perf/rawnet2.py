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

The reference is timed twice: as users run the official code, in a child process with glibc's default
allocator (which maps and unmaps every block over 32 MB, so large feature maps page-fault in anew on every
pass), and in this process under the allocator our model sets on CPU (``reuse_freed_memory``), so that the
second ratio compares the code alone. The repetitions of all of them take turns (``_interleaved``).
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

from spoofbench.detectors.cpu import cpu_isa
from spoofbench.detectors.devices import torch_threads
from spoofbench.protocols.files import write_text_atomic


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
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _timed(fn, reps: int):
    """(min, median) seconds of ``reps`` calls after a warm-up call."""
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = CLOCK[0]()
        fn()
        times.append(CLOCK[0]() - start)
    return min(times), statistics.median(times)


def _train_step_fn(model, x, y, optimizer):
    weights = torch.tensor([1.0, 9.0])

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y, weight=weights)
        loss.backward()
        optimizer.step()
    return step


def _reference_step_fn(ref, x, y):
    """A training step of the reference with the official optimiser: plain Adam, lr 1e-4, weight decay 1e-4."""
    return _train_step_fn(ref, x, y, torch.optim.Adam(ref.parameters(), lr=1e-4, weight_decay=1e-4))


def _inference_fn(model, x, autocast=None):
    def run():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast == "bf16"):
            return model(x).float()
    return run


def forward_flops(model, x) -> int:
    """FLOPs of ``model(x)`` counted by ``torch.utils.flop_counter``. Our GRU's packed products (oneDNN's or
    MKL's linear ops) are invisible to the counter: they run as ``addmm`` (the same arithmetic) while counting."""
    from torch.utils.flop_counter import FlopCounterMode

    from spoofbench.detectors.rawnet2 import gru

    counter = FlopCounterMode(display=False)
    packed, gru.PACKED_GEMM = gru.PACKED_GEMM, "none"
    try:
        with torch.no_grad(), counter:
            model(x)
    finally:
        gru.PACKED_GEMM = packed
    return int(counter.get_total_flops())


def fft_front_end_flops(batch: int, samples: int, n_filters: int, taps: int) -> int:
    """Estimate of our overlap-save front end: 2.5 N log2 N real FFT flops per block (one forward per block,
    one inverse per filter and block) plus 6 flops per complex product."""
    from spoofbench.detectors.rawnet2.model import fft_block_size

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
    from spoofbench.detectors.rawnet2.model import VARIANT_SAMPLES, VARIANTS, RawNet2Model

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


def _interleaved(fns: dict, reps: int) -> dict:
    """{name: (min, median)} seconds of each function, after one warm-up call each. The repetitions take turns
    (A B C, A B C, ...) so that every implementation sees the same machine: its speed drifts by 10-20 % over
    minutes, which timing one implementation after the other turns into errors of the ratios. A function may
    return its own elapsed seconds (the reference process times itself); otherwise it is timed here."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = CLOCK[0]()
            measured = fn()
            elapsed = CLOCK[0]() - start
            times[name].append(measured if isinstance(measured, float) else elapsed)
    return {name: (min(t), statistics.median(t)) for name, t in times.items()}


class ReferenceProcess:
    """The literal reference in a child process, as users run the official code: glibc's default allocator
    (ours changes it for its whole process, irreversibly). It builds the same weights and batch from the seed
    and answers one command per line: "train" and "infer" (one timed call; replies its seconds), "logits"."""

    def __init__(self, variant: str, batch: int, seed: int = 0):
        import json
        import subprocess
        import sys

        clock = next(name for name, fn in CLOCKS.items() if fn is CLOCK[0])
        spec = {"variant": variant, "batch": batch, "seed": seed, "threads": torch.get_num_threads(), "clock": clock}
        env = {**os.environ, "SPOOFBENCH_MALLOPT": "0"}
        self._proc = subprocess.Popen([sys.executable, "-m", "spoofbench.benchmark.perf.rawnet2", json.dumps(spec)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, command: str):
        import json

        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the reference process ended (exit code {self._proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            self._proc.wait()


def _serve_reference(spec: dict) -> None:
    """The child side of :class:`ReferenceProcess`."""
    import json
    import sys

    torch.set_num_threads(spec["threads"])
    CLOCK[0] = CLOCKS[spec["clock"]]
    _, ref, x, y = _models(spec["variant"], spec["batch"], spec["seed"])
    step = _reference_step_fn(ref, x, y)
    infer = _inference_fn(ref, x)
    for line in sys.stdin:
        command = line.strip()
        ref.train(command == "train")
        if command == "logits":
            reply = infer().tolist()
        else:
            start = CLOCK[0]()
            step() if command == "train" else infer()
            reply = CLOCK[0]() - start
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def fast_model(model: nn.Module, mode: str) -> tuple[nn.Module, str | None]:
    """The model and autocast dtype a fast mode scores with, exactly as ``rawnet2`` with ``fast_inference=mode``
    prepares them: int8 for the layers the detector quantises (the GRU and the classifier), not every Linear."""
    from spoofbench.detectors.neural.inference import prepare_inference
    from spoofbench.detectors.rawnet2.detector import RawNet2

    return prepare_inference(model, mode, RawNet2.int8_modules)


def benchmark_variant(variant: str, batch: int, reps: int, fast_modes=("bf16", "int8", "int8+bf16"),
                      seed: int = 0) -> dict:
    """Times of ours, of the reference in a child process with glibc's defaults (``ref_*``) and of the
    reference in this process under ours's allocator (``ref_heap_*``), every repetition interleaved (see
    ``_interleaved``)."""
    from spoofbench.detectors.neural.training import make_optimizer
    from spoofbench.detectors.rawnet2.model import VARIANT_SAMPLES, VARIANTS

    config, samples = VARIANTS[variant], VARIANT_SAMPLES[variant]
    ours, ref, x, y = _models(variant, batch, seed)
    row = {"variant": variant, "batch": batch, "samples": samples, "audio_s": batch * samples / config.sample_rate}
    child = ReferenceProcess(variant, batch, seed)
    try:
        train = {"ref": lambda: child.ask("train"), "ref_heap": _reference_step_fn(ref, x, y),
                 "ours": _train_step_fn(ours, x, y, make_optimizer(ours, _cfg(), torch.device("cpu")))}
        ref.train()
        ours.train()
        times = {f"{name}_train": t for name, t in _interleaved(train, reps).items()}

        ref.eval()
        ours.eval()
        ours.load_state_dict(ref.state_dict())  # both took different steps: compare them on the same weights
        infer = {"ref": lambda: child.ask("infer"), "ref_heap": _inference_fn(ref, x), "ours": _inference_fn(ours, x)}
        expected = infer["ref_heap"]()
        row["max_rel_diff"] = max_relative_difference(expected, infer["ours"]())
        # the same function in both processes: the same logits
        row["ref_phases_max_rel_diff"] = max_relative_difference(expected, torch.tensor(child.ask("logits")))
        for mode in fast_modes:
            model, autocast = fast_model(ours, mode)
            infer[f"ours_{mode}"] = _inference_fn(model, x, autocast)
            row[f"{mode}_max_rel_diff"] = max_relative_difference(expected, infer[f"ours_{mode}"]())
        times.update({f"{name}_infer": t for name, t in _interleaved(infer, reps).items()})
    finally:
        child.close()
    for key, (minimum, median) in times.items():
        row[f"{key}_s"], row[f"{key}_med"] = minimum, median
    # FLOPs grow linearly with the batch: count one utterance
    row["ref_flops"] = batch * forward_flops(ref, x[:1])
    row["ours_flops"] = batch * forward_flops(ours, x[:1]) + fft_front_end_flops(
        batch, samples, config.sinc_filters, config.sinc_taps) * ours.sinc_conv.use_fft
    return row


def _cfg():
    from spoofbench.detectors.neural.training import TrainingRecipe

    return TrainingRecipe()


def measure_grid(row, variants, batches, reps: int, fast_modes, threads: int | None = None, echo=print,
                 clock: str = "wall") -> dict:
    """``row(variant, batch)`` for every variant and batch size, with what every perf report states beside the
    times: this CPU's arithmetic limits, load, threads, allocator. Shared by the per-family benchmarks; torch's
    thread count is restored afterwards."""
    from spoofbench.detectors.neural import memory

    with torch_threads(threads):
        CLOCK[0] = CLOCKS[clock]
        load_before = os.getloadavg()
        isa = cpu_isa()
        # emulated bfloat16 products (no AVX-512 BF16 / AMX, or kernels restricted to AVX2) are not an arithmetic
        # limit worth a number: not measured (None), reported as emulated
        limits = {"fp32_gflops": matmul_gflops(torch.float32),
                  "bf16_gflops": matmul_gflops(torch.bfloat16) if isa["bf16_native"] else None}
        # The engine tells glibc to serve large blocks from the heap (``memory.reuse_freed_memory``), which
        # cannot be undone in-process: the reference as users run it (glibc's defaults) runs in a child process.
        memory.reuse_freed_memory()
        rows = []
        for variant in variants:
            for batch in batches:
                echo(f"measuring {variant} at batch {batch} ...")
                rows.append(row(variant, batch))
        return {"rows": rows, "limits": limits, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                "cpu_isa": isa, "load_before": load_before, "load_after": os.getloadavg(), "reps": reps,
                "torch": torch.__version__, "clock": clock, "allocator": memory.allocator_description(),
                "fast_modes": list(fast_modes)}


def parse_grid(family: str, variants: str, batches: str, known) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The ``--variants`` and ``--batches`` options of a perf command, checked (one-line ConfigError)."""
    from spoofbench.protocols.errors import ConfigError

    names = tuple(v.strip() for v in variants.split(",") if v.strip())
    for name in names:
        if name not in known:
            raise ConfigError(f"unknown {family} variant {name!r}; choose {', '.join(known)}")
    try:
        sizes = tuple(int(b) for b in batches.split(","))
    except ValueError:
        raise ConfigError(f"--batches must be comma-separated integers, got {batches!r}") from None
    return names, sizes


def run(variants=("2021", "icassp21"), batches=(8, 32), reps: int = 2, fast_modes=("bf16", "int8", "int8+bf16"),
        threads: int | None = None, echo=print, clock: str = "wall") -> dict:
    """Measure (see the module docstring)."""
    return measure_grid(lambda variant, batch: benchmark_variant(variant, batch, reps, fast_modes), variants,
                        batches, reps, fast_modes, threads, echo, clock)


def format_report(result: dict, fast_modes=("bf16", "int8", "int8+bf16")) -> str:
    from tabulate import tabulate

    limits = result["limits"]
    head = ["variant", "batch", "train ref s", "train ours s", "speed-up", "infer ref s", "infer ours s",
            "speed-up", "RTF ref/ours"] + [f"{m} s (x ref)" for m in fast_modes] + [
        "max rel diff", "GFLOP fwd ref/ours", "GFLOP/s ref/ours (% limit)"]

    def speedup(r, kind: str, ours_key: str, digits: int = 2, form: str = "{} ({})") -> str:
        """ours vs the reference with glibc's defaults, and vs the reference under our allocator."""
        return form.format(*(f"{r[f'{ref}_{kind}_s'] / r[ours_key]:.{digits}f}x" for ref in ("ref", "ref_heap")))

    table = []
    for r in result["rows"]:
        fast = [f"{r[f'ours_{m}_infer_s']:.3f} ({speedup(r, 'infer', f'ours_{m}_infer_s', 1, '{} / {}')})"
                for m in fast_modes]
        table.append([r["variant"], r["batch"], f"{r['ref_train_s']:.3f}", f"{r['ours_train_s']:.3f}",
                      speedup(r, "train", "ours_train_s"), f"{r['ref_infer_s']:.3f}",
                      f"{r['ours_infer_s']:.3f}", speedup(r, "infer", "ours_infer_s"),
                      f"{r['ref_infer_s'] / r['audio_s']:.4f}/{r['ours_infer_s'] / r['audio_s']:.4f}", *fast,
                      f"{r['max_rel_diff']:.1e}",
                      f"{r['ref_flops'] / 1e9:.1f}/{r['ours_flops'] / 1e9:.1f}",
                      f"{r['ref_flops'] / r['ref_infer_s'] / 1e9:.0f}/{r['ours_flops'] / r['ours_infer_s'] / 1e9:.0f} "
                      f"({100 * r['ours_flops'] / r['ours_infer_s'] / 1e9 / limits['fp32_gflops']:.0f}%)"])
    lines = [tabulate(table, head, tablefmt="github", disable_numparse=True), "",
             f"times ({result.get('clock', 'wall')} clock): minimum of {result['reps']} repetitions after a warm-up, "
             f"the implementations taking turns (medians in --json); "
             f"{result['threads']} threads on {result['cpu_count']} CPUs; torch {result['torch']}",
             (f"ref = the literal reference as users run it (a child process with glibc's default malloc); ours runs "
              f"with the allocator it sets on CPU ({result.get('allocator', '?')}). In parentheses: against the "
              f"reference timed again "
              f"under that allocator (the code alone; fast modes: after the /): train "
              + ", ".join(f"{r['ref_heap_train_s']:.3f}" for r in result["rows"]) + " s, infer "
              + ", ".join(f"{r['ref_heap_infer_s']:.3f}" for r in result["rows"]) + " s."),
             f"load average before {tuple(round(v, 2) for v in result['load_before'])}, "
             f"after {tuple(round(v, 2) for v in result['load_after'])} (a loaded machine inflates every time)",
             f"CPU arithmetic limit (2048^3 matmul): float32 {limits['fp32_gflops']:.0f} GFLOP/s, "
             + (f"bfloat16 {limits['bf16_gflops']:.0f} GFLOP/s" if limits.get("bf16_gflops") is not None
                else "bfloat16 emulated on this CPU (not measured)"),
             "RTF = inference seconds per second of audio (ref: the reference as users run it; its RTF shows how "
             "fast this machine is running now); max rel diff = max|ref - ours| / max|ref| of the logits "
             "(eval mode, float32); fast modes' differences are in --json.",
             ("train step = forward + weighted cross-entropy + backward + Adam (ours: fused Adam, fused-backward GRU, "
              "matrix-product backward of the wide convolutions).")]
    # both references took the same training steps: the same function, whatever the allocator
    phases = max(r["ref_phases_max_rel_diff"] for r in result["rows"])
    lines.append(f"reference in the child process vs in this one: max rel diff of the logits {phases:.1e}")
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
        from spoofbench.detectors.rawnet2.model import VARIANTS

        modes = tuple(m for m in fast_modes.split(",") if m and m != "none")
        names, sizes = parse_grid("RawNet2", variants, batches, VARIANTS)
        result = run(names, sizes, reps, modes, threads, echo=lambda m: click.echo(m, err=True), clock=clock)
        click.echo(format_report(result, modes))
        if json_out:
            write_text_atomic(json_out, json.dumps(result, indent=1))

    return perf_rawnet2


perf_rawnet2 = _command()


if __name__ == "__main__":  # the reference process (see ReferenceProcess)
    import json
    import sys

    _serve_reference(json.loads(sys.argv[1]))
