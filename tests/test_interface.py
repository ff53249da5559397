import json

import numpy as np
import pytest
from _easy_corpus import easy_split

from spoofbench import detectors
from spoofbench.detectors import Detector, create_detector, list_detectors, register_detector
from spoofbench.protocols import AudioError, BenchError, ConfigError, TrialTable


def _table(n=6):
    return TrialTable({"utt_id": [f"u{i}" for i in range(n)], "path": [f"/x/u{i}.flac" for i in range(n)],
                       "label": ["bonafide", "spoof"] * (n // 2), "attack": ["-", "A01"] * (n // 2),
                       "speaker": ["s1"] * n, "split": ["train"] * n, "codec": ["none"] * n})


def test_trial_table_columns_and_selection():
    t = _table()
    assert list(t.columns)[:6] == ["utt_id", "path", "label", "attack", "speaker", "split"]
    assert t.extra_columns == ["codec"]
    assert t.y.tolist() == [1, 0, 1, 0, 1, 0]
    assert t.select(attack="A01")["utt_id"].tolist() == ["u1", "u3", "u5"]
    assert len(t.select(max_count=4, seed=3)) == 4
    assert t.select(fraction=0.5, seed=1)["utt_id"].tolist() == t.select(fraction=0.5, seed=1)["utt_id"].tolist()


def test_registry_presets_and_overrides():
    @register_detector("toy-test", presets={"a": {"alpha": 1}, "b": {"alpha": 2}}, default_preset="a")
    class Toy(Detector):
        def __init__(self, alpha=0, beta=5):
            self.alpha, self.beta = alpha, beta

    assert create_detector("toy-test").alpha == 1
    # every registered detector also takes the generic augment= and augment_copies=
    assert create_detector("toy-test.b", beta=7).get_params() == {"alpha": 2, "beta": 7, "augment": None,
                                                                  "augment_copies": 1}
    assert "toy-test.b" in list_detectors("toy-*", presets=True)
    with pytest.raises(ConfigError, match="unknown parameter 'gamma'"):
        create_detector("toy-test", gamma=1)
    with pytest.raises(ConfigError, match="did you mean 'toy-test'"):
        create_detector("toy-tset")
    with pytest.raises(ConfigError, match="no preset 'c'"):
        create_detector("toy-test.c")


def test_detector_file_refuses_non_detector(tmp_path):
    bad = tmp_path / "x.det"
    bad.write_bytes(b"not a zip")
    with pytest.raises(Exception, match="not a detector file"):
        detectors.load_detector(bad)


@pytest.mark.parametrize("spec, params, message", [
    ("rawnet2", {"epochs": -1}, "rawnet2: epochs=-1 is not allowed; expected an integer >= 1"),
    ("rawnet2", {"epochs": 0}, "rawnet2: epochs=0 is not allowed"),
    ("rawnet2", {"batch_size": 0}, "rawnet2: batch_size=0 is not allowed"),
    ("rawnet2", {"lr": -1}, "rawnet2: lr=-1 is not allowed; expected a finite number > 0"),
    ("rawnet2", {"lr_schedule": "step"}, "rawnet2: lr_schedule='step' is not allowed; expected one of 'none'"),
    ("rawnet2", {"epochs": "ten"}, "rawnet2: epochs='ten' is not allowed; expected int, got str"),
    ("rawnet2", {"block_channels": [0, 4]}, "rawnet2: block_channels=\\[0, 4\\] is not allowed"),
    ("lfcc-gmm", {"n_components": 0}, "lfcc-gmm: n_components=0 is not allowed; expected an integer >= 1"),
    ("cqcc-gmm", {"n_iter": -3}, "cqcc-gmm: n_iter=-3 is not allowed; expected an integer >= 0"),
    ("lfcc-gmm", {"frontend": "asvspoof2077"}, "lfcc-gmm: frontend='asvspoof2077' is not allowed; expected one "
                                               "of 'asvspoof2019', 'asvspoof2021'"),
    ("lfcc-gmm", {"frontend_options": {"bogus": 1}}, "lfcc-gmm: frontend_options: lfcc: unknown parameter 'bogus'"),
    ("lfcc-gmm", {"n_components": True}, "lfcc-gmm: n_components=True is not allowed"),
    ("spectral-lr", {"C": 0}, "spectral-lr: C=0 is not allowed; expected a finite number > 0"),
    ("spectral-lr", {"n_bands": 0}, "spectral-lr: n_bands=0 is not allowed"),
])
def test_out_of_range_hyperparameters_fail_in_one_line(spec, params, message):
    with pytest.raises(ConfigError, match=message) as info:
        create_detector(spec, **params)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("spec", list_detectors(presets=True))
def test_runtime_params_are_declared_hyperparameters_and_presets_validate(spec):
    det = create_detector(spec)  # create_detector runs check_params on the preset's own values
    assert det.runtime_params <= set(det.param_names())
    assert set(det.result_param_names()) == set(det.param_names()) - det.runtime_params


def test_runtime_params_of_the_builtin_families():
    assert {"cache_dir", "n_jobs", "device", "progress"} == create_detector("lfcc-gmm").runtime_params
    rawnet2 = create_detector("rawnet2")
    assert {"checkpoint_dir", "num_workers", "threads", "device", "progress"} <= rawnet2.runtime_params
    assert not {"epochs", "lr", "seed", "fast_inference", "amp", "score_mode"} & rawnet2.runtime_params
    assert create_detector("spectral-lr").runtime_params == frozenset()


@pytest.mark.parametrize("spec", ["spectral-lr", "lfcc-gmm.small", "rawnet2.small"])
def test_set_params_and_fit_check_the_new_values(spec):
    det = create_detector(spec)
    name = "n_fft" if spec == "spectral-lr" else "n_components" if "gmm" in spec else "epochs"
    before = getattr(det, name)
    with pytest.raises(ConfigError, match=f"{name}=0 is not allowed"):
        det.set_params(**{name: 0})
    assert getattr(det, name) == before  # a refused change leaves the detector as it was
    setattr(det, name, 0)  # assigned directly: fit checks before any work
    with pytest.raises(ConfigError, match=f"{name}=0 is not allowed"):
        det.fit(_table())


# ---- trial tables -----------------------------------------------------------------------------------------
def test_missing_column_is_named():
    with pytest.raises(KeyError, match="no column 'vocoder'; columns: utt_id, path, label") as info:
        _table()["vocoder"]
    assert isinstance(info.value, BenchError) and str(info.value).startswith("trial table has no column")


def test_trial_table_rows_by_slice_mask_and_index_array():
    t = _table()
    assert t[1:4]["utt_id"].tolist() == ["u1", "u2", "u3"]
    assert t[::-2]["utt_id"].tolist() == ["u5", "u3", "u1"]
    assert t[t.y == 1]["utt_id"].tolist() == ["u0", "u2", "u4"]
    assert t[np.array([4, 0])]["utt_id"].tolist() == ["u4", "u0"]
    assert t[[5, -6]]["utt_id"].tolist() == ["u5", "u0"]
    assert len(t[[]]) == 0 and list(t[[]].columns) == list(t.columns)
    assert t[2:3]["codec"].tolist() == ["none"]


@pytest.mark.parametrize("key, error, message", [
    (2, TypeError, r"use table\[2:3\] for one row"),
    (np.array([0.5, 1.0]), TypeError, "cannot select trials"),
    (np.array([[0, 1]]), TypeError, "cannot select trials"),
    (np.array([True, False]), IndexError, "boolean mask of length 2 for a table of 6 trials"),
    ([0, 6], IndexError, "row 6 is out of range for a table of 6 trials"),
])
def test_trial_table_refuses_other_keys_clearly(key, error, message):
    with pytest.raises(error, match=message):
        _table()[key]


def test_trial_table_from_paths():
    t = TrialTable.from_paths(["/a/x.flac", "b/y.wav"])
    assert t["utt_id"].tolist() == ["x", "y"] and t["path"].tolist() == ["/a/x.flac", "b/y.wav"]
    assert t.y.tolist() == [0, 0] and set(t["label"]) == {"unknown"}


# ---- scoring files and waveforms from Python --------------------------------------------------------------
@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    root = tmp_path_factory.mktemp("easy")
    return easy_split(root / "train", "train", 8, 0), easy_split(root / "eval", "eval", 4, 1)


@pytest.mark.parametrize("spec, params", [("spectral-lr", {}),
                                          ("lfcc-gmm.small", dict(n_components=2, n_iter=2, cache_dir=False,
                                                                  n_jobs=1, progress=False))])
def test_score_files_and_waves_give_the_scores_of_score(spec, params, easy):
    from spoofbench.protocols import load_audio

    train, test = easy
    det = create_detector(spec, **params).fit(train)
    expected = det.score(test)
    paths = list(test["path"])
    # same samples; only the batch shapes may change the rounding of the products
    np.testing.assert_allclose(det.score_files(paths), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(det.score_files(paths, batch_size=3), expected, rtol=1e-9, atol=1e-12)
    waves = [load_audio(p, None) for p in paths]
    np.testing.assert_allclose(det.score_waves(waves, 16000), expected, rtol=1e-9, atol=1e-12)


def test_score_waves_leaves_no_feature_cache_entries(easy, tmp_path):
    from spoofbench.protocols import load_audio

    cache = tmp_path / "cache"
    det = create_detector("lfcc-gmm.small", cache_dir=str(cache), n_components=2, n_iter=2, n_jobs=1,
                          progress=False).fit(easy[0])
    entries = lambda: sorted(cache.rglob("*.feat"))  # noqa: E731
    after_fit = entries()
    assert len(after_fit) == len(easy[0])  # the cache is in use
    waves = [load_audio(p, None) for p in easy[1]["path"]]
    scores = det.score_waves(waves, 16000)
    assert entries() == after_fit and det.cache_dir == str(cache)
    np.testing.assert_allclose(scores, det.score(easy[1]), rtol=1e-9, atol=1e-12)
    assert len(entries()) == len(after_fit) + len(easy[1])


@register_detector("toy-length")
class _LengthDetector(Detector):
    """Scores each file by its length in samples at the detector's rate (shows what the detector was given)."""

    def __init__(self, sample_rate: int = 16000):
        self.sample_rate = sample_rate

    def fit(self, train, dev=None):
        self.fitted_ = True
        return self

    def score(self, trials):
        from spoofbench.protocols import load_audio

        return np.array([float(len(load_audio(p, self.sample_rate))) for p in trials["path"]])

    def get_state(self):
        return {"fitted": np.array(True)}

    def set_state(self, state):
        self.fitted_ = bool(state["fitted"])


def test_score_waves_resamples_to_the_detector_rate():
    det = create_detector("toy-length").fit(None)
    scores = det.score_waves([np.full(8000, 0.1), np.full(4000, -0.1)], sample_rate=8000)
    assert scores.tolist() == [16000.0, 8000.0]
    assert det.score_waves(np.zeros((3, 160)) + 0.01, 16000).tolist() == [160.0] * 3  # a 2-D batch
    assert det.score_waves([], 16000).shape == (0,) and det.score_files([]).shape == (0,)


@pytest.mark.parametrize("waves, rate, error, message", [
    ([np.zeros(10), np.array([0.0, np.nan])], 16000, AudioError, r"waves\[1\]: holds NaN or Inf samples"),
    ([np.zeros((10, 2))], 16000, AudioError, r"waves\[0\]: expected a mono waveform"),
    ([np.zeros(0)], 16000, AudioError, r"waves\[0\]: holds no samples"),
    ([np.zeros(10)], 0, ConfigError, "sample_rate=0 is not allowed"),
    (np.zeros(10), 16000, TypeError, "for one use \\[wave\\]"),
])
def test_score_waves_refuses_bad_waves_clearly(waves, rate, error, message):
    det = create_detector("toy-length").fit(None)
    with pytest.raises(error, match=message):
        det.score_waves(waves, rate)


# ---- model files are data, not instructions -----------------------------------------------------------------
TINY_GMM = dict(n_components=2, n_iter=2, n_jobs=1, progress=False)


@pytest.fixture(scope="module")
def gmm_file(easy, tmp_path_factory):
    det = create_detector("lfcc-gmm.small", cache_dir=False, **TINY_GMM).fit(easy[0])
    path = tmp_path_factory.mktemp("model") / "lfcc.det"
    det.save(path)
    return det, path


def test_a_flipped_byte_anywhere_is_refused_in_one_line(tmp_path):
    path = tmp_path / "toy.det"
    create_detector("toy-length").fit(None).save(path)
    assert Detector.load(path).is_fitted
    blob = path.read_bytes()
    bad = tmp_path / "bad.det"
    for position in range(len(blob)):
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        bad.write_bytes(bytes(damaged))
        with pytest.raises(BenchError) as info:
            Detector.load(bad)
        message = str(info.value)
        assert message.startswith(f"{bad}: ") and "\n" not in message, position
        assert "delete it and fit the detector again" in message, (position, message)


def _craft(path, params, detector="lfcc-gmm", state=None):
    from spoofbench.detectors.model_file import write_detector_file

    write_detector_file(path, {"detector": detector, "params": params}, state or {"x": np.zeros(1)})
    return path


@pytest.mark.parametrize("change, message", [
    ({"n_components": "ten"}, "lfcc-gmm: n_components='ten' is not allowed; expected int, got str"),
    ({"n_iter": -3}, "lfcc-gmm: n_iter=-3 is not allowed; expected an integer >= 0"),
    ({"frontend_options": ["x"]}, "lfcc-gmm: frontend_options=\\['x'\\] is not allowed; expected dict or None"),
    ({"frontend_options": {"n_ceps": "many"}}, "lfcc-gmm: frontend_options=.* is not allowed"),
    ({"evil": 1}, "lfcc-gmm: unknown parameter 'evil'"),
])
def test_settings_from_a_file_are_checked(gmm_file, tmp_path, change, message):
    det, _ = gmm_file
    params = {k: v for k, v in det.get_params().items() if k not in det.runtime_params}
    crafted = _craft(tmp_path / "crafted.det", {**params, **change})
    with pytest.raises(BenchError, match=f"^{crafted}: {message}") as info:
        Detector.load(crafted)
    assert "\n" not in str(info.value)


def test_a_state_that_does_not_fit_is_one_line(gmm_file, tmp_path):
    det, _ = gmm_file
    params = {k: v for k, v in det.get_params().items() if k not in det.runtime_params}
    state = {k: v[..., :3] for k, v in det.get_state().items()}  # fewer dimensions than the front end gives
    crafted = _craft(tmp_path / "crafted.det", params, state=state)
    with pytest.raises(BenchError, match=f"^{crafted}: ") as info:
        Detector.load(crafted)
    assert "\n" not in str(info.value)
    with pytest.raises(BenchError, match=f"^{tmp_path / 'other.det'}: unknown detector 'nope'"):
        Detector.load(_craft(tmp_path / "other.det", {}, detector="nope"))


def test_bench_score_reports_a_crafted_file_in_one_line(gmm_file, easy, tmp_path):
    from click.testing import CliRunner

    from spoofbench.benchmark.cli import cli

    det, _ = gmm_file
    params = {k: v for k, v in det.get_params().items() if k not in det.runtime_params}
    crafted = _craft(tmp_path / "crafted.det", {**params, "n_components": "ten"})
    result = CliRunner().invoke(cli, ["score", "--detector", "lfcc-gmm", "--checkpoint", str(crafted),
                                      easy[1]["path"][0], "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {crafted}: lfcc-gmm: n_components='ten' is not allowed; expected int, got str"]


def test_runtime_params_never_go_into_nor_come_from_a_model_file(gmm_file, easy, tmp_path):
    from spoofbench.detectors import read_detector_file

    det, path = gmm_file
    meta, _ = read_detector_file(path)
    assert not set(meta["params"]) & det.runtime_params
    assert set(meta["params"]) == set(det.result_param_names())

    chosen_by_author = tmp_path / "author" / "cache"
    params = {**meta["params"], "cache_dir": str(chosen_by_author), "n_jobs": 1, "progress": False}
    crafted = _craft(tmp_path / "crafted.det", params, state=det.get_state())
    with pytest.warns(UserWarning, match="ignoring machine-specific settings stored in the file \\(cache_dir, "
                                         "n_jobs, progress\\)"):
        loaded = Detector.load(crafted, cache_dir=str(tmp_path / "mine"), n_jobs=1, progress=False)
    assert loaded.cache_dir == str(tmp_path / "mine")
    scores = loaded.score(easy[1])
    np.testing.assert_allclose(scores, det.score(easy[1]), rtol=1e-9, atol=1e-12)
    assert not (tmp_path / "author").exists() and (tmp_path / "mine").is_dir()
    with pytest.raises(ConfigError, match="'n_components' is not a runtime parameter"):
        Detector.load(path, n_components=3)


def test_load_detector_takes_runtime_overrides(gmm_file):
    det, path = gmm_file
    loaded = detectors.load_detector(path, cache_dir=False, n_jobs=1, progress=False, device="cpu")
    assert loaded.device == "cpu" and loaded.get_params() == {**det.get_params(), "device": "cpu"}


# ---- bench list and --help import nothing heavy ---------------------------------------------------------------
HEAVY = ("torch", "librosa", "sklearn", "matplotlib", "xgboost")
_PROBE = """
import json, sys
from spoofbench.benchmark.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("HEAVY=" + json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


@pytest.mark.parametrize("argv", [["list"], ["--help"], ["list", "--help"], ["data", "--help"], ["eval", "--help"],
                                  ["perf", "--help"], ["run", "--help"], ["score", "--help"],
                                  ["data", "describe", "--help"]])
def test_bench_list_and_help_import_nothing_heavy(argv):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=HEAVY), *argv], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out, _, heavy = done.stdout.rpartition("HEAVY=")
    assert json.loads(heavy) == [], f"bench {' '.join(argv)} imported {heavy.strip()}"
    if argv == ["list"]:
        assert "rawnet2" in out and "asvspoof2021, icassp21, asvspoof5, small" in out and "lfcc-gmm" in out
    if argv == ["--help"]:
        assert all(name in out for name in ("data", "eval", "list", "perf", "run", "score"))


@pytest.mark.parametrize("group_path", [(), ("perf",)])
def test_lazy_command_tables_import_and_match_their_docstrings(group_path):
    from spoofbench.benchmark.cli import cli

    group = cli
    for name in group_path:
        group = group.get_command(None, name)
    for name, (_, summary) in group.lazy.items():
        command = group.get_command(None, name)
        assert command is not None
        first_paragraph = " ".join(command.help.split("\n\n")[0].split())
        assert first_paragraph.startswith(summary), (name, summary, first_paragraph)


def test_builtin_declarations_match_their_modules():
    from spoofbench.detectors import builtin  # noqa: F401

    for name in list_detectors():
        entry = detectors.get_entry(name)
        if entry.source == "builtin":
            assert tuple(entry.presets) == entry.preset_names  # loads the module, which checks the declaration
            assert entry.factory.name == name


def test_declared_detector_is_imported_only_when_created(tmp_path, monkeypatch):
    import sys

    from spoofbench.detectors import declare_detector, registry

    monkeypatch.setattr(registry, "_DETECTORS", dict(registry._DETECTORS))  # the toys leave with this test
    (tmp_path / "lazy_toy_module.py").write_text(
        "from spoofbench.detectors import Detector, register_detector\n"
        "@register_detector('lazy-toy', presets={'a': {'k': 2}}, default_preset='a')\n"
        "class LazyToy(Detector):\n"
        "    def __init__(self, k: int = 1):\n"
        "        self.k = k\n")
    (tmp_path / "drifted_toy_module.py").write_text(
        "from spoofbench.detectors import Detector, register_detector\n"
        "@register_detector('drifted-toy', presets={'b': {}}, default_preset='b')\n"
        "class DriftedToy(Detector):\n"
        "    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    declare_detector("lazy-toy", "lazy_toy_module:LazyToy", presets=("a",), default_preset="a", description="toy")
    declare_detector("drifted-toy", "drifted_toy_module:DriftedToy", presets=("a",), default_preset="a",
                     description="toy whose module registers other presets")
    assert "lazy-toy.a" in list_detectors("lazy-*", presets=True) and "lazy_toy_module" not in sys.modules
    assert create_detector("lazy-toy").k == 2 and "lazy_toy_module" in sys.modules
    with pytest.raises(RuntimeError, match="declared presets \\['a'\\] .* differ from the registered \\['b'\\]"):
        create_detector("drifted-toy")
