"""What the CPU runs natively, as the neural engine and ``bench perf`` need to know it.

bfloat16 matrix products are fast only with AVX-512 BF16 or AMX instructions; elsewhere oneDNN emulates them
(measured on an AVX2-only CPU: bf16 matmul 0.26 GFLOP/s, ``int8+bf16`` inference 58x slower than float32).
The answer follows the CPU's flags and the limits a user may set: ``ONEDNN_MAX_CPU_ISA`` (oneDNN's kernels)
and ``ATEN_CPU_CAPABILITY`` (PyTorch's own vectorised kernels).
"""
from __future__ import annotations

import functools
import os

import torch

#: ``ONEDNN_MAX_CPU_ISA`` values (oneDNN's names, upper case) below which bf16 kernels are not native.
_ONEDNN_BELOW_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")
#: ``ONEDNN_MAX_CPU_ISA`` values that still allow AMX.
_ONEDNN_AMX = ("AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "ALL", "")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of the first CPU in /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _aten_capability() -> str:
    """PyTorch's vectorised-kernel level (e.g. "AVX512", "AVX2", "DEFAULT"), honouring ATEN_CPU_CAPABILITY."""
    try:
        return torch.backends.cpu.get_cpu_capability().upper()
    except (AttributeError, RuntimeError):
        return os.environ.get("ATEN_CPU_CAPABILITY", "").upper()


def _onednn_limit() -> str:
    return os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "")).strip().upper()


def cpu_isa() -> str:
    """The widest vector instruction set the neural code runs with: "AVX-512+AMX", "AVX-512 BF16",
    "AVX-512", "AVX2", or what PyTorch reports otherwise (e.g. "DEFAULT" without AVX2, "NEON" on ARM)."""
    flags, aten, limit = cpu_flags(), _aten_capability(), _onednn_limit()
    if not aten.startswith("AVX512"):
        return "AVX2" if aten == "AVX2" else aten or "unknown"
    if limit.startswith(("SSE", "AVX2")) or limit == "AVX":
        return "AVX2" if limit.startswith("AVX2") else limit
    if "amx_bf16" in flags and limit in _ONEDNN_AMX:
        return "AVX-512+AMX"
    if "avx512_bf16" in flags and limit not in _ONEDNN_BELOW_BF16:
        return "AVX-512 BF16"
    return "AVX-512"


def native_bf16() -> bool:
    """Whether bfloat16 matrix products run on native instructions (AVX-512 BF16 or AMX) here."""
    return cpu_isa() in ("AVX-512+AMX", "AVX-512 BF16")
