"""LFCC-GMM / CQCC-GMM detectors and the feature cache, on tiny audio built in tmp_path."""
from __future__ import annotations

import os

import numpy as np
import pytest

from spoofbench.detectors import Detector, create_detector, frontends, list_detectors
from spoofbench.detectors.feature_cache import FeatureExtractor, default_cache_dir, resolve_cache_dir
from spoofbench.protocols.audio import write_audio
from spoofbench.protocols.errors import AudioError, ConfigError
from spoofbench.protocols.trials import TrialTable

FS = 16000
TINY = dict(n_components=4, n_iter=5, init_frames=2000, progress=False, n_jobs=1)


def voiced(rng, seconds=0.5):
    """Bona fide stand-in: a harmonic complex with a 1/k spectrum, jittered F0, a little noise."""
    t = np.arange(int(seconds * FS)) / FS
    f0 = rng.uniform(100, 220) * (1 + 0.02 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / FS
    x = sum(np.sin(k * phase) / k for k in range(1, 30))
    return 0.2 * x / np.abs(x).max() + 0.003 * rng.normal(size=t.size)


def buzzy(rng, seconds=0.5):
    """Spoof stand-in: noise through a resonance, band-limited to 4 kHz (a crude vocoder)."""
    from scipy.signal import butter, lfilter

    x = rng.normal(size=int(seconds * FS))
    b, a = butter(4, [300 / (FS / 2), 4000 / (FS / 2)], btype="band")
    x = lfilter(b, a, x)
    return 0.2 * x / np.abs(x).max()


def make_table(folder, n_bona, n_spoof, split, seed):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n_bona + n_spoof):
        bona = i < n_bona
        path = folder / f"{split}_{i:03d}.flac"
        write_audio(path, voiced(rng) if bona else buzzy(rng), FS)
        records.append(dict(utt_id=path.stem, path=str(path), label="bonafide" if bona else "spoof",
                            attack="-" if bona else "A01", speaker="S1", split=split))
    return TrialTable.from_records(records)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("gmm_corpus")
    return make_table(root / "train", 6, 6, "train", 0), make_table(root / "eval", 5, 5, "eval", 1)


def local_eer(scores, y):
    thresholds = np.sort(scores)
    rates = [(np.mean(scores[y == 1] < t), np.mean(scores[y == 0] >= t)) for t in thresholds]
    return min(max(m, f) for m, f in rates)


def test_registry_and_presets():
    names = list_detectors("*-gmm*", presets=True)
    for family in ("lfcc-gmm", "cqcc-gmm"):
        for preset in ("asvspoof2019", "asvspoof2021", "small"):
            assert f"{family}.{preset}" in names
    dims = {spec: frontends.feature_dim(create_detector(spec).frontend_kind, create_detector(spec).frontend_params())
            for spec in ("lfcc-gmm.asvspoof2019", "lfcc-gmm.asvspoof2021", "cqcc-gmm.asvspoof2019",
                         "cqcc-gmm.asvspoof2021")}
    assert dims == {"lfcc-gmm.asvspoof2019": 60, "lfcc-gmm.asvspoof2021": 57, "cqcc-gmm.asvspoof2019": 90,
                    "cqcc-gmm.asvspoof2021": 60}
    det = create_detector("cqcc-gmm.asvspoof2021")
    assert det.n_components == 512 and det.n_iter == 10 and det.spoof_file_step == 10
    assert create_detector("lfcc-gmm.small", frontend_options={"n_ceps": 12}).frontend_params()["n_ceps"] == 12
    with pytest.raises(ConfigError):
        create_detector("lfcc-gmm", frontend_options={"bogus": 1}).frontend_params()


@pytest.mark.parametrize("spec", ["lfcc-gmm.small", "cqcc-gmm.small"])
def test_fit_score_save_load(spec, corpus, tmp_path):
    train, test = corpus
    det = create_detector(spec, cache_dir=tmp_path / "cache", **TINY).fit(train)
    scores = det.score(test)
    assert scores.dtype == np.float64 and scores.shape == (len(test),) and np.isfinite(scores).all()
    assert local_eer(scores, test.y) <= 0.2  # higher = bona fide, and the classes separate
    det.save(tmp_path / "det.zip")
    runtime = {k: v for k, v in det.get_params().items() if k in det.runtime_params}  # not kept in the file
    loaded = Detector.load(tmp_path / "det.zip", **runtime)
    assert type(loaded) is type(det) and loaded.get_params() == det.get_params()
    np.testing.assert_array_equal(loaded.score(test), scores)
    again = create_detector(spec, cache_dir=tmp_path / "cache", **TINY).fit(train)  # same seed, same model
    np.testing.assert_array_equal(again.score(test), scores)


def test_batched_scoring_gives_the_same_scores(corpus, monkeypatch):
    from spoofbench.detectors import gmm_baselines

    train, test = corpus
    det = create_detector("lfcc-gmm.small", cache_dir=False, **TINY).fit(train)
    whole = det.score(test)
    monkeypatch.setattr(gmm_baselines, "_SCORE_BATCH_FILES", 3)
    monkeypatch.setattr(gmm_baselines, "_SCORE_BATCH_FRAMES", 70)  # fewer than one file's frames
    # other matrix shapes may take other BLAS kernels (other summation orders) on other CPUs
    np.testing.assert_allclose(det.score(test), whole, rtol=1e-10, atol=1e-10)


