"""``bench perf``: the command group lives with the benchmarks it runs, in :mod:`spoofbench.benchmark.perf`."""
from ..perf import perf

__all__ = ["perf"]
