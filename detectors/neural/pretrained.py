"""Pre-trained weights shipped inside the package: a table of named weight files with their checksum, what they
were trained on and where they come from. A family registers its files (``register_weights``) and names one in
a preset (hyperparameter ``pretrained``); the engine then loads it, checksum verified, instead of training
(``NeuralDetector``), or starts fine-tuning from it.

The files are package data, read through ``importlib.resources``: nothing is downloaded, and a file altered
after installation is refused (its sha256 no longer matches the one recorded here)."""
from __future__ import annotations

import difflib
import importlib
import importlib.resources
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from spoofbench.protocols.errors import BenchError, ConfigError

from .checkpoints import load_state_dict_file, verify_sha256


@dataclass(frozen=True)
class PretrainedWeights:
    """One shipped weight file."""

    name: str        # how presets and users name it, e.g. "aasist-la19"
    package: str     # the package holding the file as package data
    filename: str
    sha256: str
    trained_on: str  # e.g. "ASVspoof 2019 LA train"
    source: str      # repository, commit and path it was copied from
    licence: str     # its licence, and the files beside it that must travel with it

    def describe(self) -> dict:
        return asdict(self)


_WEIGHTS: dict[str, PretrainedWeights] = {}
#: Modules of the built-in families that register shipped weights when imported: looked up on the first query
#: of the table, so a name resolves whichever module happened to be imported first.
_BUILTIN_PROVIDERS = ("spoofbench.detectors.aasist.official",)
_providers_loaded = False


def _load_builtin_providers() -> None:
    global _providers_loaded
    if not _providers_loaded:
        _providers_loaded = True
        for module in _BUILTIN_PROVIDERS:
            importlib.import_module(module)


def register_weights(weights: PretrainedWeights) -> None:
    known = _WEIGHTS.get(weights.name)
    if known is not None and known != weights:
        raise ValueError(f"pre-trained weights {weights.name!r} are registered twice, differently")
    _WEIGHTS[weights.name] = weights


def known_weights() -> list[str]:
    _load_builtin_providers()
    return sorted(_WEIGHTS)


def get_weights(name: str) -> PretrainedWeights:
    _load_builtin_providers()
    if name not in _WEIGHTS:
        close = difflib.get_close_matches(str(name), list(_WEIGHTS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        known = ", ".join(known_weights()) or "(none)"
        raise ConfigError(f"unknown pre-trained weights {name!r}{hint}; known: {known}")
    return _WEIGHTS[name]


def weights_path(name: str) -> Path:
    """The installed file of ``name``, its sha256 checked (a one-line BenchError when it differs or is missing)."""
    weights = get_weights(name)
    path = Path(str(importlib.resources.files(weights.package).joinpath(weights.filename)))
    if not path.is_file():
        raise BenchError(f"{path}: the pre-trained weights {name!r} are missing from this installation "
                         f"(package data of {weights.package}); reinstall spoofbench")
    verify_sha256(path, weights.sha256)
    return path


def load_pretrained_state(name: str) -> dict[str, torch.Tensor]:
    """The verified state_dict of ``name`` (read with ``weights_only=True``)."""
    return load_state_dict_file(weights_path(name))
