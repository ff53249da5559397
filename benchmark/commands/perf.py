"""``bench perf``: speed and memory benchmarks (measured by scripts, never by timed unit tests)."""
from __future__ import annotations

import click


@click.group()
def perf() -> None:
    """Speed benchmarks of the front ends, the GMM back end and RawNet2 on this machine."""


from .evaluate import perf_eval  # noqa: E402  (bench perf eval)
perf.add_command(perf_eval)
