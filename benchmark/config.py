"""Run configuration: a TOML or YAML file plus repeatable ``--set DETECTOR.PARAM=VALUE`` overrides.

A config file (TOML shown; YAML with the same nesting works too)::

    [run]                       # defaults for bench run's options (the command line wins)
    detectors = ["rawnet2.small", "lfcc-gmm.small"]
    fusion = ["logreg", "mean"]
    seeds = [1, 2, 3]

    [rawnet2]                   # hyperparameters of every rawnet2 preset
    epochs = 10
    batch_size = 16

    [rawnet2.small]             # ... and of one preset only (wins over [rawnet2])
    epochs = 3

    [lfcc-gmm]
    preset = "small"            # the preset used when --detectors names no preset
    n_components = 128

Precedence, lowest first: the preset, the config file (detector table, then preset table), then the command
line (``--device``/``--seeds``, then ``--set NAME.PARAM``, then ``--set NAME.PRESET.PARAM``). Values of
``--set`` are parsed as TOML literals (``10``, ``1e-4``, ``true``, ``"text"``, ``[1, 2]``), ``none``/``null``
give None, anything else is a plain string; nothing is ever evaluated as code. Every parameter name is
checked against the detector's constructor: an unknown one is an error that lists the valid ones.
"""
from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import tomllib

from spoofbench.detectors.registry import get_entry, preset_params, split_spec
from spoofbench.protocols.errors import ConfigError

#: Options of the ``[run]`` table and the type each must have.
RUN_OPTIONS = {"detectors": list, "fusion": list, "seeds": list, "data": str, "protocol": str, "out": str,
               "train_data": str, "train_protocol": str,
               "device": str, "on_bad_audio": str, "asv_scores": str, "bootstrap": int, "conditions": list,
               "degrade_dev": bool}
#: Old names of ``[run]`` options, still read.
RUN_OPTION_ALIASES = {"n_bootstrap": "bootstrap"}


@dataclass
class RunConfig:
    """What a config file and the ``--set`` options say. ``detector_params[key]`` holds the overrides of a
    detector name (``"rawnet2"``) or of one preset (``"rawnet2.small"``)."""

    run: dict[str, Any] = field(default_factory=dict)
    file_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    cli_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str | None = None

    def resolve(self, spec: str, runtime: Mapping[str, Any] | None = None,
                system: str | None = None) -> tuple[str, dict[str, Any]]:
        """The detector spec to build (with the config's ``preset`` applied) and its full, validated
        hyperparameters: preset < config file < ``runtime`` (options such as --device) < --set NAME <
        --set NAME.PRESET < --set SYSTEM (a system named on the command line, ``SYSTEM=SPEC``)."""
        name, preset = split_spec(spec)
        entry = get_entry(name)  # unknown detector: ConfigError with the closest name
        file_named = dict(self.file_params.get(name, {}))
        chosen = file_named.pop("preset", None)
        if preset is None and chosen is not None:
            preset = str(chosen)
        spec = f"{name}.{preset}" if preset else name
        params = preset_params(spec)
        resolved_preset = preset or entry.default_preset
        layers = [(file_named, f"{self.source or 'config'} [{name}]")]
        if resolved_preset:
            preset_table = dict(self.file_params.get(f"{name}.{resolved_preset}", {}))
            preset_table.pop("preset", None)
            layers.append((preset_table, f"{self.source or 'config'} [{name}.{resolved_preset}]"))
        layers.append((dict(runtime or {}), None))
        layers.append((self.cli_params.get(name, {}), f"--set {name}"))
        if resolved_preset:
            layers.append((self.cli_params.get(f"{name}.{resolved_preset}", {}), f"--set {name}.{resolved_preset}"))
        if system is not None:
            layers.append((self.cli_params.get(system, {}), f"--set {system}"))
        valid = param_names(name)
        for layer, origin in layers:
            for key, value in layer.items():
                if valid is not None and key not in valid:
                    if origin is None:  # a runtime option the detector does not take: not an error
                        continue
                    raise unknown_parameter(name, key, valid, origin)
                params[key] = coerce(name, key, value)
        return spec, params

    def check_names(self, specs: list) -> None:
        """``--set`` must name a detector (or preset, or a system named ``NAME=SPEC``) that is being run: a typo
        should not pass silently. ``specs``: registry specs, or the run's ``SystemSpec`` entries."""
        running, shown = set(), []
        for item in specs:
            spec = item if isinstance(item, str) else item.spec
            if not isinstance(item, str) and (item.alias or item.model_file is not None):
                running.add(item.system)
            shown.append(item if isinstance(item, str) else item.system)
            if spec is None:  # a saved model: only its own name (above) reaches it
                continue
            name, preset = split_spec(spec)
            running.add(name)
            if preset:
                running.add(f"{name}.{preset}")
        for key in self.cli_params:
            if key not in running and split_spec(key)[0] not in running:
                close = difflib.get_close_matches(key, sorted(running), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"--set {key}.…: {key!r} is not among the detectors of this run{hint}: "
                                  f"{', '.join(shown)}")


#: Seeds go to numpy and torch generators; both take 0 .. 2**32 - 1 everywhere.
MAX_SEED = 2**32 - 1


