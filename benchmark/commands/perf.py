"""``bench perf``: speed and memory benchmarks (measured by scripts, never by timed unit tests)."""
from __future__ import annotations

import importlib

import click


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
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, lazy={"rawnet2": "spoofbench.benchmark.perf_rawnet2:perf_rawnet2",
                                   "baselines": "spoofbench.benchmark.perf_baselines:baselines",
                                   "demo": "spoofbench.benchmark.commands.data:perf_demo"})
def perf() -> None:
    """Speed benchmarks of the front ends, the GMM back end and RawNet2 on this machine."""


from .evaluate import perf_eval  # noqa: E402  (bench perf eval)
perf.add_command(perf_eval)
