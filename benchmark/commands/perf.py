"""``bench perf``: speed and memory benchmarks (measured by scripts, never by timed unit tests)."""
from __future__ import annotations

import click


@click.group()
def perf() -> None:
    """Speed benchmarks of the front ends, the GMM back end and RawNet2 on this machine."""
