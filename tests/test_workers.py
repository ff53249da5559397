"""Worker processes (feature extraction, the demo corpus build) end with their parent: kill -9 of the parent,
SIGTERM, and repeated Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from spoofbench.protocols.audio import write_audio

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes through /proc")

FS = 16000
N_FILES = 12

# Extracts slow (CQCC, 96 bins per octave) features of long files on 2 workers, without a cache.
EXTRACT = """
import sys
from spoofbench.detectors import frontends
from spoofbench.detectors.feature_cache import FeatureExtractor
params = frontends.frontend_params("cqcc", "asvspoof2019")
FeatureExtractor("cqcc", params, cache_dir=False, n_jobs=2, progress=False).features(sys.argv[1:])
print("finished")
"""


@pytest.fixture(scope="module")
def long_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long_audio")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(N_FILES):
        path = folder / f"long{i}.flac"
        write_audio(path, 0.1 * rng.normal(size=20 * FS), FS)
        paths.append(str(path))
    return paths


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:  # fields: state, ppid, ...
                found.append(int(entry))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may never reap re-parented processes)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_extraction(paths, command=None):
    proc = subprocess.Popen(command or [sys.executable, "-c", EXTRACT, *paths], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = children(proc.pid)
        if len(workers) >= 2:
            time.sleep(0.5)  # let them start on their files
            return proc, children(proc.pid)
        if proc.poll() is not None:
            pytest.fail(f"extraction ended before its workers started: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no worker processes appeared within 60 s")


def wait_gone(pids, timeout=5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if running(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return alive


def assert_workers_end_with_parent(proc, workers, sig) -> None:
    """Send ``sig`` to the parent alone: its workers must be gone within seconds."""
    try:
        os.kill(proc.pid, sig)
        proc.wait(10)
        left = wait_gone(workers)
        assert not left, f"workers {left} outlived their parent (signal {sig.name})"
    finally:
        for pid in workers:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_parent(long_files, sig):
    assert_workers_end_with_parent(*start_extraction(long_files), sig)


def test_repeated_ctrl_c_ends_everything_quickly_without_tracebacks(long_files, tmp_path):
    # the CLI path users interrupt: bench score with a small trained CQCC-GMM (its features need the workers)
    from spoofbench.detectors import create_detector
    from spoofbench.protocols.trials import TrialTable

    train = TrialTable.from_records([dict(utt_id=f"t{i}", path=p, label="bonafide" if i % 2 else "spoof",
                                          attack="-" if i % 2 else "A01", speaker="S1", split="train")
                                     for i, p in enumerate(long_files[:2])])
    small = dict(n_components=2, n_iter=1, init_frames=500, progress=False, cache_dir=False)
    det = create_detector("cqcc-gmm", n_jobs=1, **small).fit(train)
    det.n_jobs = 2
    det.save(tmp_path / "cqcc.det")
    bench = [sys.executable, "-m", "spoofbench.benchmark.cli", "score", "--detector", "cqcc-gmm",
             "--checkpoint", str(tmp_path / "cqcc.det"), "--out", str(tmp_path / "scores.csv"), *long_files]
    proc, workers = start_extraction(long_files, command=bench)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("bench score still running 10 s after two Ctrl-C")
    assert time.monotonic() - t0 < 8  # seconds, not the ~90 s of draining the queue; slack for a loaded machine
    assert proc.returncode != 0 and "finished" not in out
    # progress-bar lines (and the blank line tqdm leaves when it closes) are not messages
    messages = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    assert "Traceback" not in err and len(messages) <= 2, err
    assert not wait_gone(workers, timeout=2)


def test_demo_corpus_workers_die_with_their_parent(tmp_path):
    """The demo corpus build renders on a pool of its own: its workers end with it too."""
    build = [sys.executable, "-m", "spoofbench.benchmark.cli", "data", "demo", str(tmp_path / "demo"), "--jobs", "2"]
    assert_workers_end_with_parent(*start_extraction(None, command=build), signal.SIGKILL)
