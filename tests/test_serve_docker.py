"""The Dockerfile: built and run when Docker is available (`docker info` works), skipped with a message
otherwise. The container serves a mounted model file as a non-root user, scores as the model does offline and
stops gracefully (exit status 0)."""
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from _serve_util import free_port, noise, random_rawnet2

from spoofbench.deploy.serve.keys import KeyStore

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "spoofbench-serve:test"


def _docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not _docker_works(), reason="Docker is not available here (docker info fails): "
                                                             "the image is not built")]


def test_the_image_serves_a_mounted_model_as_a_non_root_user(tmp_path):
    build = subprocess.run(["docker", "build", "-t", IMAGE, str(ROOT)], capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stderr[-3000:]
    models, config = tmp_path / "models", tmp_path / "config"
    models.mkdir()
    config.mkdir()
    random_rawnet2(models / "model.det")
    store = KeyStore([], str(config / "keys.json"))
    key = store.add("docker")
    store.save()
    (config / "keys.json").chmod(0o644)  # readable by the container's user
    sf.write(tmp_path / "a.wav", noise(2.0), 16000, subtype="PCM_16")
    port = free_port()
    run = subprocess.run(["docker", "run", "-d", "-p", f"127.0.0.1:{port}:8000", "-v", f"{models}:/models:ro",
                          "-v", f"{config}:/config:ro", IMAGE], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    container = run.stdout.strip()
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, subprocess.run(["docker", "logs", container], capture_output=True,
                                                               text=True).stderr[-2000:]
            time.sleep(1)
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/score", files={"file": ("a.wav", (tmp_path / "a.wav")
                                                                                 .read_bytes())},
                            headers={"Authorization": f"Bearer {key}"}, timeout=60)
        assert answer.status_code == 200, answer.text
        from spoofbench.detectors import load_detector

        offline = load_detector(models / "model.det").score_files([tmp_path / "a.wav"])[0]
        assert answer.json()["score"] == pytest.approx(offline, rel=1e-4)
        user = subprocess.run(["docker", "exec", container, "id", "-u"], capture_output=True, text=True).stdout
        assert user.strip() == "10001"
        subprocess.run(["docker", "stop", "-t", "40", container], capture_output=True, timeout=90)
        status = subprocess.run(["docker", "inspect", "-f", "{{.State.ExitCode}}", container], capture_output=True,
                                text=True).stdout.strip()
        assert status == "0"
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
