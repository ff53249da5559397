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
