"""The CPU's vector-instruction class as the math libraries will use it: whether bfloat16 matrix products run
natively (what the neural engine's fast modes need) and the line every ``bench perf`` command prints first
(the same code runs 2-4x apart on AVX2, AVX-512 and AMX machines).

bfloat16 matrix products are fast only with AVX-512 BF16 or AMX instructions; elsewhere oneDNN emulates them
(measured on an AVX2-only CPU: bf16 matmul 0.26 GFLOP/s, ``int8+bf16`` inference 58x slower than float32).

The hardware's class comes from the ``/proc/cpuinfo`` flags; ``ATEN_CPU_CAPABILITY`` (torch's own kernels),
``ONEDNN_MAX_CPU_ISA`` (or the older ``DNNL_MAX_CPU_ISA``: convolutions, matrix products) and
``MKL_ENABLE_INSTRUCTIONS`` (MKL) can only lower it, and the lowest of them is reported, since a model or a
benchmark is as fast as its most restricted library. Where torch is already imported, its own
``torch.backends.cpu.get_cpu_capability()`` stands for ``ATEN_CPU_CAPABILITY``: it is what ATen's kernels
really run with (the variable, the hardware and the build together). This module never imports torch itself,
so ``bench perf --help`` stays light.

Everything is a pure function of ``(flags, environ, aten)``; left out, they are this machine's.
"""
from __future__ import annotations

import functools
import os
import sys

CLASSES = ("SSE/AVX", "AVX2", "AVX-512", "AVX-512+AMX")
_SSE, _AVX2, _AVX512, _AMX = range(4)


def _first_cpuinfo_field(name: str, cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """The value of the first processor's ``name`` line in /proc/cpuinfo (None when unreadable: not Linux)."""
    try:
        with open(cpuinfo) as fh:
            for line in fh:
                if line.startswith(name):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The first processor's flags (empty when unreadable: not Linux)."""
    return frozenset((_first_cpuinfo_field("flags", cpuinfo) or "").split())


def processor_name() -> str:
    """The CPU's model name (scores of trained models differ in their last bits from one CPU to another)."""
    import platform

    return _first_cpuinfo_field("model name") or platform.processor() or platform.machine() or "unknown CPU"


@functools.lru_cache(maxsize=1)
def _this_cpu_flags() -> frozenset[str]:
    return cpu_flags()


def torch_cpu_capability() -> str | None:
    """torch's vectorised-kernel level ("AVX512", "AVX2", "DEFAULT", "NEON", ...) where torch is already
    imported; None otherwise (importing it here would cost seconds to print one line)."""
    torch = sys.modules.get("torch")
    try:
        return torch.backends.cpu.get_cpu_capability().upper() if torch is not None else None
    except (AttributeError, RuntimeError):
        return None


def _hardware(flags) -> tuple[int, bool]:
    level = (_AMX if {"avx512f", "amx_tile"} <= flags else _AVX512 if "avx512f" in flags
             else _AVX2 if "avx2" in flags else _SSE)
    return level, level >= _AVX512 and bool(flags & {"avx512_bf16", "amx_bf16"})


def _aten_cap(value: str) -> tuple[int, bool]:
    # torch's own kernels only; its avx512 level does not restrict oneDNN's AMX or bfloat16 paths
    # (nor do levels of other architectures, e.g. NEON, whose class the x86 flags cannot tell)
    return {"default": (_SSE, False), "avx2": (_AVX2, False)}.get(value.lower(), (_AMX, True))


def _onednn_cap(value: str) -> tuple[int, bool]:
    v = value.upper()
    if v in ("", "ALL", "DEFAULT") or "AMX" in v:
        return _AMX, True
    if v.startswith(("AVX512", "AVX10")):  # AVX512_CORE and AVX512_CORE_VNNI stop below bfloat16
        return _AVX512, "BF16" in v or "FP16" in v or v.startswith("AVX10")
    return (_AVX2 if v.startswith("AVX2") else _SSE), False


def _mkl_cap(value: str) -> tuple[int, bool]:
    v = value.upper()
    if v.startswith("AVX512"):  # E3 added bfloat16, E4 AMX
        return (_AMX, True) if v in ("AVX512_E4", "AVX512_E5") else (_AVX512, v == "AVX512_E3")
    return (_AVX2 if v.startswith("AVX2") else _SSE), False


def _limits(environ, aten: str | None) -> list[tuple[str, tuple[int, bool]]]:
    """(what to name, (level, bfloat16)) for every library limit in force."""
    limits = []
    aten_var = environ.get("ATEN_CPU_CAPABILITY", "").strip()
    if aten:  # torch's own answer; named by the variable where that is what set it
        cap = _aten_cap(aten)
        same = aten_var and _aten_cap(aten_var) == cap
        limits.append((f"ATEN_CPU_CAPABILITY={aten_var}" if same else f"torch's ATen capability {aten}", cap))
    elif aten_var:
        limits.append((f"ATEN_CPU_CAPABILITY={aten_var}", _aten_cap(aten_var)))
    for names, cap in ((("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"), _onednn_cap),
                       (("MKL_ENABLE_INSTRUCTIONS",), _mkl_cap)):
        for var in names:  # the first one set counts: oneDNN reads DNNL_MAX_CPU_ISA only without the new name
            value = environ.get(var, "").strip()
            if value:
                limits.append((f"{var}={value}", cap(value)))
                break
    return limits


def cpu_isa(flags=None, environ=None, aten: str | None = None) -> dict:
    """``{"class": "AVX-512+AMX", "bf16_native": True, "hardware": "AVX-512+AMX", "limited_by": [...]}``;
    ``class`` is one of ``CLASSES``, ``limited_by`` names what lowered the class or took bfloat16 away.

    ``flags``: the CPU's flags (default: this machine's). ``environ``: the environment (default: this process's).
    ``aten``: torch's reported capability (default: ``torch_cpu_capability()`` for this process, none when
    ``environ`` is given: then ``ATEN_CPU_CAPABILITY`` in it stands for torch)."""
    if environ is None:
        environ, aten = os.environ, torch_cpu_capability() if aten is None else aten
    hw_level, hw_bf16 = _hardware(_this_cpu_flags() if flags is None else frozenset(flags))
    level, bf16, limited_by = hw_level, hw_bf16, []
    for name, (cap_level, cap_bf16) in _limits(environ, aten):
        if cap_level < hw_level or (hw_bf16 and not cap_bf16):  # each limit that alone would lower it
            limited_by.append(name)
        level, bf16 = min(level, cap_level), bf16 and cap_bf16
    return {"class": CLASSES[level], "bf16_native": bf16, "hardware": CLASSES[hw_level], "limited_by": limited_by}


def native_bf16(flags=None, environ=None, aten: str | None = None) -> bool:
    """Whether bfloat16 matrix products run on native instructions (AVX-512 BF16 or AMX) here."""
    return cpu_isa(flags, environ, aten)["bf16_native"]


def describe_cpu_isa(info: dict | None = None) -> str:
    """One line, e.g. ``CPU ISA: AVX2, bfloat16 emulated (hardware AVX-512, limited by ONEDNN_MAX_CPU_ISA=AVX2)``."""
    info = cpu_isa() if info is None else info
    text = f"CPU ISA: {info['class']}, bfloat16 {'native' if info['bf16_native'] else 'emulated'}"
    if info["limited_by"]:
        text += f" (hardware {info['hardware']}, limited by {', '.join(info['limited_by'])})"
    return text
