"""A tiny demo corpus shared by the harness tests (built once per test session, reused by every module)."""
from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

#: Small enough to build in seconds, large enough to hold every attack A07-A19 in eval.
TINY = dict(seed=3, n_train=40, n_dev=40, n_eval=80, n_speakers=(2, 2, 2), n_enrol=1, min_duration=0.8,
            max_duration=1.2, jobs=2)


def tiny_corpus(tmp_path_factory) -> Path:
    """Root of the tiny corpus. It lives next to this session's temporary folders (shared by xdist workers,
    under a lock); the generator reuses it only when its version and parameters match. Read-only for tests:
    copy it (:func:`copy_corpus`) before changing anything."""
    from spoofbench.protocols.demo import make_demo_corpus

    base = tmp_path_factory.getbasetemp().parent
    root = base / "spoofbench-tiny-demo"
    with open(base / "spoofbench-tiny-demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        make_demo_corpus(root, force=True, **TINY)
    return root


def copy_corpus(root: Path, dest: Path) -> Path:
    shutil.copytree(root, dest)
    return dest


def bench(*args):
    """``bench ARGS`` in this process (click's runner); exceptions propagate so a crash shows its traceback."""
    from click.testing import CliRunner

    from spoofbench.benchmark.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
