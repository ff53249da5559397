"""``bench perf aasist``: AASIST training-step and inference time, ours vs a literal reference of the official
code (:mod:`.aasist_reference`), side by side in one run; where the time goes; the arithmetic floor.

Both networks hold the same weights (seeded, with non-trivial BatchNorm statistics), so the table reports the
largest relative difference of their logits. The reference is timed as users run the official code, in a
child process with glibc's default allocator (``ref``), and again in this process under the allocator our
engine sets (``ref_heap``: the code alone); the repetitions of all of them take turns (``_interleaved`` of
``bench perf rawnet2``). The stage breakdown times the sinc front end, the six residual blocks of the 2-D
encoder and the graph half (graph attention, HS-GAL, readout) of each implementation, with the FLOPs that
``torch.utils.flop_counter`` counts for each; the floor is those FLOPs at this CPU's float32 matmul GFLOP/s.
``--eer-check`` trains the demo preset once and compares the eval EER of float32 and the fast modes.
"""
from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from spoofbench.protocols.files import write_text_atomic

from . import rawnet2 as common
from .aasist_reference import CONFIGS, SAMPLES, ReferenceAASIST

VARIANTS = tuple(CONFIGS)
CLASS_WEIGHTS = (0.1, 0.9)  # the official cross-entropy weights [spoof, bona fide]


def _models(variant: str, batch: int, samples: int, seed: int):
    """Ours and the reference with the same seeded weights, and the (batch, samples) input and labels."""
    from spoofbench.detectors.aasist.model import VARIANTS as OURS
    from spoofbench.detectors.aasist.model import AASISTModel

    torch.manual_seed(seed)
    ours = AASISTModel(OURS[variant])
    with torch.no_grad():
        for module in ours.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    ref = ReferenceAASIST(CONFIGS[variant])
    ref.load_state_dict(ours.state_dict())
    x = 0.1 * torch.randn(batch, samples)
    return ours, ref, x, torch.arange(batch) % 2


def _logits(model, x):
    out = model(x)
    return out[1] if isinstance(out, tuple) else out  # the reference returns (last_hidden, logits)


def _train_step_fn(model, x, y, optimizer):
    weights = torch.tensor(CLASS_WEIGHTS)

    def step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(_logits(model, x), y, weight=weights).backward()
        optimizer.step()
    return step


def _reference_step_fn(ref, x, y):
    """The official optimiser: plain Adam, lr 1e-4, weight decay 1e-4. Step i draws its dropout masks from
    seed i, so that the reference in the child process and in this one take the same steps."""
    step, calls = _train_step_fn(ref, x, y, torch.optim.Adam(ref.parameters(), lr=1e-4, weight_decay=1e-4)), [0]

    def seeded_step():
        calls[0] += 1
        with torch.random.fork_rng():
            torch.manual_seed(calls[0])
            step()
    return seeded_step


def _inference_fn(model, x, autocast=None):
    def run():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast == "bf16"):
            return _logits(model, x).float()
    return run


