"""What ``bench run`` was asked to do, and the checks of its names made before any work."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from spoofbench.detectors.registry import check_spec, list_detectors, plugin_errors, split_spec
from spoofbench.protocols.errors import ConfigError

from ..config import RunConfig
from ..fusion import FUSION_METHODS


@dataclass
class RunRequest:
    detectors: list[str]
    data: str | None = None
    protocol: str | None = None
    fusion: list[str] = field(default_factory=lambda: ["logreg", "mean"])
    seeds: list[int] | None = None
    out: str | None = None
    device: str | None = None
    on_bad_audio: str = "fail"
    verify_audio: bool = False
    asv_scores: str | None = None
    n_bootstrap: int = 1000
    plots: bool = True
    fraction: float | None = None
    max_trials: int | None = None
    subset_seed: int = 0
    config: RunConfig = field(default_factory=RunConfig)
    command: list[str] = field(default_factory=list)


def check_detector_names(names: list[str]) -> list[str]:
    """Validate ``name[.preset]`` specs early (before any work); unknown names get the closest suggestion."""
    specs = [n.strip() for n in names if n.strip()]
    if not specs:
        raise ConfigError("no detectors given; e.g. --detectors rawnet2.small,lfcc-gmm.small "
                          f"(registered: {', '.join(list_detectors())})")
    seen = set()
    broken, registered = plugin_errors(), list_detectors()
    for spec in specs:
        if spec in seen:
            raise ConfigError(f"--detectors lists {spec!r} twice")
        seen.add(spec)
        name, _ = split_spec(spec)
        if name in broken and name not in registered:
            raise ConfigError(f"detector {name!r} comes from a plugin that failed to load: {broken[name]}")
        check_spec(spec)
    return specs


def check_fusion_names(methods: list[str]) -> list[str]:
    methods = [m.strip() for m in methods if m.strip() and m.strip() != "none"]
    for m in methods:
        if m not in FUSION_METHODS + ("calibrate",):
            close = difflib.get_close_matches(m, FUSION_METHODS + ("calibrate",), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown fusion {m!r}{hint}; choose from {', '.join(FUSION_METHODS)}, calibrate, none")
    return methods
