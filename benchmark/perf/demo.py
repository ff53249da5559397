"""``bench perf demo``: time the demo corpus build and a full ``bench data describe`` of it."""
from __future__ import annotations

import os
import time

import click
from tabulate import tabulate

from ..commands.data import _folder_size


@click.command("demo")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Processes rendering audio [default: as `bench data demo`, up to 2].")
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="Build into this new folder and keep it [default: a temporary folder, removed].")
def perf_demo(jobs, keep):
    """Time the default demo corpus build (target: well under 30 s on 2 cores) and a full `describe` of it.

    Prints wall and CPU seconds, files, MB and hours of audio, and the machine's load, since a loaded
    machine stretches wall time."""
    import resource
    import shutil
    import tempfile

    from spoofbench.protocols.demo import make_demo_corpus
    from spoofbench.protocols.describe import describe_corpus
    from spoofbench.protocols.errors import BenchError

    if keep is not None and os.path.exists(keep):
        raise BenchError(f"{keep}: exists; --keep needs a new folder (a reused corpus would time nothing)")
    base = keep or tempfile.mkdtemp(prefix="bench-perf-demo-")
    root = os.path.join(base, "demo") if keep is None else keep
    load_before = os.getloadavg()
    try:
        cpu0 = _cpu_seconds(resource)
        t0 = time.perf_counter()
        info = make_demo_corpus(root, jobs=jobs)
        build_wall = time.perf_counter() - t0
        build_cpu = _cpu_seconds(resource) - cpu0
        t0 = time.perf_counter()
        report = describe_corpus(root, check="full")
        describe_wall = time.perf_counter() - t0
        n_files, size = _folder_size(root)
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)
    rows = [["build (default size)", f"{build_wall:.1f}", f"{build_cpu:.1f}"],
            ["describe --check full", f"{describe_wall:.1f}", ""]]
    click.echo(tabulate(rows, headers=["step", "wall s", "CPU s (all processes)"], disable_numparse=True))
    click.echo(f"corpus: {n_files} files, {size / 1e6:.1f} MB, {info['hours']:.3f} h of audio, "
               f"{report['trials']} CM trials, {len(report['problems'])} problems; generator {info['version']}")
    click.echo(f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before, "
               f"{os.getloadavg()[0]:.1f} after")


def _cpu_seconds(resource) -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
