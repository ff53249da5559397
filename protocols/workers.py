"""Worker processes that end with their parent: killed parent, Ctrl-C (once or many times) or an error.

A pool's workers otherwise outlive a parent killed with SIGKILL/SIGTERM (they sit on their task queue forever,
each holding its memory), and Ctrl-C, which the terminal sends to the whole process group, raises
KeyboardInterrupt in every worker (a traceback each) while the parent's pool shutdown waits for all queued
work. So: workers ignore SIGINT (the parent alone handles it), ask Linux to SIGKILL them when the parent dies
(``prctl(PR_SET_PDEATHSIG)``) and also watch the parent's pid from a thread (other systems, and the moment
between fork and prctl); the parent terminates the pool instead of draining it when anything goes wrong.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_WATCH_INTERVAL_S = 0.5


def start_method() -> str:
    # fork on Linux: workers start instantly and scripts need no ``if __name__ == "__main__"`` guard; they only
    # run numpy/scipy/soundfile (feature extraction, the demo corpus's rendering), never torch's OpenMP, so
    # inheriting a torch-initialised parent is safe.
    # Elsewhere fork is unsafe (macOS) or absent (Windows): spawn.
    return "fork" if sys.platform.startswith("linux") else "spawn"


@contextmanager
def worker_pool(n_workers: int, initializer: Callable[[], None] | None = None) -> Iterator[ProcessPoolExecutor]:
    """A ProcessPoolExecutor whose workers die with this process and ignore Ctrl-C. Leaving the block
    normally waits for the work; leaving it by an exception (KeyboardInterrupt included) terminates the
    workers at once and re-raises."""
    pool = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context(start_method()),
                               initializer=_init_worker, initargs=(os.getpid(), initializer))
    try:
        yield pool
    except BaseException:
        terminate_pool(pool)
        raise
    pool.shutdown(wait=True)


def terminate_pool(pool: ProcessPoolExecutor, grace_s: float = 2.0) -> None:
    """Stop ``pool`` now: drop queued work, SIGTERM the workers, SIGKILL those still alive after ``grace_s``.
    Further Ctrl-Cs are ignored meanwhile, so a second one cannot leave workers behind."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        # Python 3.14 has pool.terminate_workers(); before it the processes are only reachable privately
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.terminate()
        deadline = time.monotonic() + grace_s
        for proc in processes:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)


def _init_worker(parent_pid: int, initializer: Callable[[], None] | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer()


def die_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` (its parent) ends: PR_SET_PDEATHSIG on Linux, and everywhere a
    daemon thread that exits once the parent pid changes (the process was re-parented)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl (musl without it, sandboxes): the thread remains
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watchdog", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_WATCH_INTERVAL_S)
    os._exit(1)
