"""What the CPU runs natively (``spoofbench.detectors.cpu``): the neural engine's bfloat16 decision and the line
every `bench perf` command prints first come from one set of pure functions of the flags and the environment."""
import os
import subprocess
import sys

import pytest

from spoofbench.detectors import cpu
from spoofbench.detectors.cpu import cpu_flags, cpu_isa, describe_cpu_isa, native_bf16

SAPPHIRE_RAPIDS = {"sse4_2", "avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}
COOPER_LAKE = {"sse4_2", "avx2", "avx512f", "avx512_bf16"}
SKYLAKE_X = {"sse4_2", "avx2", "avx512f"}
HASWELL = {"sse4_2", "avx2"}
AVX2_ONLY_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


@pytest.mark.parametrize("flags, environ, aten, klass, bf16", [
    # the environment alone (no torch in the process)
    (SAPPHIRE_RAPIDS, {}, None, "AVX-512+AMX", True),
    (SKYLAKE_X, {}, None, "AVX-512", False),
    (HASWELL, {}, None, "AVX2", False),
    (set(), {}, None, "SSE/AVX", False),
    (SAPPHIRE_RAPIDS, AVX2_ONLY_ENV, None, "AVX2", False),
    (SAPPHIRE_RAPIDS, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, None, "AVX-512", False),
    (SAPPHIRE_RAPIDS, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, None, "AVX-512", True),
    (SAPPHIRE_RAPIDS, {"MKL_ENABLE_INSTRUCTIONS": "AVX512_E3"}, None, "AVX-512", True),
    (SAPPHIRE_RAPIDS, {"ATEN_CPU_CAPABILITY": "avx512"}, None, "AVX-512+AMX", True),
    (HASWELL, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, None, "AVX2", False),  # a cap never raises the class
    (SAPPHIRE_RAPIDS, {"DNNL_MAX_CPU_ISA": "AVX2"}, None, "AVX2", False),  # oneDNN's older name
    (SAPPHIRE_RAPIDS, {"ONEDNN_MAX_CPU_ISA": "ALL", "DNNL_MAX_CPU_ISA": "AVX2"}, None, "AVX-512+AMX", True),
    (SAPPHIRE_RAPIDS, {"ONEDNN_MAX_CPU_ISA": ""}, None, "AVX-512+AMX", True),  # set but empty: no limit
    # torch's reported capability (as where torch is imported) with the oneDNN limit
    ({"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}, {}, "AVX512", "AVX-512+AMX", True),
    ({"avx512f", "avx512_bf16", "amx_bf16"}, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "AVX512", "AVX-512", True),
    ({"avx512f", "avx512_bf16"}, {}, "AVX512", "AVX-512", True),
    ({"avx512f"}, {}, "AVX512", "AVX-512", False),
    ({"avx512f", "avx512_bf16", "amx_bf16"}, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "AVX512", "AVX2", False),  # oneDNN: AVX2
    ({"avx512f", "avx512_bf16"}, {"ONEDNN_MAX_CPU_ISA": "avx512_core"}, "AVX512", "AVX-512", False),  # any case
    ({"avx512f", "avx512_bf16", "amx_bf16"}, {}, "AVX2", "AVX2", False),  # ATEN_CPU_CAPABILITY=avx2
    ({"avx2"}, {}, "AVX2", "AVX2", False),
    (COOPER_LAKE, {"ATEN_CPU_CAPABILITY": "avx2"}, "AVX512", "AVX-512", True),  # torch's answer over the variable
    (COOPER_LAKE, {}, "DEFAULT", "SSE/AVX", False),
])
def test_cpu_isa_class_honours_the_restricting_variables(flags, environ, aten, klass, bf16):
    info = cpu_isa(flags, environ, aten)
    assert (info["class"], info["bf16_native"]) == (klass, bf16)
    assert native_bf16(flags, environ, aten) == bf16


def test_every_restricting_variable_is_named():
    info = cpu_isa(SAPPHIRE_RAPIDS, AVX2_ONLY_ENV)
    assert info["hardware"] == "AVX-512+AMX" and len(info["limited_by"]) == 3
    line = describe_cpu_isa(info)
    assert line.startswith("CPU ISA: AVX2, bfloat16 emulated") and "ONEDNN_MAX_CPU_ISA=AVX2" in line
    assert cpu_isa(SAPPHIRE_RAPIDS, {})["limited_by"] == []
    assert describe_cpu_isa(cpu_isa(SAPPHIRE_RAPIDS, {})) == "CPU ISA: AVX-512+AMX, bfloat16 native"
    # torch's capability is named by the variable that set it, else as torch's own
    assert cpu_isa(COOPER_LAKE, {"ATEN_CPU_CAPABILITY": "avx2"}, "AVX2")["limited_by"] == ["ATEN_CPU_CAPABILITY=avx2"]
    assert cpu_isa(COOPER_LAKE, {}, "AVX2")["limited_by"] == ["torch's ATen capability AVX2"]
    assert cpu_isa(COOPER_LAKE, {"DNNL_MAX_CPU_ISA": "AVX512_CORE"})["limited_by"] == ["DNNL_MAX_CPU_ISA=AVX512_CORE"]


def test_cpu_flags_reads_the_first_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx2 avx512f\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(str(info)) == {"fpu", "sse4_2", "avx2", "avx512f"}
    assert cpu_flags(str(tmp_path / "missing")) == set()


def test_this_process_uses_torchs_capability_where_torch_is_imported(monkeypatch):
    monkeypatch.setattr(cpu, "_this_cpu_flags", lambda: frozenset(COOPER_LAKE))
    for var in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(cpu, "torch_cpu_capability", lambda: "AVX512")
    assert cpu_isa() == {"class": "AVX-512", "bf16_native": True, "hardware": "AVX-512", "limited_by": []}
    assert native_bf16()
    monkeypatch.setattr(cpu, "torch_cpu_capability", lambda: "AVX2")
    assert not native_bf16() and cpu_isa()["limited_by"] == ["torch's ATen capability AVX2"]
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")  # the environment is read on every call
    monkeypatch.setattr(cpu, "torch_cpu_capability", lambda: None)  # torch not imported
    assert cpu_isa()["limited_by"] == ["ONEDNN_MAX_CPU_ISA=AVX512_CORE"] and not native_bf16()


def test_the_environment_limits_are_honoured_in_a_fresh_process():
    """With torch (the neural engine) and without it (what `bench perf` prints before any benchmark loads torch)."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    code = "from spoofbench.detectors.neural import cpu_isa, native_bf16; print(cpu_isa()['class'], native_bf16())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    isa = out.stdout.split()
    assert isa[-1] == "False" and isa[0] in ("AVX2", "SSE/AVX")

    code = ("import sys; from spoofbench.detectors.cpu import describe_cpu_isa; print(describe_cpu_isa()); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    line, torch_loaded = out.stdout.splitlines()
    assert torch_loaded == "False"
    assert line.startswith(("CPU ISA: AVX2, bfloat16 emulated", "CPU ISA: SSE/AVX, bfloat16 emulated")), line
