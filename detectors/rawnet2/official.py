"""Load the official RawNet2 checkpoints (ASVspoof 2021 baseline, ICASSP 2021 paper code, ASVspoof 5 baseline).

An official checkpoint is ``torch.save(model.state_dict())``: tensors only, keys as in the official
``model.py``. It is read by the engine's ``load_state_dict_file``: zip CRCs checked (a flipped byte is an
error, not a wrong weight), then ``torch.load(weights_only=True)``, which refuses any pickled Python object
other than tensors and plain containers, so a file cannot run code when it is opened.
"""
from __future__ import annotations

import os

import torch

from spoofbench.protocols.errors import BenchError

from ..neural.checkpoints import load_matching_state, load_state_dict_file, state_mismatches
from .model import VARIANTS, RawNet2Model

#: Accepted spellings of the three official variants.
VARIANT_ALIASES = {"2021": "2021", "asvspoof2021": "2021", "la": "2021", "df": "2021",
                   "icassp21": "icassp21", "icassp": "icassp21", "eurecom": "icassp21",
                   "asvspoof5": "asvspoof5", "5": "asvspoof5"}


def canonical_variant(variant: str) -> str:
    key = str(variant).lower().replace("-", "").replace("_", "")
    if key not in VARIANT_ALIASES:
        raise BenchError(f"unknown RawNet2 variant {variant!r}; choose 2021, icassp21 or asvspoof5")
    return VARIANT_ALIASES[key]


def guess_variant(state: dict[str, torch.Tensor]) -> str | None:
    """'icassp21' or '2021' from the tensor shapes. The 2021 and ASVspoof 5 models have identical
    shapes (only their forward differs), so a 20-filter checkpoint is reported as '2021'."""
    weight = state.get("first_bn.weight")
    if weight is None:
        return None
    return {20: "2021", 128: "icassp21"}.get(int(weight.shape[0]))


def from_official(path: os.PathLike | str, variant: str = "2021", device: str | torch.device = "cpu") -> RawNet2Model:
    """Build the RawNet2 of an official checkpoint, ready for ``eval``.

    ``variant``: "2021" (ASVspoof 2021 LA/DF/PA baseline, with its residual quirk), "icassp21" (the
    eurecom-asp paper code) or "asvspoof5". The 2021 and ASVspoof 5 checkpoints have the same keys but
    different forward passes: pick the variant of the code that trained the file.
    ``forward`` returns logits; their log-softmax is the 2021 model's output, their softmax the others'."""
    variant = canonical_variant(variant)
    state = load_state_dict_file(path)
    model = RawNet2Model(VARIANTS[variant])
    load_official_state(model, state, source=os.fspath(path), variant=variant)
    return model.to(device).eval()


def load_official_state(model: RawNet2Model, state: dict[str, torch.Tensor], source: str = "state_dict",
                        variant: str | None = None) -> None:
    """Copy an official-named state_dict into ``model``, with clear errors for the wrong variant."""
    parts = state_mismatches(model.state_dict(), state)
    if parts:
        guess = guess_variant(state)
        hint = f"; its shapes look like variant {guess!r}" if guess and guess != variant else ""
        raise BenchError(f"{source}: not a RawNet2 {variant or ''} checkpoint: {', '.join(parts)}{hint}")
    load_matching_state(model, state)
