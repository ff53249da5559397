"""``bench perf``: speed and memory benchmarks (measured by scripts, never by timed unit tests)."""
from __future__ import annotations

import click


@click.group()
def perf() -> None:
    """Speed benchmarks of the front ends, the GMM back end and RawNet2 on this machine."""


from .evaluate import perf_eval  # noqa: E402  (bench perf eval)
perf.add_command(perf_eval)
from ..perf_rawnet2 import perf_rawnet2  # noqa: E402  (bench perf rawnet2)
perf.add_command(perf_rawnet2)
from ..perf_baselines import baselines  # noqa: E402  (bench perf baselines)
perf.add_command(baselines)
