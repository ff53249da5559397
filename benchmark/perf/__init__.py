"""``bench perf``: speed and memory benchmarks (measured by scripts, never by timed unit tests), one module each:
``aasist``, ``rawnet2``, ``baselines`` (front ends and GMM), ``cache`` (feature-cache entries),
``eval`` (``bench eval``), ``demo`` (demo corpus build), ``augment`` (training with augmentation);
``spoofbench.detectors.cpu`` tells which vector instructions the numbers were measured with."""
from __future__ import annotations

import click

from spoofbench.detectors.cpu import describe_cpu_isa

from ..commands.lazy import LazyGroup


# The RawNet2 benchmark imports torch at module level: each subcommand is imported only when used, and
# `bench perf --help` shows the summaries (each the start of its command's docstring; a test keeps them in step).
@click.group(cls=LazyGroup, lazy={
    "aasist": ("spoofbench.benchmark.perf.aasist:perf_aasist",
               "AASIST train step and inference time: ours vs a literal re-implementation of the official code,"),
    "rawnet2": ("spoofbench.benchmark.perf.rawnet2:perf_rawnet2",
                "RawNet2 train step and inference time: ours vs a literal re-implementation of the official code"),
    "baselines": ("spoofbench.benchmark.perf.baselines:baselines",
                  "LFCC/CQCC extraction speed (x real time, one core) and GMM EM time per iteration vs scikit-learn."),
    "demo": ("spoofbench.benchmark.perf.demo:perf_demo",
             "Time the default demo corpus build (target: well under 30 s on 2 cores) and a full `describe` of it."),
    "eval": ("spoofbench.benchmark.perf.eval:perf_eval", "Wall time of `bench eval`"),
    "export": ("spoofbench.benchmark.perf.export:perf_export",
               "Per model and format (PyTorch float32, fast modes, ONNX float32 and int8): size, latency, RTF and "
               "eval EER."),
    "cache": ("spoofbench.benchmark.perf.cache:perf_cache", "Feature-cache entries of AUDIO files/folders"),
    "augment": ("spoofbench.benchmark.perf.augment:perf_augment",
                "Epoch time of a neural detector trained clean and with augmentation, side by side (RawBoost 3"),
    "serve": ("spoofbench.benchmark.perf.serve:perf_serve",
              "Load test of `bench serve` on localhost: requests/s, p50/p95/p99 latency and errors at each"),
})
@click.pass_context
def perf(ctx) -> None:
    """Speed benchmarks of the front ends, the GMM back end, RawNet2, `bench eval` and the demo corpus build
    on this machine (each prints the CPU's instruction-set class first)."""
    if not ctx.resilient_parsing:  # not while completing the command line
        click.echo(describe_cpu_isa())
