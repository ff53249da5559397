"""`bench serve` against a real uvicorn server on a free localhost port: scores equal `bench score`, access
control and limits (401/403/413/429), micro-batching under 50 concurrent requests, the live stream, batch and
job endpoints, /metrics and the health endpoints."""
import asyncio
import csv
import json
import os

import httpx
import numpy as np
import pytest
import soundfile as sf
from _serve_util import noise, random_rawnet2, running
from _tiny_corpus import bench
from prometheus_client.parser import text_string_to_metric_families

from spoofbench.deploy.serve import KeyStore, ServeSettings, create_app, load_model
from spoofbench.protocols import load_trials

N_WINDOW = 24000  # rawnet2.small's input: 1.5 s


@pytest.fixture(scope="module")
def setup(corpus, tmp_path_factory):
    """A saved model with a decision policy, two keys and a folder of varied audio."""
    tmp = tmp_path_factory.mktemp("serve")
    model = random_rawnet2(tmp / "small.det", load_trials(corpus, split="dev"))
    store = KeyStore([], str(tmp / "keys.json"))
    keys = {"alice": store.add("alice"), "bob": store.add("bob", ["other"])}
    store.save()
    audio = tmp / "audio"
    audio.mkdir()
    eval_dir = corpus / "LA" / "ASVspoof2019_LA_eval" / "flac"
    for name in sorted(os.listdir(eval_dir))[:6]:
        (audio / name).write_bytes((eval_dir / name).read_bytes())
    sf.write(audio / "stereo8k.wav", noise(1.0, 8000, channels=2, seed=1), 8000, subtype="PCM_16")
    sf.write(audio / "long.flac", noise(4.0, seed=2), 16000, subtype="PCM_16")
    sf.write(audio / "vorbis.ogg", noise(1.0, 22050, seed=3), 22050, format="OGG", subtype="VORBIS")
    sf.write(audio / "lame.mp3", noise(1.2, 24000, seed=5), 24000, format="MP3")
    sf.write(audio / "silence.wav", np.zeros(16000), 16000, subtype="PCM_16")
    sf.write(audio / "short.wav", noise(0.1, seed=4), 16000, subtype="PCM_16")
    return {"model": model, "keys_file": str(tmp / "keys.json"), "keys": keys, "audio": audio, "tmp": tmp}


def _app(setup, **settings):
    return create_app([load_model("small", setup["model"], max_batch=32, max_wait=0.005)],
                      ServeSettings(**settings), KeyStore.load(setup["keys_file"]))


def _auth(key):
    return {"Authorization": f"Bearer {key}"}


