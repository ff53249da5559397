"""The CPU allocator set-up of the neural engine: glibc ``mallopt`` settings and a transparent-huge-page
reserve that make large activation maps reuse freed memory instead of page-faulting in fresh mappings.

Nothing here runs on import, and the networks never call it: the engine (``NeuralDetector.fit`` / ``score``
on CPU, ``bench perf``) calls :func:`reuse_freed_memory` explicitly, so importing or building a model leaves
the process alone (and the model stays traceable for export). Set ``SPOOFBENCH_MALLOPT=0`` to opt out.
"""
from __future__ import annotations

import os

#: glibc malloc settings applied once per process when the engine first fits or scores on CPU.
#: By default glibc serves each block above 128 kB-32 MB with a fresh mmap and unmaps it when freed, so every
#: large feature map (13-350 MB here) page-faults in anew on each forward and backward: measured 0.2-0.34 M
#: minor faults per training step of the ICASSP 2021 model at batch 8 and 2.4 M (7 s of kernel time) at batch
#: 32. ``mmap_max`` 0 serves large blocks from the heap, where freed ones are reused; up to ``trim`` bytes of
#: free heap stay mapped. Measured on 2 cores: ICASSP 2021 training step 1.96 -> 1.78 s (batch 8) and
#: 10.7 -> 6.6 s (batch 32); 2021 inference 119 -> 108 ms (batch 8). Cost: the process keeps its peak heap.
#: ``huge_pages``: bytes of heap grown once (untouched: address space only, kept because it is below ``trim``)
#: and marked ``MADV_HUGEPAGE``, so that the blocks served from it fault in as 2 MB transparent huge pages, as
#: glibc's ``glibc.malloc.hugetlb=1`` tunable would (that one only takes effect at process start). The GRU
#: streams its 12 MB recurrent weight once per time step, far more than 4 kB pages' TLB entries cover. Measured
#: on 2 cores, 2021 inference at batch 8 in fresh processes: 115-126 -> 107-114 ms (768 MB advised); after
#: training steps in the same process, 768 MB got part of the tunable's gain and 1.5-2 GB about all of it (2021
#: model, batch 8: training step 442-463 -> 394-418 ms, inference 120-129 -> 104-117 ms). ``trim`` must stay
#: above ``huge_pages`` (or the free would hand the advised range back), and is a C int.
MALLOC_SETTINGS = {"mmap_max": 0, "trim": (1 << 31) - 1, "huge_pages": 1536 << 20}
_allocator_state: str | None = None  # None (not tried yet), "on", "disabled" or "unavailable"
_huge_heap_bytes = 0  # heap marked MADV_HUGEPAGE by reuse_freed_memory


def allocator_untouched() -> bool:
    """Whether glibc still has its default settings and ``reuse_freed_memory`` would change them."""
    return _allocator_state is None and os.environ.get("SPOOFBENCH_MALLOPT", "1") != "0"


def reuse_freed_memory() -> bool:
    """Apply ``MALLOC_SETTINGS`` with glibc's ``mallopt`` (once per process; a no-op where it is absent, or
    when the environment sets ``SPOOFBENCH_MALLOPT=0``). Returns whether they are in effect."""
    global _allocator_state, _huge_heap_bytes
    if _allocator_state is None and not allocator_untouched():
        _allocator_state = "disabled"  # the host application manages malloc itself
    if _allocator_state is None:
        try:
            import ctypes
            libc = ctypes.CDLL(None)
            m_trim_threshold, m_mmap_max = -1, -4  # glibc's <malloc.h> constants
            ok = libc.mallopt(m_mmap_max, MALLOC_SETTINGS["mmap_max"]) == 1 \
                and libc.mallopt(m_trim_threshold, MALLOC_SETTINGS["trim"]) == 1
            if ok and _advise_huge_heap(libc, MALLOC_SETTINGS["huge_pages"]):
                _huge_heap_bytes = MALLOC_SETTINGS["huge_pages"]
        except (OSError, AttributeError, TypeError):
            ok = False
        _allocator_state = "on" if ok else "unavailable"
    return _allocator_state == "on"


def allocator_description() -> str:
    """What ``reuse_freed_memory`` set in this process, in words (for benchmark reports)."""
    if _allocator_state != "on":
        return "glibc defaults"
    if _huge_heap_bytes:
        return f"heap (mmap off), {_huge_heap_bytes / (1 << 30):g} GiB of it advised for huge pages"
    always = transparent_huge_pages_mode() == "always"
    return "heap (mmap off)" + (", huge pages (the kernel's default)" if always else "")


def transparent_huge_pages_mode() -> str:
    """The kernel's THP mode ("always", "madvise", "never"), or "" where there is none (not Linux)."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            text = f.read()
    except OSError:
        return ""
    return text[text.find("[") + 1:text.find("]")] if "[" in text else ""


def _strict_overcommit() -> bool:
    """Whether the kernel charges untouched memory against a commit limit (``vm.overcommit_memory`` 2): there
    a reserve of address space would take real headroom from other allocations."""
    try:
        with open("/proc/sys/vm/overcommit_memory") as f:
            return f.read().strip() == "2"
    except OSError:
        return False


def _advise_huge_heap(libc, size: int) -> bool:
    """Grow the heap by ``size`` bytes (malloc + free: below the trim threshold it stays mapped, untouched) and
    mark that range ``MADV_HUGEPAGE``. Only where the kernel's THP mode is "madvise" (with "always" the
    heap gets huge pages anyway) and overcommit is not strict."""
    import ctypes

    if size <= 0 or transparent_huge_pages_mode() != "madvise" or _strict_overcommit():
        return False
    madv_hugepage, huge = 14, 2 << 20  # Linux <asm-generic/mman-common.h>; x86-64 and arm64 PMD size
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    block = libc.malloc(size)
    if not block:
        return False
    start, end = -(-block // huge) * huge, (block + size) // huge * huge
    ok = end > start and libc.madvise(start, end - start, madv_hugepage) == 0
    libc.free(block)
    return ok
