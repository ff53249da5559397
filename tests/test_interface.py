import pytest

from spoofbench import detectors
from spoofbench.detectors import Detector, create_detector, list_detectors, register_detector
from spoofbench.protocols import ConfigError, TrialTable


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
    assert create_detector("toy-test.b", beta=7).get_params() == {"alpha": 2, "beta": 7}
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


def test_set_params_then_fit_rechecks(tmp_path):
    det = create_detector("spectral-lr").set_params(n_fft=1)
    with pytest.raises(ConfigError, match="n_fft=1 is not allowed"):
        det.fit(_table())
