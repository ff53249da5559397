"""`bench perf`: one subpackage holds every benchmark; each run states the CPU instruction-set class."""
from __future__ import annotations

import click
from click.testing import CliRunner

from spoofbench.benchmark.cli import cli
from spoofbench.benchmark.perf import perf

# the CPU's class itself (spoofbench.detectors.cpu) is tested in test_cpu_isa.py
AVX2_ONLY_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def test_every_perf_command_loads_from_the_perf_package():
    ctx = click.Context(perf)
    names = perf.list_commands(ctx)
    assert set(names) == {"aasist", "augment", "baselines", "cache", "demo", "eval", "export", "rawnet2", "serve"}
    for name in names:
        command = perf.get_command(ctx, name)
        assert command is not None and command.callback.__module__ == f"spoofbench.benchmark.perf.{name}"


def test_bench_perf_prints_the_isa_class_first(monkeypatch, tmp_path):
    for var, value in AVX2_ONLY_ENV.items():
        monkeypatch.setenv(var, value)
    # the quickest way through a subcommand: perf demo refusing to build into an existing folder
    result = CliRunner().invoke(cli, ["perf", "demo", "--keep", str(tmp_path)])
    lines = result.output.splitlines()
    assert lines[0].startswith("CPU ISA: AVX2, bfloat16 emulated"), result.output
    assert result.exit_code == 2 and lines[1].startswith("error: ") and len(lines) == 2


def test_bench_perf_cache_compares_the_entry_formats(tmp_path):
    import numpy as np

    from spoofbench.protocols.audio import write_audio

    for i in range(2):
        write_audio(tmp_path / f"a{i}.flac", 0.1 * np.random.default_rng(i).normal(size=8000), 16000)
    result = CliRunner().invoke(cli, ["perf", "cache", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.startswith(("lfcc", "cqcc"))]
    assert len(rows) == 4 and all(row[-1] == "yes" for row in rows)  # every format decodes exactly
    compact = [float(row[4]) for row in rows if row[1] == "2"]
    assert len(compact) == 2 and max(compact) < 0.6
