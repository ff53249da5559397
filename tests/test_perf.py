"""`bench perf`: one subpackage holds every benchmark; each run states the CPU instruction-set class."""
from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from spoofbench.benchmark.cli import cli
from spoofbench.benchmark.perf import perf
from spoofbench.benchmark.perf.cpu import cpu_flags, cpu_isa, describe_cpu_isa

SAPPHIRE_RAPIDS = {"sse4_2", "avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}
SKYLAKE_X = {"sse4_2", "avx2", "avx512f"}
HASWELL = {"sse4_2", "avx2"}
AVX2_ONLY_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


@pytest.mark.parametrize("flags, environ, klass, bf16", [
    (SAPPHIRE_RAPIDS, {}, "AVX-512+AMX", True),
    (SKYLAKE_X, {}, "AVX-512", False),
    (HASWELL, {}, "AVX2", False),
    (set(), {}, "SSE/AVX", False),
    (SAPPHIRE_RAPIDS, AVX2_ONLY_ENV, "AVX2", False),
    (SAPPHIRE_RAPIDS, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, "AVX-512", False),
    (SAPPHIRE_RAPIDS, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "AVX-512", True),
    (SAPPHIRE_RAPIDS, {"MKL_ENABLE_INSTRUCTIONS": "AVX512_E3"}, "AVX-512", True),
    (SAPPHIRE_RAPIDS, {"ATEN_CPU_CAPABILITY": "avx512"}, "AVX-512+AMX", True),
    (HASWELL, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, "AVX2", False),  # a cap never raises the class
])
def test_cpu_isa_class_honours_the_restricting_variables(flags, environ, klass, bf16):
    info = cpu_isa(flags, environ)
    assert (info["class"], info["bf16_native"]) == (klass, bf16)


def test_every_restricting_variable_is_named():
    info = cpu_isa(SAPPHIRE_RAPIDS, AVX2_ONLY_ENV)
    assert info["hardware"] == "AVX-512+AMX" and len(info["limited_by"]) == 3
    line = describe_cpu_isa(info)
    assert line.startswith("CPU ISA: AVX2, bfloat16 emulated") and "ONEDNN_MAX_CPU_ISA=AVX2" in line
    assert cpu_isa(SAPPHIRE_RAPIDS, {})["limited_by"] == []


def test_cpu_flags_reads_the_first_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx2 avx512f\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(str(info)) == {"fpu", "sse4_2", "avx2", "avx512f"}
    assert cpu_flags(str(tmp_path / "missing")) == set()


def test_every_perf_command_loads_from_the_perf_package():
    ctx = click.Context(perf)
    names = perf.list_commands(ctx)
    assert set(names) == {"baselines", "cache", "demo", "eval", "rawnet2"}
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
