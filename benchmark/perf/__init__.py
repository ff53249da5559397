"""``bench perf``: speed and memory benchmarks (measured by scripts, never by timed unit tests), one module each:
``rawnet2``, ``baselines`` (front ends and GMM), ``cache`` (feature-cache entries), ``eval`` (``bench eval``), ``demo`` (demo corpus build);
``cpu`` tells which vector instructions the numbers were measured with."""
from __future__ import annotations

import importlib

import click

from .cpu import describe_cpu_isa


class _LazyGroup(click.Group):
    """A group whose ``lazy`` subcommands ("name": "module:attribute") are imported only when used: the RawNet2
    benchmark imports torch at module level, which would otherwise add ~1.5 s to the start of every ``bench``
    command (``bench eval`` included)."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx, name):
        if name not in self.commands and name in self.lazy:
            module, attribute = self.lazy[name].split(":")
            self.add_command(getattr(importlib.import_module(module, __name__), attribute), name)
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, lazy={"rawnet2": ".rawnet2:perf_rawnet2", "baselines": ".baselines:baselines",
                                   "demo": ".demo:perf_demo", "eval": ".eval:perf_eval", "cache": ".cache:perf_cache"})
@click.pass_context
def perf(ctx) -> None:
    """Speed benchmarks of the front ends, the GMM back end, RawNet2, `bench eval` and the demo corpus build
    on this machine (each prints the CPU's instruction-set class first)."""
    if not ctx.resilient_parsing:  # not while completing the command line
        click.echo(describe_cpu_isa())