# ---- the reference as users run it: a child process with glibc's default allocator ---------------------
class ReferenceProcess(common.ReferenceProcess):
    """As :class:`spoofbench.benchmark.perf.rawnet2.ReferenceProcess`, serving the AASIST reference."""

    def __init__(self, variant: str, batch: int, samples: int, seed: int = 0):
        import json
        import subprocess
        import sys

        clock = next(name for name, fn in common.CLOCKS.items() if fn is common.CLOCK[0])
        spec = {"variant": variant, "batch": batch, "samples": samples, "seed": seed,
                "threads": torch.get_num_threads(), "clock": clock}
        env = {**os.environ, "SPOOFBENCH_MALLOPT": "0"}
        self._proc = subprocess.Popen([sys.executable, "-m", "spoofbench.benchmark.perf.aasist", json.dumps(spec)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def _serve_reference(spec: dict) -> None:
    import json
    import sys

    torch.set_num_threads(spec["threads"])
    common.CLOCK[0] = common.CLOCKS[spec["clock"]]
    _, ref, x, y = _models(spec["variant"], spec["batch"], spec["samples"], spec["seed"])
    step, infer = _reference_step_fn(ref, x, y), _inference_fn(ref, x)
    for line in sys.stdin:
        command = line.strip()
        ref.train(command == "train")
        if command == "logits":
            reply = infer().tolist()
        else:
            start = common.CLOCK[0]()
            step() if command == "train" else infer()
            reply = common.CLOCK[0]() - start
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


# ---- where the time goes ------------------------------------------------------------------------------
def _stages(model) -> list:
    """(name, function) of each stage, each taking the previous stage's output; the first takes the waveform."""
    if isinstance(model, ReferenceAASIST):
        sinc = [("sinc conv", lambda x: model.conv_time(x.unsqueeze(1)).unsqueeze(1)),
                ("|x|, 3x3 pool, BN, SELU", lambda s: model.selu(model.first_bn(F.max_pool2d(torch.abs(s), (3, 3)))))]
        graph = model.graph_stages
    else:
        from spoofbench.detectors.aasist.model import sinc_band_pool

        bands = model.config.spectral_nodes
        sinc = [("sinc conv", lambda x: model.conv_time(x.unsqueeze(1))),
                ("|x|, 3x3 pool, BN, SELU", lambda s: F.selu(model.first_bn(sinc_band_pool(s, bands))))]
        graph = model.graph_readout
    blocks = [(f"encoder block {i}", block) for i, block in enumerate(model.encoder)]
    return sinc + blocks + [("graph attention, HS-GAL, readout", graph)]


def stage_profile(model, x, reps: int) -> list[dict]:
    """Seconds (minimum over ``reps`` passes after a warm-up) and FLOPs of each stage of an inference."""
    from torch.utils.flop_counter import FlopCounterMode

    stages = _stages(model.eval())
    times = {name: [] for name, _ in stages}
    flops = {}
    with torch.inference_mode():
        for rep in range(reps + 1):
            value = x
            for name, fn in stages:
                start = common.CLOCK[0]()
                value = fn(value)
                if rep:
                    times[name].append(common.CLOCK[0]() - start)
    with torch.no_grad():
        value = x[:1]  # FLOPs grow linearly with the batch: count one utterance
        for name, fn in stages:
            counter = FlopCounterMode(display=False)
            with counter:
                value = fn(value)
            flops[name] = len(x) * int(counter.get_total_flops())
    return [{"stage": name, "s": min(times[name]), "flops": flops[name]} for name, _ in stages]


def forward_flops(model, x) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:  # (the counter's module hooks fail under inference_mode)
        _logits(model.eval(), x[:1])
    return len(x) * int(counter.get_total_flops())


# ---- the side-by-side run ------------------------------------------------------------------------------
def fast_model(model: nn.Module, mode: str):
    """The model and autocast dtype of ``fast_inference=mode``, as the aasist detector prepares them."""
    from spoofbench.detectors.aasist.detector import AASIST
    from spoofbench.detectors.neural.inference import prepare_inference

    return prepare_inference(model, mode, AASIST.int8_modules)


def benchmark_variant(variant: str, batch: int, reps: int, fast_modes=("int8",), samples: int = SAMPLES,
                      seed: int = 0) -> dict:
    from spoofbench.detectors.neural.training import TrainingRecipe, make_optimizer

    ours, ref, x, y = _models(variant, batch, samples, seed)
    row = {"variant": variant, "batch": batch, "samples": samples, "audio_s": batch * samples / 16000}
    child = ReferenceProcess(variant, batch, samples, seed)
    try:
        optimizer = make_optimizer(ours, TrainingRecipe(lr=1e-4, weight_decay=1e-4), torch.device("cpu"))
        train = {"ref": lambda: child.ask("train"), "ref_heap": _reference_step_fn(ref, x, y),
                 "ours": _train_step_fn(ours, x, y, optimizer)}
        ref.train()
        ours.train()
        times = {f"{name}_train": t for name, t in common._interleaved(train, reps).items()}

        ref.eval()
        ours.eval()
        ours.load_state_dict(ref.state_dict())  # both took different steps: compare them on the same weights
        infer = {"ref": lambda: child.ask("infer"), "ref_heap": _inference_fn(ref, x), "ours": _inference_fn(ours, x)}
        expected = infer["ref_heap"]()
        row["max_rel_diff"] = common.max_relative_difference(expected, infer["ours"]())
        row["ref_phases_max_rel_diff"] = common.max_relative_difference(expected, torch.tensor(child.ask("logits")))
        for mode in fast_modes:
            model, autocast = fast_model(ours, mode)
            infer[f"ours_{mode}"] = _inference_fn(model, x, autocast)
            row[f"{mode}_max_rel_diff"] = common.max_relative_difference(expected, infer[f"ours_{mode}"]())
        times.update({f"{name}_infer": t for name, t in common._interleaved(infer, reps).items()})
    finally:
        child.close()
    for key, (minimum, median) in times.items():
        row[f"{key}_s"], row[f"{key}_med"] = minimum, median
    row["ref_flops"], row["ours_flops"] = forward_flops(ref, x), forward_flops(ours, x)
    row["stages"] = {"ref": stage_profile(ref, x, reps), "ours": stage_profile(ours, x, reps)}
    return row


def run(variants=("aasist",), batches=(8, 16), reps: int = 2, fast_modes=("int8",), threads: int | None = None,
        samples: int = SAMPLES, echo=print, clock: str = "wall") -> dict:
    """Measure (see the module docstring); ours runs under the engine's allocator, the reference's child not."""
    return common.measure_grid(lambda variant, batch: benchmark_variant(variant, batch, reps, fast_modes, samples),
                               variants, batches, reps, fast_modes, threads, echo, clock)


def format_report(result: dict) -> str:
    from tabulate import tabulate

    modes, limit = result["fast_modes"], result["limits"]["fp32_gflops"]
    head = ["variant", "batch", "train ref s", "train ours s", "speed-up", "infer ref s", "infer ours s", "speed-up",
            "RTF ref/ours"] + [f"{m} s (x ref)" for m in modes] + ["max rel diff", "GFLOP fwd ref/ours",
                                                                   "floor s (ours/floor)"]

    def ratio(r, kind, key, digits=2):
        """ours vs the reference with glibc's defaults (vs the reference under our allocator)."""
        return " ".join(f"{r[f'{ref}_{kind}_s'] / r[key]:.{digits}f}x" for ref in ("ref", "ref_heap")) \
            .replace(" ", " (", 1) + ")"

    table = []
    for r in result["rows"]:
        floor = r["ours_flops"] / limit / 1e9
        table.append([r["variant"], r["batch"], f"{r['ref_train_s']:.3f}", f"{r['ours_train_s']:.3f}",
                      ratio(r, "train", "ours_train_s"), f"{r['ref_infer_s']:.3f}", f"{r['ours_infer_s']:.3f}",
                      ratio(r, "infer", "ours_infer_s"),
                      f"{r['ref_infer_s'] / r['audio_s']:.3f}/{r['ours_infer_s'] / r['audio_s']:.3f}",
                      *(f"{r[f'ours_{m}_infer_s']:.3f} ({r['ref_infer_s'] / r[f'ours_{m}_infer_s']:.1f}x)"
                        for m in modes),
                      f"{r['max_rel_diff']:.1e}", f"{r['ref_flops'] / 1e9:.1f}/{r['ours_flops'] / 1e9:.1f}",
                      f"{floor:.3f} ({r['ours_infer_s'] / floor:.1f}x)"])
    bf16 = result["limits"].get("bf16_gflops")
    lines = [tabulate(table, head, tablefmt="github", disable_numparse=True), "",
             f"times ({result['clock']} clock): minimum of {result['reps']} repetitions after a warm-up, the "
             f"implementations taking turns (medians in --json); {result['threads']} threads on "
             f"{result['cpu_count']} CPUs; torch {result['torch']}",
             f"ref = the literal reference of the official code as users run it (a child process, glibc's default "
             f"malloc); in parentheses: against the reference in this process under our allocator "
             f"({result['allocator']}), the code alone.",
             f"load average before {tuple(round(v, 2) for v in result['load_before'])}, after "
             f"{tuple(round(v, 2) for v in result['load_after'])}",
             f"CPU arithmetic limit (2048^3 matmul): float32 {limit:.0f} GFLOP/s"
             + (f", bfloat16 {bf16:.0f} GFLOP/s" if bf16 else ", bfloat16 emulated (not measured)")
             + "; floor = ours's forward FLOPs at the float32 limit",
             "RTF = inference seconds per second of audio; max rel diff = max|ref - ours| / max|ref| of the logits "
             "(eval, float32); train step = forward + weighted cross-entropy + backward + Adam (ours: fused Adam)."]
    for r in result["rows"]:
        lines.append(f"  {r['variant']} batch {r['batch']}: " + ", ".join(
            f"{m} max rel diff {r[f'{m}_max_rel_diff']:.1e}" for m in modes)
            + f"; reference child vs this process {r['ref_phases_max_rel_diff']:.1e}")
    lines += ["", format_stages(result)]
    return "\n".join(lines)


def format_stages(result: dict) -> str:
    """Per stage: reference and ours seconds, share of ours's total, GFLOP and the GFLOP/s reached."""
    from tabulate import tabulate

    limit = result["limits"]["fp32_gflops"]
    out = []
    for r in result["rows"]:
        ref, ours = r["stages"]["ref"], r["stages"]["ours"]
        total = sum(s["s"] for s in ours)
        rows = [[o["stage"], f"{f['s']:.3f}", f"{o['s']:.3f}", f"{f['s'] / max(o['s'], 1e-9):.1f}x",
                 f"{100 * o['s'] / total:.0f}%", f"{f['flops'] / 1e9:.2f}/{o['flops'] / 1e9:.2f}",
                 f"{o['flops'] / max(o['s'], 1e-9) / 1e9:.0f}", f"{o['flops'] / limit / 1e9:.3f}"]
                for f, o in zip(ref, ours)]
        rows.append(["total", f"{sum(s['s'] for s in ref):.3f}", f"{total:.3f}",
                     f"{sum(s['s'] for s in ref) / total:.1f}x", "100%",
                     f"{sum(s['flops'] for s in ref) / 1e9:.2f}/{sum(s['flops'] for s in ours) / 1e9:.2f}",
                     f"{sum(s['flops'] for s in ours) / total / 1e9:.0f}",
                     f"{sum(s['flops'] for s in ours) / limit / 1e9:.3f}"])
        out += [f"where the time goes: {r['variant']}, batch {r['batch']}, inference (stage by stage, both in this "
                f"process)", tabulate(rows, ["stage", "ref s", "ours s", "speed-up", "share", "GFLOP ref/ours",
                                             "GFLOP/s ours", "floor s"], tablefmt="github", disable_numparse=True),
                ""]
    return "\n".join(out).rstrip()


# ---- the command --------------------------------------------------------------------------------------
def _command():
    import json

    import click

    @click.command("aasist")
    @click.option("--variants", default="aasist", show_default=True, help="Comma-separated: aasist, aasist-l.")
    @click.option("--batches", default="8,16", show_default=True, help="Comma-separated batch sizes.")
    @click.option("--reps", type=click.IntRange(min=1), default=2, show_default=True,
                  help="Timed repetitions per measurement (after one warm-up).")
    @click.option("--fast", "fast_modes", default="int8,bf16", show_default=True,
                  help="Fast inference modes to time (comma-separated; 'none' for none; bf16 only where native).")
    @click.option("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    @click.option("--samples", type=click.IntRange(min=2400), default=SAMPLES, show_default=True,
                  help="Input samples per utterance (the official 64,600; fewer for a quick look, at least 2,400: the "
                       "seven 3x poolings must leave one frame).")
    @click.option("--clock", type=click.Choice(["wall", "cpu"]), default="wall", show_default=True,
                  help="wall time, or process CPU time (use with --threads 1 on a loaded machine).")
    @click.option("--eer-check", is_flag=True,
                  help="Also fit --eer-preset on the demo corpus once and compare the eval EER of float32 and "
                       "the fast modes (minutes).")
    @click.option("--eer-preset", default="aasist.small", show_default=True,
                  help="The detector of --eer-check: a preset trained on the demo corpus, or a pre-trained one "
                       "(e.g. aasist.pretrained-la19, scored as shipped).")
    @click.option("--eer-eval", type=click.IntRange(min=100), default=1800, show_default=True,
                  help="Eval trials of --eer-check's demo corpus (a quarter bona fide: the default demo "
                       "corpus's 112 cannot resolve a 0.5-point change).")
    @click.option("--json", "json_out", default=None, metavar="FILE", help="Also write every number as JSON.")
    def perf_aasist(variants, batches, reps, fast_modes, threads, samples, clock, eer_check, eer_preset, eer_eval,
                    json_out):
        """AASIST train step and inference time: ours vs a literal re-implementation of the official code,
        where the time goes per stage, the float32 floor, fast modes (about 10 minutes on 2 cores)."""
        from spoofbench.detectors.neural.inference import supported_fast_mode

        names, sizes = common.parse_grid("AASIST", variants, batches, VARIANTS)
        modes = []
        for mode in (m.strip() for m in fast_modes.split(",") if m.strip() and m.strip() != "none"):
            actual = supported_fast_mode(mode)  # bf16 only where native: the fallback is timed once
            if actual != "off" and actual not in modes:
                modes.append(actual)
        result = run(names, sizes, reps, tuple(modes), threads, samples, lambda m: click.echo(m, err=True), clock)
        click.echo(format_report(result))
        if eer_check:
            from .aasist_eer import eer_check as check
            from .aasist_eer import format_eer

            result["eer_check"] = check(tuple(modes), eer_preset, echo=lambda m: click.echo(m, err=True),
                                        eval_trials=eer_eval)
            click.echo("\n" + format_eer(result["eer_check"]))
        if json_out:
            write_text_atomic(json_out, json.dumps(result, indent=1))

    return perf_aasist


perf_aasist = _command()


if __name__ == "__main__":  # the reference process (see ReferenceProcess)
    import json
    import sys

    _serve_reference(json.loads(sys.argv[1]))
