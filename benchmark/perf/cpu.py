"""The CPU's vector-instruction class as the math libraries will use it, printed beside every ``bench perf``
number: the same code runs 2-4x apart on AVX2, AVX-512 and AMX machines.

The hardware's class comes from the ``/proc/cpuinfo`` flags; ``ATEN_CPU_CAPABILITY`` (torch's own kernels),
``ONEDNN_MAX_CPU_ISA`` (convolutions, matrix products) and ``MKL_ENABLE_INSTRUCTIONS`` (MKL) can only lower
it, and the lowest of them is reported, since a benchmark is as fast as its most restricted library.
"""
from __future__ import annotations

import os

CLASSES = ("SSE/AVX", "AVX2", "AVX-512", "AVX-512+AMX")
_SSE, _AVX2, _AVX512, _AMX = range(4)


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The first processor's flags (empty when unreadable: not Linux)."""
    try:
        with open(cpuinfo) as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _hardware(flags: set[str]) -> tuple[int, bool]:
    level = (_AMX if {"avx512f", "amx_tile"} <= flags else _AVX512 if "avx512f" in flags
             else _AVX2 if "avx2" in flags else _SSE)
    return level, bool(flags & {"avx512_bf16", "amx_bf16"})


def _aten_cap(value: str) -> tuple[int, bool]:
    # torch's own kernels only; its avx512 build does not restrict oneDNN's AMX or bfloat16 paths
    return {"default": (_SSE, False), "avx2": (_AVX2, False)}.get(value.lower(), (_AMX, True))


def _onednn_cap(value: str) -> tuple[int, bool]:
    v = value.upper()
    if v in ("", "ALL", "DEFAULT") or "AMX" in v:
        return _AMX, True
    if v.startswith(("AVX512", "AVX10")):
        return _AVX512, "BF16" in v or "FP16" in v or v.startswith("AVX10")
    return (_AVX2 if v.startswith("AVX2") else _SSE), False


def _mkl_cap(value: str) -> tuple[int, bool]:
    v = value.upper()
    if v.startswith("AVX512"):  # E3 added bfloat16, E4 AMX
        return (_AMX, True) if v in ("AVX512_E4", "AVX512_E5") else (_AVX512, v == "AVX512_E3")
    return (_AVX2 if v.startswith("AVX2") else _SSE), False


def cpu_isa(flags: set[str] | None = None, environ=None) -> dict:
    """``{"class": "AVX-512+AMX", "bf16_native": True, "hardware": "AVX-512+AMX", "limited_by": [...]}``;
    ``limited_by`` names the environment variables that lowered the class or took bfloat16 away."""
    environ = os.environ if environ is None else environ
    hw_level, hw_bf16 = _hardware(cpu_flags() if flags is None else flags)
    level, bf16, limited_by = hw_level, hw_bf16, []
    for var, cap in (("ATEN_CPU_CAPABILITY", _aten_cap), ("ONEDNN_MAX_CPU_ISA", _onednn_cap),
                     ("MKL_ENABLE_INSTRUCTIONS", _mkl_cap)):
        if environ.get(var):
            cap_level, cap_bf16 = cap(environ[var])
            if cap_level < hw_level or (hw_bf16 and not cap_bf16):
                limited_by.append(f"{var}={environ[var]}")
            level, bf16 = min(level, cap_level), bf16 and cap_bf16
    return {"class": CLASSES[level], "bf16_native": bf16, "hardware": CLASSES[hw_level], "limited_by": limited_by}


def describe_cpu_isa(info: dict | None = None) -> str:
    """One line, e.g. ``CPU ISA: AVX2, bfloat16 emulated (hardware AVX-512, limited by ONEDNN_MAX_CPU_ISA=AVX2)``."""
    info = cpu_isa() if info is None else info
    text = f"CPU ISA: {info['class']}, bfloat16 {'native' if info['bf16_native'] else 'emulated'}"
    if info["limited_by"]:
        text += f" (hardware {info['hardware']}, limited by {', '.join(info['limited_by'])})"
    return text
