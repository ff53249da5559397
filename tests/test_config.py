import pytest

from spoofbench.benchmark.config import load_config, parse_set, parse_value
from spoofbench.detectors import Detector, register_detector
from spoofbench.protocols import ConfigError


@register_detector("toy-config", presets={"big": {"width": 64, "depth": 4}, "small": {"width": 8, "depth": 1}},
                   default_preset="big")
class ToyConfig(Detector):
    def __init__(self, width: int = 16, depth: int = 2, rate: float = 0.1, fast: bool = False,
                 device: str = "cpu", tag=None):
        self.width, self.depth, self.rate, self.fast, self.device, self.tag = width, depth, rate, fast, device, tag


TOML = """
[run]
detectors = ["toy-config.small"]
seeds = [1, 2]

[toy-config]
width = 32
rate = 1

[toy-config.small]
depth = 3
"""

YAML = """
run:
  detectors: [toy-config.small]
  seeds: [1, 2]
toy-config:
  width: 32
  rate: 1
  small:
    depth: 3
"""


@pytest.mark.parametrize("suffix,text", [(".toml", TOML), (".yaml", YAML)])
def test_file_layers_over_preset_and_cli_wins(tmp_path, suffix, text):
    path = tmp_path / f"run{suffix}"
    path.write_text(text)
    config = load_config(path)
    assert config.run == {"detectors": ["toy-config.small"], "seeds": [1, 2]}
    spec, params = config.resolve("toy-config.small")
    # preset small (8, 1) < [toy-config] (width 32) < [toy-config.small] (depth 3); rate coerced to float
    assert spec == "toy-config.small"
    assert params == {"width": 32, "depth": 3, "rate": 1.0}
    assert isinstance(params["rate"], float)
    # the default preset (big) is not touched by the [toy-config.small] table
    assert config.resolve("toy-config")[1] == {"width": 32, "depth": 4, "rate": 1.0}

    config = load_config(path, ["toy-config.width=48", "toy-config.small.width=50", "toy-config.depth=7"])
    _, params = config.resolve("toy-config.small", {"device": "cuda"})
    # --set NAME.PRESET beats --set NAME beats the file; runtime options sit between file and --set
    assert params == {"width": 50, "depth": 7, "rate": 1.0, "device": "cuda"}


def test_preset_chosen_in_the_file_applies_when_the_spec_names_none(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[toy-config]\npreset = "small"\n')
    config = load_config(path)
    assert config.resolve("toy-config") == ("toy-config.small", {"width": 8, "depth": 1})
    assert config.resolve("toy-config.big")[0] == "toy-config.big"  # an explicit preset wins


def test_values_are_typed_literals_never_code():
    assert parse_set("toy-config.width=10") == ("toy-config", "width", 10)
    assert parse_set("lfcc-gmm.small.n_components=64") == ("lfcc-gmm.small", "n_components", 64)
    assert parse_value("1e-4") == pytest.approx(1e-4)
    assert parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value('"two words"') == "two words"
    assert parse_value("cuda") == "cuda"
    assert parse_value("none") is None
    code = "__import__('os').getcwd()"
    assert parse_value(code) == code  # stays a plain string
    with pytest.raises(ConfigError, match="expected float"):
        load_config(None, [f"toy-config.rate={code}"]).resolve("toy-config")


def test_type_checks_against_the_default():
    ok = load_config(None, ["toy-config.fast=true", "toy-config.tag=anything", "toy-config.width=3.0"])
    assert ok.resolve("toy-config")[1] == {"width": 3, "depth": 4, "fast": True, "tag": "anything"}
    with pytest.raises(ConfigError, match=r"toy-config.width: expected int .* got 'ten'"):
        load_config(None, ["toy-config.width=ten"]).resolve("toy-config")
    with pytest.raises(ConfigError, match="toy-config.fast: expected bool"):
        load_config(None, ["toy-config.fast=1"]).resolve("toy-config")


def test_unknown_parameter_lists_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(None, ["toy-config.widht=3"]).resolve("toy-config")
    msg = str(err.value)
    assert "did you mean 'width'" in msg
    assert "valid: width, depth, rate, fast, device, tag" in msg
    path = tmp_path / "c.toml"
    path.write_text("[toy-config]\nlayers = 3\n")
    with pytest.raises(ConfigError, match=r"c.toml \[toy-config\]: toy-config has no parameter 'layers'"):
        load_config(path).resolve("toy-config")
    # a runtime option the detector does not take (e.g. --device for a GMM) is simply not applied
    assert "seed" not in load_config(None).resolve("toy-config", {"seed": 3})[1]


def test_bad_files_and_names(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[toy-config\nwidth = 3\n")
    with pytest.raises(ConfigError, match="bad.toml: invalid TOML"):
        load_config(bad)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("toy-config: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_config(bad_yaml)
    other = tmp_path / "c.ini"
    other.write_text("x")
    with pytest.raises(ConfigError, match="must end in .toml, .yaml or .yml"):
        load_config(other)
    run_typo = tmp_path / "r.toml"
    run_typo.write_text("[run]\nseed = [1]\n")
    with pytest.raises(ConfigError, match="no option 'seed' .did you mean 'seeds'"):
        load_config(run_typo)
    unknown_det = tmp_path / "u.toml"
    unknown_det.write_text("[toy-confg]\nwidth = 3\n")
    with pytest.raises(ConfigError, match="did you mean 'toy-config'"):
        load_config(unknown_det)
    with pytest.raises(ConfigError, match="expected DETECTOR.PARAM=VALUE"):
        load_config(None, ["width=3"])
    with pytest.raises(ConfigError, match="'spectral-lr' is not among the detectors of this run"):
        load_config(None, ["spectral-lr.C=2"]).check_names(["toy-config.small"])
    load_config(None, ["toy-config.small.width=2"]).check_names(["toy-config.small"])  # no error
