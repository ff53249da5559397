"""``bench perf``: speed and memory benchmarks (measured by scripts, never by timed unit tests)."""
from __future__ import annotations

import click

from .lazy import LazyGroup


# The RawNet2 benchmark imports torch at module level (~1.5 s of start-up for every command, `bench perf --help`
# included): each subcommand is imported only when used; the summaries are what `bench perf --help` shows.
@click.group(cls=LazyGroup, lazy={
    "rawnet2": ("spoofbench.benchmark.perf_rawnet2:perf_rawnet2",
                "RawNet2 train step and inference time: ours vs a literal re-implementation of the official code"),
    "baselines": ("spoofbench.benchmark.perf_baselines:baselines",
                  "LFCC/CQCC extraction speed (x real time, one core) and GMM EM time per iteration vs scikit-learn."),
    "demo": ("spoofbench.benchmark.commands.data:perf_demo",
             "Time the default demo corpus build (target: well under 30 s on 2 cores) and a full `describe` of it."),
    "eval": ("spoofbench.benchmark.commands.evaluate:perf_eval", "Wall time of `bench eval`"),
})
def perf() -> None:
    """Speed benchmarks of the front ends, the GMM back end and RawNet2 on this machine."""
