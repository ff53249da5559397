"""spoofbench.client.Client against a real server: the same results as the HTTP API, errors as ServiceError."""
import pytest
import soundfile as sf
from _serve_util import noise, random_rawnet2, running

from spoofbench.client import Client, ServiceError
from spoofbench.deploy.serve import KeyStore, ServeSettings, create_app, load_model


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client")
    model = random_rawnet2(tmp / "m.det")
    store = KeyStore([], str(tmp / "keys.json"))
    key = store.add("client")
    sf.write(tmp / "a.wav", noise(1.0, seed=1), 16000, subtype="PCM_16")
    sf.write(tmp / "b.flac", noise(2.5, 44100, seed=2), 44100, subtype="PCM_16")
    app = create_app([load_model("m", model)], ServeSettings(), store)
    with running(app) as url:
        yield {"url": url, "key": key, "tmp": tmp, "model": model}


def test_score_batch_and_jobs_agree(service):
    from spoofbench.detectors import load_detector

    a, b = service["tmp"] / "a.wav", service["tmp"] / "b.flac"
    offline = load_detector(service["model"]).score_files([a, b])
    with Client(service["url"], service["key"]) as client:
        assert client.ready()
        assert [m["name"] for m in client.models()] == ["m"]
        one = client.score(a)
        assert one["score"] == pytest.approx(offline[0], rel=1e-5) and one["decision"] is None  # no policy saved
        long = client.score(b)
        assert long["flags"] == ["resampled"] and long["windows"] is not None
        assert long["score"] == pytest.approx(offline[1], rel=1e-5)
        batch = client.score_batch([a, b])
        assert [r["score"] for r in batch] == pytest.approx([one["score"], long["score"]], rel=1e-5)
        job = client.submit(b, windows=False)
        result = client.wait(job["id"], timeout=60)
        assert result["score"] == pytest.approx(long["score"], rel=1e-5) and result["windows"] is None


def test_errors_raise_service_error_with_the_status(service):
    with Client(service["url"], "sbk_wrong") as client:
        with pytest.raises(ServiceError) as info:
            client.score(service["tmp"] / "a.wav")
    assert info.value.status == 401 and "unknown API key" in str(info.value)
    with Client(service["url"], service["key"], model="nope") as client:
        with pytest.raises(ServiceError) as info:
            client.score(service["tmp"] / "a.wav")
    assert info.value.status == 404