def test_second_run_extracts_nothing(corpus, tmp_path, monkeypatch):
    train, test = corpus
    calls = []
    real = frontends.extract
    monkeypatch.setattr(frontends, "extract", lambda kind, wave, params: calls.append(kind) or real(kind, wave,
                                                                                                     params))
    first = create_detector("lfcc-gmm.small", cache_dir=tmp_path, **TINY).fit(train)
    first_scores = first.score(test)
    assert len(calls) == len(train) + len(test)
    calls.clear()
    second = create_detector("lfcc-gmm.small", cache_dir=tmp_path, **TINY).fit(train)
    np.testing.assert_array_equal(second.score(test), first_scores)
    assert calls == []


def test_corrupted_and_truncated_entries_are_recomputed(corpus, tmp_path):
    train, _ = corpus
    paths = list(train["path"][:3])
    ex = FeatureExtractor("lfcc", frontends.frontend_params("lfcc"), cache_dir=tmp_path, n_jobs=1, progress=False)
    original = ex.features(paths)
    assert ex.last_extracted == 3
    flipped, truncated = ex.entry_path(paths[0]), ex.entry_path(paths[1])
    blob = bytearray(flipped.read_bytes())
    blob[-5] ^= 0xFF  # one bit pattern in the payload: the checksum no longer matches
    flipped.write_bytes(bytes(blob))
    truncated.write_bytes(truncated.read_bytes()[:-8])
    again = ex.features(paths)
    assert ex.last_extracted == 2 and ex.last_hits == 1
    for a, b in zip(original, again):
        np.testing.assert_array_equal(a, b)
    ex.features(paths)
    assert ex.last_extracted == 0  # the bad entries were rewritten


def test_cache_key_follows_parameters_and_file_identity(corpus, tmp_path):
    train, _ = corpus
    src = train["path"][0]
    path = tmp_path / "copy.flac"
    path.write_bytes(open(src, "rb").read())
    a = FeatureExtractor("lfcc", frontends.frontend_params("lfcc"), cache_dir=tmp_path / "c", progress=False)
    b = FeatureExtractor("lfcc", frontends.frontend_params("lfcc", n_ceps=10), cache_dir=tmp_path / "c",
                         progress=False)
    assert a.directory != b.directory
    a.features([str(path)])
    b.features([str(path)])
    assert b.last_extracted == 1 and b.features([str(path)])[0].shape[1] == 30
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the file changed: a new identity
    a.features([str(path)])
    assert a.last_extracted == 1


def test_parallel_extraction_equals_serial(corpus, tmp_path):
    train, _ = corpus
    paths = list(train["path"])
    params = frontends.frontend_params("cqcc", "asvspoof2021")
    serial = FeatureExtractor("cqcc", params, cache_dir=False, n_jobs=1, progress=False).features(paths)
    par = FeatureExtractor("cqcc", params, cache_dir=tmp_path, n_jobs=2, progress=False)
    parallel = par.features(paths)
    assert par.last_extracted == len(paths)
    for a, b in zip(serial, parallel):  # worker processes may run other thread counts (other FFT/BLAS paths)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    par.features(paths)
    assert par.last_hits == len(paths)  # the workers wrote the entries


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "bench"))
    assert default_cache_dir() == tmp_path / "bench" / "features"
    assert resolve_cache_dir(None) == tmp_path / "bench" / "features"
    monkeypatch.delenv("BENCH_CACHE_DIR")
    monkeypatch.setenv("SPOOFBENCH_CACHE", str(tmp_path / "runner"))
    assert default_cache_dir() == tmp_path / "runner" / "features"
    monkeypatch.delenv("SPOOFBENCH_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert str(default_cache_dir()).endswith(os.path.join(".cache", "spoofbench", "features"))
    assert resolve_cache_dir(False) is None and resolve_cache_dir("") is None
    ex = FeatureExtractor("lfcc", frontends.frontend_params("lfcc"), cache_dir=False, progress=False)
    assert ex.directory is None


@pytest.mark.parametrize("spec", ["lfcc-gmm.small", "cqcc-gmm.small"])
def test_silent_and_too_short_audio_get_finite_scores(spec, corpus, tmp_path):
    train, _ = corpus
    det = create_detector(spec, cache_dir=False, **TINY).fit(train)
    rng = np.random.default_rng(3)
    waves = {"silence": np.zeros(FS), "short": 0.1 * rng.normal(size=50), "one_sample": np.array([0.2])}
    records = []
    for name, wave in waves.items():
        write_audio(tmp_path / f"{name}.wav", wave, FS)
        records.append(dict(utt_id=name, path=str(tmp_path / f"{name}.wav"), label="spoof", attack="A01"))
    scores = det.score(TrialTable.from_records(records))
    assert np.isfinite(scores).all()


def test_bad_input_errors(corpus, tmp_path):
    train, _ = corpus
    det = create_detector("lfcc-gmm.small", cache_dir=False, **TINY)
    with pytest.raises(ConfigError, match="both bona fide and spoof"):
        det.fit(train[train.y == 1])
    missing = TrialTable.from_records([dict(utt_id="x", path=str(tmp_path / "nope.flac"), label="spoof")])
    with pytest.raises(AudioError, match="nope.flac"):
        det.fit(TrialTable.concat([train, missing]))
    with pytest.raises(ConfigError, match="training frames"):
        create_detector("lfcc-gmm.small", cache_dir=False, **{**TINY, "n_components": 100000}).fit(train)
    with pytest.raises(ConfigError, match="spoof_file_step=0 is not allowed"):
        create_detector("lfcc-gmm.small", cache_dir=False, spoof_file_step=0, **TINY).fit(train)
