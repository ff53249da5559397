"""What the service tests share: small saved models (with a decision policy) and a real uvicorn server on a
free localhost port, run in a background thread."""
from __future__ import annotations

import contextlib
import socket
import threading
import time

import numpy as np
import torch


def random_rawnet2(path, dev_trials=None, seed: int = 0):
    """``rawnet2.small`` with seeded random weights, saved to ``path``; with ``dev_trials``, a decision policy
    fitted on their scores is saved with it. Random weights cost no training; the classifier's weights are
    scaled up so that the scores differ from file to file by far more than float rounding (untrained, they
    differ by ~1e-5)."""
    from spoofbench.deploy.decisions import fit_decision_policy
    from spoofbench.detectors import create_detector

    torch.manual_seed(seed)
    det = create_detector("rawnet2.small", progress=False, threads=1)
    det.model_ = det.build_model().eval()
    with torch.no_grad():
        det.model_.fc2_gru.weight.mul_(1000.0)
    det.history_ = []
    policy = None
    if dev_trials is not None:
        policy = fit_decision_policy(det.score(dev_trials), dev_trials.y, target_error=0.05)
    det.save(path, decisions=policy)
    return str(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(app, timeout: float = 30.0):
    """Serve ``app`` with uvicorn on a free localhost port; yields its base URL; stops it after."""
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def noise(seconds: float, rate: int = 16000, level: float = 0.1, seed: int = 0, channels: int = 1) -> np.ndarray:
    shape = (int(seconds * rate), channels) if channels > 1 else (int(seconds * rate),)
    return np.random.default_rng(seed).normal(0, level, shape).clip(-0.9, 0.9)
