"""`bench keys` and `bench serve` as commands: keys stored hashed and printed once, a non-loopback address
refused without keys, and the real command serving, logging JSON lines without audio or keys, and shutting
down gracefully on SIGTERM (the request in flight is answered)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
import soundfile as sf
from _serve_util import free_port, noise, random_rawnet2
from _tiny_corpus import bench
from prometheus_client.parser import text_string_to_metric_families

from spoofbench.deploy.serve.keys import KeyStore, hash_key


def test_keys_add_prints_the_key_once_and_stores_only_its_hash(tmp_path):
    keys = tmp_path / "keys.json"
    added = bench("keys", "add", "alice", "--keys", keys, "--models", "a,b")
    assert added.exit_code == 0, added.output
    key = added.stdout.strip().splitlines()[0]
    assert key.startswith("sbk_") and len(key) > 40
    text = keys.read_text()
    assert key not in text and hash_key(key) in text
    assert oct(os.stat(keys).st_mode & 0o777) == "0o600"
    record = KeyStore.load(keys).find(key)
    assert record.name == "alice" and record.may_use("a") and not record.may_use("c")
    again = bench("keys", "add", "alice", "--keys", keys)
    assert again.exit_code == 2 and "exists" in again.output
    assert "alice\ta,b" in bench("keys", "list", "--keys", keys).output
    assert bench("keys", "remove", "alice", "--keys", keys).exit_code == 0
    assert KeyStore.load(keys).find(key) is None


def test_serve_refuses_an_open_non_loopback_address_without_keys(tmp_path):
    result = bench("serve", "--model", tmp_path / "missing.det", "--host", "0.0.0.0")
    assert result.exit_code == 2 and "--keys FILE" in result.output


def test_serve_names_a_model_that_is_not_servable(tmp_path):
    result = bench("serve", "--model", "rawnet2.small", "--port", free_port())
    assert result.exit_code == 2 and "not a pre-trained preset" in result.output


@pytest.mark.slow
def test_the_command_serves_logs_json_and_shuts_down_gracefully(tmp_path):
    model = random_rawnet2(tmp_path / "m.det")
    keys = tmp_path / "keys.json"
    key = bench("keys", "add", "ops", "--keys", keys).stdout.strip().splitlines()[0]
    sf.write(tmp_path / "secret-name.flac", noise(4.0), 16000, subtype="PCM_16")
    blob = (tmp_path / "secret-name.flac").read_bytes()
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "spoofbench.benchmark.cli", "serve", "--model", f"m={model}",
                             "--keys", str(keys), "--port", str(port), "--threads", "1"],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.post(f"{url}/v1/score", files={"file": ("secret-name.flac", blob)}, headers=headers,
                          timeout=60).status_code == 200
        answers = []
        files = [("files", (f"f{i}.flac", blob)) for i in range(24)]
        slow = threading.Thread(target=lambda: answers.append(
            httpx.post(f"{url}/v1/score/batch", files=files, headers=headers, timeout=120)))
        slow.start()
        while _in_flight(url) < 2:  # the batch (and this scrape) are being processed
            assert slow.is_alive(), "the batch finished before the shutdown could be tested"
        proc.send_signal(signal.SIGTERM)
        slow.join(120)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    assert code == 0, stderr[-2000:]
    assert answers and answers[0].status_code == 200 and len(answers[0].json()["results"]) == 24
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is JSON
    requests = [e for e in lines if e["message"] == "request"]
    assert {e["endpoint"] for e in requests} == {"/v1/score", "/v1/score/batch"}
    assert all(e["key"] == "ops" for e in requests)
    assert key not in stderr and "secret-name" not in stderr
    assert any(e["message"] == "stopped" for e in lines)


def _in_flight(url) -> float:
    text = httpx.get(f"{url}/metrics").text
    return next(s.value for f in text_string_to_metric_families(text) for s in f.samples
                if s.name == "spoofbench_requests_in_flight")


@pytest.mark.slow
def test_perf_serve_runs_a_bounded_load_test_beside_bench_score(tmp_path):
    model = random_rawnet2(tmp_path / "m.det")
    for i in range(3):
        sf.write(tmp_path / f"a{i}.wav", noise(1.0 + i, seed=i), 16000, subtype="PCM_16")
    out = tmp_path / "load.json"
    result = bench("perf", "serve", "--model", f"m={model}", tmp_path, "--requests", 6, "--concurrency", "1,3",
                   "--stream-seconds", 1, "--json", out)
    assert result.exit_code == 0, result.output
    levels = [r for r in json.loads(out.read_text()) if "concurrency" in r]
    assert [r["concurrency"] for r in levels] == [1, 3]
    assert all(r["answered"] == 6 and r["errors"] == 0 and r["offline_files_per_s"] > 0 for r in levels)
    stream = next(r for r in json.loads(out.read_text()) if "stream_seconds" in r)
    assert stream["scores"] == 2 and stream["first_score_audio_s"] == pytest.approx(0.5)
    assert "offline files/s" in result.output