def _post(url, path, key, **kwargs):
    with open(path, "rb") as fh:
        return httpx.post(f"{url}/v1/score", files={"file": (os.path.basename(path), fh.read())},
                          headers=_auth(key) if key else {}, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def server(setup):
    with running(_app(setup)) as url:
        yield url


def test_scores_and_flags_equal_bench_score_on_the_same_files(setup, server, tmp_path):
    out = tmp_path / "scores.csv"
    result = bench("score", "--detector", "rawnet2", "--checkpoint", setup["model"], setup["audio"], "--out", out)
    assert result.exit_code == 0, result.output
    with open(out, newline="") as fh:
        offline = {os.path.basename(r["path"]): r for r in csv.DictReader(fh)}
    assert len(offline) == 12
    for name, row in offline.items():
        response = _post(server, setup["audio"] / name, setup["keys"]["alice"])
        assert response.status_code == 200, response.text
        got = response.json()
        assert got["score"] == pytest.approx(float(row["score"]), abs=2e-6, rel=1e-5), name
        assert got["flags"] == [f for f in row["flags"].split(";") if f], name
        assert got["decision"] in ("bona fide", "spoof", "review")
        assert got["llr"] is not None and got["model"] == "small" and len(got["model_version"]) == 12
    scores = [float(r["score"]) for r in offline.values()]
    assert np.ptp(scores) > 1e-3  # the files score differently, so equality above means something


def test_long_audio_gets_per_window_scores_whose_first_is_the_score(setup, server):
    got = _post(server, setup["audio"] / "long.flac", setup["keys"]["alice"]).json()
    windows = got["windows"]
    assert len(windows) == len(range(0, 4 * 16000 - N_WINDOW + 1, N_WINDOW // 2)) + 1  # last aligned with the end
    assert windows[0]["start_s"] == 0 and windows[-1]["end_s"] == pytest.approx(4.0)
    assert windows[0]["score"] == pytest.approx(got["score"], rel=1e-5)
    assert np.ptp([w["score"] for w in windows]) > 0
    assert _post(server, setup["audio"] / "long.flac", setup["keys"]["alice"],
                 params={"windows": "false"}).json()["windows"] is None


def test_decisions_follow_the_saved_policy(setup, server):
    from spoofbench.deploy.decisions import read_decisions

    policy = read_decisions(setup["model"])
    for name in sorted(os.listdir(setup["audio"]))[:4]:
        got = _post(server, setup["audio"] / name, setup["keys"]["alice"]).json()
        assert got["llr"] == pytest.approx(float(policy.llr([got["score"]])[0]))
        assert got["decision"] == str(policy.decide([got["score"]])[0])


def test_missing_or_unknown_key_is_401_and_a_key_without_the_model_403(setup, server):
    path = setup["audio"] / "long.flac"
    missing = _post(server, path, None)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert _post(server, path, "sbk_not-a-key").status_code == 401
    forbidden = _post(server, path, setup["keys"]["bob"])
    assert forbidden.status_code == 403 and "small" in forbidden.json()["detail"]
    assert httpx.get(f"{server}/v1/models", headers=_auth(setup["keys"]["bob"])).json() == []


def test_unusable_audio_is_422_with_the_problem(setup, server):
    response = httpx.post(f"{server}/v1/score", files={"file": ("x.wav", b"RIFF not audio at all")},
                          headers=_auth(setup["keys"]["alice"]))
    assert response.status_code == 422 and "unusable audio" in response.json()["detail"]


def test_limits_give_413_and_the_rate_limit_429(setup):
    with running(_app(setup, max_upload_mb=0.2, max_audio_seconds=2.0, rate_limit_per_minute=3)) as url:
        key = setup["keys"]["alice"]
        too_big = httpx.post(f"{url}/v1/score", files={"file": ("big.wav", b"\0" * 300_000)}, headers=_auth(key))
        assert too_big.status_code == 413 and "0.2 MB" in too_big.json()["detail"]

        def chunks():  # no Content-Length: the limit is enforced while the body streams in
            yield b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n"
            for _ in range(20):
                yield b"\0" * 15_000

        chunked = httpx.post(f"{url}/v1/score", content=chunks(),
                             headers={**_auth(key), "Content-Type": "multipart/form-data; boundary=x"})
        assert chunked.status_code == 413 and "0.2 MB" in chunked.json()["detail"]
        too_long = _post(url, setup["audio"] / "long.flac", key)  # 4 s of audio, 2 s allowed
        assert too_long.status_code == 413 and "at most 2 s" in too_long.json()["detail"]
        assert _post(url, setup["audio"] / "short.wav", key).status_code == 200
        limited = _post(url, setup["audio"] / "short.wav", key)  # the fourth request within the minute
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_fifty_concurrent_requests_are_all_answered_in_micro_batches(setup):
    files = sorted(p for p in setup["audio"].iterdir() if p.suffix == ".flac" and p.name != "long.flac")
    blobs = [(p.name, p.read_bytes()) for p in files]
    expected = {}
    with running(_app(setup)) as url:
        for name, data in blobs:  # one at a time first: the reference scores
            expected[name] = httpx.post(f"{url}/v1/score", files={"file": (name, data)},
                                        headers=_auth(setup["keys"]["alice"])).json()["score"]

        async def burst():
            async with httpx.AsyncClient(base_url=url, headers=_auth(setup["keys"]["alice"]), timeout=120,
                                         limits=httpx.Limits(max_connections=50)) as client:
                jobs = [client.post("/v1/score", files={"file": blobs[i % len(blobs)]}) for i in range(50)]
                return await asyncio.gather(*jobs)

        answers = asyncio.run(burst())
        metrics = httpx.get(f"{url}/metrics").text
    assert [a.status_code for a in answers] == [200] * 50
    for i, answer in enumerate(answers):
        assert answer.json()["score"] == pytest.approx(expected[blobs[i % len(blobs)][0]], abs=2e-6, rel=1e-5)
    samples = {s.name: s.value for f in text_string_to_metric_families(metrics) for s in f.samples
               if s.labels.get("model") == "small"}
    calls, served = samples["spoofbench_batch_requests_count"], samples["spoofbench_batch_requests_sum"]
    assert served == 50 + len(blobs)
    assert calls < served  # some model calls served several requests


def test_metrics_parse_and_count_requests_decisions_scores_and_drift(setup):
    files = sorted(setup["audio"].iterdir())
    with running(_app(setup)) as url:
        for i in range(32):  # enough live scores for the drift statistics
            assert _post(url, files[i % len(files)], setup["keys"]["alice"]).status_code == 200
        text = httpx.get(f"{url}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = {tuple(sorted(s.labels.items())): s.value for s in families["spoofbench_requests"].samples
                if s.name == "spoofbench_requests_total"}
    assert requests[(("endpoint", "/v1/score"), ("model", "small"), ("status", "200"))] == 32
    decisions = sum(s.value for s in families["spoofbench_decisions"].samples if s.name.endswith("_total"))
    assert decisions == 32
    score_count = [s.value for s in families["spoofbench_score"].samples if s.name == "spoofbench_score_count"]
    assert score_count == [32]
    latency = [s.value for s in families["spoofbench_request_seconds"].samples
               if s.name.endswith("_count") and s.labels["endpoint"] == "/v1/score"]
    assert latency == [32]
    psi = families["spoofbench_score_drift_psi"].samples[0].value
    ks = families["spoofbench_score_drift_ks"].samples[0].value
    assert np.isfinite(psi) and psi >= 0 and 0 <= ks <= 1
    flags = {s.labels["flag"]: s.value for s in families["spoofbench_audio_flags"].samples
             if s.name.endswith("_total")}
    assert flags["silent"] >= 1 and flags["short"] >= 1


def test_batch_endpoint_and_jobs_give_the_single_file_results(setup, server):
    key = setup["keys"]["alice"]
    names = ["long.flac", "stereo8k.wav"]
    single = {n: _post(server, setup["audio"] / n, key).json() for n in names}
    files = [("files", (n, (setup["audio"] / n).read_bytes())) for n in names] + [("files", ("bad.wav", b"junk"))]
    batch = httpx.post(f"{server}/v1/score/batch", files=files, headers=_auth(key), timeout=60).json()["results"]
    assert [r["score"] for r in batch[:2]] == pytest.approx([single[n]["score"] for n in names], rel=1e-5)
    assert batch[2]["error"]["status"] == 422
    long_file = {"file": ("long.flac", (setup["audio"] / "long.flac").read_bytes())}
    submitted = httpx.post(f"{server}/v1/jobs", files=long_file, headers=_auth(key))
    assert submitted.status_code == 202
    job_id = submitted.json()["id"]
    for _ in range(500):
        job = httpx.get(f"{server}/v1/jobs/{job_id}", headers=_auth(key)).json()
        if job["status"] in ("done", "failed"):
            break
        asyncio.run(asyncio.sleep(0.02))
    assert job["status"] == "done"
    assert job["result"]["score"] == pytest.approx(single["long.flac"]["score"], rel=1e-5)
    assert [w["score"] for w in job["result"]["windows"]] == pytest.approx(
        [w["score"] for w in single["long.flac"]["windows"]], rel=1e-5)
    other = httpx.get(f"{server}/v1/jobs/{job_id}", headers=_auth(setup["keys"]["bob"]))
    assert other.status_code == 404  # a job is visible to the key that submitted it only


def test_stream_gives_a_first_score_within_one_second_of_audio(setup, server):
    from websockets.sync.client import connect

    wave = (noise(3.0, seed=7) * 32767).astype("<i2")
    chunk = 1600  # 100 ms
    url = server.replace("http", "ws") + "/v1/stream?interval_ms=500"
    with connect(url, additional_headers=_auth(setup["keys"]["alice"])) as ws:
        ready = json.loads(ws.recv(timeout=10))
        assert ready["type"] == "ready" and ready["window_s"] == pytest.approx(1.5)
        first, scores = None, []
        for i in range(0, len(wave), chunk):
            ws.send(wave[i:i + chunk].tobytes())
            if first is None and i + chunk >= 16000:  # one second of audio sent: a score must be there
                message = json.loads(ws.recv(timeout=10))
                assert message["type"] == "score", message
                first = message
        ws.send(json.dumps({"type": "end"}))
        while True:
            message = json.loads(ws.recv(timeout=10))
            if message["type"] == "end":
                break
            scores.append(message)
    assert first["audio_s"] <= 1.0 and first["latency_ms"] > 0
    assert first["decision"] in ("bona fide", "spoof", "review")
    assert message["audio_s"] == pytest.approx(3.0) and message["scores"] == 1 + len(scores) >= 2
    assert message["latency_ms_p50"] > 0
    # the last score is of the last 1.5 s, as the model scores those samples as a file
    from spoofbench.detectors import load_detector

    last = scores[-1] if scores else first
    assert last["audio_s"] == pytest.approx(3.0)
    offline = load_detector(setup["model"]).score_waves([wave[-N_WINDOW:].astype(np.float32) / 32768], 16000)[0]
    assert last["score"] == pytest.approx(offline, rel=1e-5)


def test_stream_without_a_key_is_refused(server):
    from websockets.sync.client import connect

    with connect(server.replace("http", "ws") + "/v1/stream") as ws:
        message = json.loads(ws.recv(timeout=10))
    assert message["type"] == "error" and message["status"] == 401


def test_health_readiness_page_and_openapi(server):
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server}/readyz").json() == {"status": "ready", "models": ["small"]}
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and 'id="upload"' in page.text
    assert "score(" in httpx.get(f"{server}/static/app.js").text
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert {"/v1/score", "/v1/score/batch", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/models"} <= set(paths)


def test_other_detectors_are_served_through_score_waves_with_bench_score_numbers(corpus, setup, tmp_path):
    from spoofbench.detectors import create_detector

    create_detector("spectral-lr").fit(load_trials(corpus, split="train")).save(tmp_path / "lr.det")
    out = tmp_path / "scores.csv"
    assert bench("score", "--detector", "spectral-lr", "--checkpoint", tmp_path / "lr.det", setup["audio"],
                 "--out", out).exit_code == 0
    with open(out, newline="") as fh:
        offline = {os.path.basename(r["path"]): float(r["score"]) for r in csv.DictReader(fh)}
    app = create_app([load_model("lr", str(tmp_path / "lr.det"))], ServeSettings())  # no keys: open
    with running(app) as url:
        for name, expected in offline.items():
            got = _post(url, setup["audio"] / name, None).json()
            assert got["score"] == pytest.approx(expected, abs=2e-6, rel=1e-5), name
            assert got["windows"] is None and got["decision"] is None
    assert np.ptp(list(offline.values())) > 1e-3
