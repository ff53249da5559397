"""What ``bench run`` was asked to do, and the checks of its names made before any work."""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field

from spoofbench.detectors.registry import check_spec, list_detectors, plugin_errors, split_spec
from spoofbench.protocols.errors import BenchError, ConfigError

from ..config import RunConfig
from ..fusion import FUSION_METHODS


@dataclass
class RunRequest:
    detectors: list[str]
    data: str | None = None
    protocol: str | None = None
    train_data: str | None = None        # --train-data: train (and select on dev) here, score data's dev/eval
    train_protocol: str | None = None
    fusion: list[str] = field(default_factory=lambda: ["logreg", "mean"])
    seeds: list[int] | None = None
    out: str | None = None
    device: str | None = None
    on_bad_audio: str = "fail"
    verify_audio: bool = False
    asv_scores: str | None = None
    n_bootstrap: int = 1000
    plots: bool = True
    explain: bool = False                # --explain: band/time importance section in the report
    explain_files: int = 20              # eval files it uses (a seeded sample, half bona fide)
    fraction: float | None = None
    max_trials: int | None = None
    subset_seed: int = 0
    config: RunConfig = field(default_factory=RunConfig)
    command: list[str] = field(default_factory=list)
    #: degradation benchmark (``--conditions``): condition specs or set names; None: no robustness section
    conditions: list[str] | None = None
    condition_cache: str | None = None   # the degraded-audio cache (default $SPOOFBENCH_CACHE/degraded-audio)
    degrade_dev: bool = False            # --degrade-dev: dev through the conditions too (matched calibration)


#: A system's own name (``NAME=SPEC``): used in file names and in ``--set NAME.PARAM``, so no dots or slashes.
ALIAS_PATTERN = re.compile(r"[A-Za-z0-9_+-]+")


@dataclass(frozen=True)
class SystemSpec:
    """One entry of ``--detectors``: the system's name in the run (its rows, files and ``--set`` target) and
    what it is, a registry spec ``name[.preset]`` or a saved model file (``.det``) scored as it is."""

    system: str
    spec: str | None = None
    model_file: str | None = None
    alias: bool = False            # named by the user (``NAME=SPEC``): ``--set NAME.PARAM`` reaches it alone


def is_model_file(text: str) -> bool:
    """``path/to/model.det``: a file written by ``Detector.save`` (registry names hold neither '/' nor '.det')."""
    return text.lower().endswith(".det") or os.sep in text or "/" in text


def parse_system_entry(entry: str) -> SystemSpec:
    """``SPEC``, ``FILE.det`` or ``NAME=SPEC`` / ``NAME=FILE.det`` (two systems of one spec need two names)."""
    alias, eq, target = entry.partition("=")
    alias, target = (alias.strip(), target.strip()) if eq else (None, entry.strip())
    if alias is not None and not ALIAS_PATTERN.fullmatch(alias):
        raise ConfigError(f"--detectors {entry!r}: a system name may hold letters, digits, '_', '+' and '-' only "
                          "(NAME=SPEC, e.g. la19-ft=aasist.pretrained-la19)")
    if not target:
        raise ConfigError(f"--detectors {entry!r}: nothing after '=' (NAME=SPEC or NAME=FILE.det)")
    if is_model_file(target):
        stem = os.path.basename(target)[:-len(".det")] if target.lower().endswith(".det") else \
            os.path.basename(target)
        return SystemSpec(alias or stem, model_file=target, alias=alias is not None)
    return SystemSpec(alias or target, spec=target, alias=alias is not None)


def check_detector_names(names: list[str]) -> list[SystemSpec]:
    """Validate the ``--detectors`` entries early (before any work): registry specs (unknown names get the
    closest suggestion), saved model files (they must exist; their content is checked by the planning) and
    system names (each once; a name of its own may not be a registered detector's)."""
    entries = [n.strip() for n in names if n.strip()]
    if not entries:
        raise ConfigError("no detectors given; e.g. --detectors rawnet2.small,lfcc-gmm.small "
                          f"(registered: {', '.join(list_detectors())})")
    seen: dict[str, str] = {}
    broken, registered = plugin_errors(), list_detectors()
    systems = []
    for entry in entries:
        system = parse_system_entry(entry)
        if system.system in seen:
            first = seen[system.system]
            what = (f"{entry!r} twice" if first == entry else
                    f"two systems named {system.system!r} ({first!r}, {entry!r})")
            raise ConfigError(f"--detectors lists {what}; give each its own name: NAME=SPEC, e.g. "
                              f"{system.system}-2={system.spec or system.model_file}")
        seen[system.system] = entry
        if system.alias and system.system in registered:
            raise ConfigError(f"--detectors {entry!r}: {system.system!r} is a registered detector; choose "
                              "another system name")
        if system.model_file is not None:
            if not os.path.isfile(system.model_file):
                raise BenchError(f"{system.model_file}: detector file not found")
        else:
            name, _ = split_spec(system.spec)
            if name in broken and name not in registered:
                raise ConfigError(f"detector {name!r} comes from a plugin that failed to load: {broken[name]}")
            check_spec(system.spec)
        systems.append(system)
    return systems


def check_fusion_names(methods: list[str]) -> list[str]:
    methods = [m.strip() for m in methods if m.strip() and m.strip() != "none"]
    for m in methods:
        if m not in FUSION_METHODS + ("calibrate",):
            close = difflib.get_close_matches(m, FUSION_METHODS + ("calibrate",), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown fusion {m!r}{hint}; choose from {', '.join(FUSION_METHODS)}, calibrate, none")
    return methods
