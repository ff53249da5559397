"""The run lock of `bench run` (one run per output folder): never two holders, a dead holder never blocks,
a live one is named, and its clean-up never hides the error that ended a run."""
import errno
import multiprocessing
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from _tiny_corpus import bench

from spoofbench.benchmark.pipeline.workspace import RunLock
from spoofbench.protocols.errors import BenchError

pytestmark = pytest.mark.usefixtures("private_cache")


def _hold_briefly(out, active, peak, guard, taken):
    """Try the lock once; while holding it, count the holders (a second one at the same time is the bug)."""
    try:
        with RunLock(out, ["test"]):
            with guard:
                active.value += 1
                peak.value = max(peak.value, active.value)
                taken.value += 1
            time.sleep(0.002)
            with guard:
                active.value -= 1
    except BenchError:
        pass  # someone else holds it: the expected answer for most


class _Cell:
    def __init__(self):
        self.value = 0


def test_simultaneous_starts_in_threads_never_share_the_lock(tmp_path):
    active, peak, taken, guard = _Cell(), _Cell(), _Cell(), threading.Lock()
    start = threading.Barrier(200)

    def worker():
        start.wait()
        for _ in range(3):
            _hold_briefly(tmp_path, active, peak, guard, taken)

    threads = [threading.Thread(target=worker) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert taken.value >= 1 and peak.value == 1


def _process_worker(out, start, active, peak, guard, taken):
    start.wait()
    for _ in range(20):  # the old lock's race (an empty pid file read as stale) needs many tries to show
        _hold_briefly(out, active, peak, guard, taken)


@pytest.mark.skipif(sys.platform == "win32", reason="uses fork")
def test_simultaneous_starts_in_processes_never_share_the_lock(tmp_path):
    ctx = multiprocessing.get_context("fork")  # the workers need nothing but the lock: forking is cheap
    n = 40
    start, guard = ctx.Barrier(n), ctx.Lock()
    active, peak, taken = ctx.Value("i", 0, lock=False), ctx.Value("i", 0, lock=False), ctx.Value("i", 0, lock=False)
    procs = [ctx.Process(target=_process_worker, args=(tmp_path, start, active, peak, guard, taken))
             for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert taken.value >= 1 and peak.value == 1


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from spoofbench.benchmark.pipeline.workspace import RunLock
    with RunLock(Path(sys.argv[1]), ["bench", "run", "--detectors", "holder-marker"]):
        print("held", flush=True)
        time.sleep(120)
""")


def test_a_live_lock_names_its_holder_and_a_killed_one_does_not_block(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BenchError) as err:
            RunLock(out).__enter__()
        assert str(err.value).startswith(f"{out}: another bench run (pid {holder.pid}: bench run --detectors "
                                         "holder-marker) is writing this folder")
    finally:
        holder.send_signal(signal.SIGKILL)  # no clean-up runs: the lock file and the holder note stay behind
        holder.wait()
    assert (out / ".lock").exists()
    with RunLock(out, ["second"]):
        assert "second" in (out / ".lock.holder").read_text()
    assert not (out / ".lock.holder").exists()


def test_a_stale_lock_file_naming_a_live_pid_does_not_block(tmp_path):
    """After a reboot the pid in an old lock file may belong to any process (here pid 1): only a held OS lock
    counts."""
    (tmp_path / ".lock").write_text("1")
    with RunLock(tmp_path):
        pass


def test_read_only_disk_mid_run_names_the_file_that_failed(corpus, tmp_path, monkeypatch):
    """The disk turns read-only while scores are written: the one-line error names that score file, even
    though removing the lock's files fails too."""
    import spoofbench.benchmark.pipeline.systems as systems

    out = tmp_path / "ro"
    read_only = {"on": False}

    def write_scores(path, table, scores):
        read_only["on"] = True
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    def refuse(real):
        def removal(path, *args, **kwargs):
            if read_only["on"] and str(out) in os.fspath(path):
                raise OSError(errno.EROFS, "Read-only file system", os.fspath(path))
            return real(path, *args, **kwargs)
        return removal

    real_unlink = pathlib.Path.unlink

    def path_unlink(self, missing_ok=False):
        if read_only["on"] and str(out) in str(self):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(systems, "write_scores", write_scores)
    monkeypatch.setattr(os, "unlink", refuse(os.unlink))
    monkeypatch.setattr(os, "remove", refuse(os.remove))
    monkeypatch.setattr(pathlib.Path, "unlink", path_unlink)
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", out, "--fusion", "none",
              "--bootstrap", 0, "--no-plots")
    assert r.exit_code == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last == f"error: {out / 'scores' / 'spectral-lr.dev.txt'}: Read-only file system", r.stderr


def test_atomic_write_failing_on_a_read_only_disk_keeps_its_own_error(tmp_path, monkeypatch):
    """The temporary file cannot be removed either: the caller still sees why the write failed."""
    from spoofbench.protocols.files import atomic_path

    def refuse(path):
        raise OSError(errno.EROFS, "Read-only file system", os.fspath(path))

    target = tmp_path / "scores.txt"
    with pytest.raises(OSError) as err:
        with atomic_path(target) as tmp:
            pathlib.Path(tmp).write_text("partial")
            monkeypatch.setattr(os, "remove", refuse)
            raise OSError(errno.EROFS, "Read-only file system", tmp + ".flush")
    assert err.value.filename.endswith(".flush")