def check_seeds(values, origin: str) -> list[int]:
    """Seeds as integers in 0 .. 2**32 - 1 (a comma-separated string is split); ``origin`` names the option
    in the error, e.g. ``--seeds`` or ``run.toml: [run] seeds``."""
    items = [v.strip() for v in values.split(",") if v.strip()] if isinstance(values, str) else list(values)
    seeds = []
    for item in items:
        try:
            seed = int(item) if isinstance(item, str) else item
        except ValueError:
            seed = None
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise ConfigError(f"{origin}: seeds must be integers from 0 to {MAX_SEED}, got {item!r}")
        seeds.append(seed)
    if not seeds:
        raise ConfigError(f"{origin}: no seeds given")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{origin} lists a seed twice: {seeds}")
    return seeds


def load_config(path: os.PathLike | str | None, sets: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) config file (or none) and the ``--set`` options."""
    config = RunConfig()
    if path is not None:
        config.source = os.path.basename(os.fspath(path))
        raw = _read_file(os.fspath(path))
        for key, value in raw.items():
            if key == "run":
                config.run = _check_run_table(value, path)
            elif isinstance(value, Mapping):
                _add_detector_table(config.file_params, str(key), value, path)
            else:
                raise ConfigError(f"{path}: top-level key {key!r} must be a table of detector parameters "
                                  f"or the [run] table")
    for text in sets:
        key, param, value = parse_set(text)
        config.cli_params.setdefault(key, {})[param] = value
    return config


def parse_set(text: str) -> tuple[str, str, Any]:
    """``"rawnet2.epochs=10"`` -> ``("rawnet2", "epochs", 10)``; ``"lfcc-gmm.small.n_components=64"`` ->
    ``("lfcc-gmm.small", "n_components", 64)``."""
    target, eq, value = text.partition("=")
    detector, dot, param = target.strip().rpartition(".")
    if not eq or not dot or not detector or not param:
        raise ConfigError(f"--set {text!r}: expected DETECTOR.PARAM=VALUE, e.g. rawnet2.epochs=10")
    return detector, param, parse_value(value.strip())


def parse_value(text: str) -> Any:
    """Typed value of a command-line string, read as a TOML literal; never evaluated as code."""
    if text.lower() in ("none", "null"):
        return None
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word such as cuda or asvspoof2019


def param_names(name: str) -> list[str] | None:
    """Hyperparameter names of a registered detector (None when its factory is not a Detector class)."""
    factory = get_entry(name).factory
    return factory.param_names() if hasattr(factory, "param_names") else None


def param_default(name: str, param: str) -> Any:
    factory = get_entry(name).factory
    try:
        p = inspect.signature(factory.__init__ if isinstance(factory, type) else factory).parameters[param]
    except (KeyError, TypeError, ValueError):
        return inspect.Parameter.empty
    return p.default


def coerce(name: str, param: str, value: Any) -> Any:
    """Match the type of the parameter's default where that is unambiguous (``10`` -> ``10.0`` for a float);
    refuse a plain word where a number or a flag is expected."""
    default = param_default(name, param)
    if value is None or default is inspect.Parameter.empty or default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif isinstance(default, (int, float)) and isinstance(value, float) and value.is_integer():
        return int(value)
    elif not isinstance(default, (bool, int, float)):
        return value
    raise ConfigError(f"{name}.{param}: expected {type(default).__name__} (default {default!r}), got {value!r}")


def unknown_parameter(name: str, key: str, valid: list[str], origin: str) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{origin}: {name} has no parameter {key!r}{hint}; valid: {', '.join(valid)}")


# ---- file reading ---------------------------------------------------------------------------------
def _read_file(path: str) -> dict:
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: config file not found")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".toml":
            with open(path, "rb") as f:
                data = tomllib.load(f)
        elif ext in (".yaml", ".yml"):
            import yaml

            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        else:
            raise ConfigError(f"{path}: config files must end in .toml, .yaml or .yml")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except Exception as exc:
        if type(exc).__module__.startswith("yaml"):
            raise ConfigError(f"{path}: invalid YAML ({' '.join(str(exc).split())})") from None
        raise
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of tables at the top level")
    return data


def _check_run_table(table, path) -> dict:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: [run] must be a table")
    out = {}
    for key, value in table.items():
        key = str(key).replace("-", "_")
        key = RUN_OPTION_ALIASES.get(key, key)
        if key not in RUN_OPTIONS:
            close = difflib.get_close_matches(key, sorted(RUN_OPTIONS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}: [run] has no option {key!r}{hint}; valid: {', '.join(sorted(RUN_OPTIONS))}")
        if key == "seeds":
            out[key] = check_seeds(value, f"{path}: [run] seeds")
            continue
        want = RUN_OPTIONS[key]
        if want is list and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, want):
            raise ConfigError(f"{path}: [run] {key} must be a {want.__name__}, got {value!r}")
        out[key] = value
    return out


def _add_detector_table(out: dict, key: str, table: Mapping, path) -> None:
    name, preset = split_spec(key)
    get_entry(name)  # an unknown detector name in the file is an error with a suggestion
    valid_presets = get_entry(name).presets
    own = {}
    for param, value in table.items():
        if isinstance(value, Mapping) and preset is None and param in valid_presets:
            _add_detector_table(out, f"{name}.{param}", value, path)  # [rawnet2.small] nested under [rawnet2]
        else:
            own[str(param)] = value
    out.setdefault(key, {}).update(own)
