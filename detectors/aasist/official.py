"""The official AASIST checkpoints: loading a ``state_dict`` file of clovaai/aasist or of the ASVspoof 5
baseline into our model, and the three files shipped in ``spoofbench.detectors.aasist.weights``.

A checkpoint is read by the engine's ``load_state_dict_file`` (zip CRCs checked, ``torch.load(weights_only=True)``:
no pickled code runs). Shipped files are also checked against the sha256 recorded here.
"""
from __future__ import annotations

import torch

from spoofbench.protocols.errors import BenchError

from ..neural.checkpoints import load_matching_state, state_mismatches
from ..neural.pretrained import PretrainedWeights, register_weights
from .model import VARIANTS, AASISTModel

#: Accepted spellings of the three official variants.
VARIANT_ALIASES = {"aasist": "aasist", "la19": "aasist", "aasistl": "aasist-l", "l": "aasist-l",
                   "asvspoof5": "asvspoof5", "5": "asvspoof5", "asv5": "asvspoof5"}

WEIGHTS_PACKAGE = "spoofbench.detectors.aasist.weights"
_MIT_CLOVAAI = "MIT; LICENSE.clovaai-aasist and NOTICE.clovaai-aasist beside the file"
SHIPPED = {
    "aasist-la19": PretrainedWeights(
        name="aasist-la19", package=WEIGHTS_PACKAGE, filename="AASIST.pth",
        sha256="51d2d9cf0738172f61e2a384ec50a54a55363240f67c971ed55a92435bc1a1c0",
        trained_on="ASVspoof 2019 LA train", source="clovaai/aasist a04c9863 models/weights/AASIST.pth",
        licence=_MIT_CLOVAAI),
    "aasist-l-la19": PretrainedWeights(
        name="aasist-l-la19", package=WEIGHTS_PACKAGE, filename="AASIST-L.pth",
        sha256="814331d088032bb4c3fa61cc014789eadeed464209dd094ab3a2dd6ffbdce27a",
        trained_on="ASVspoof 2019 LA train", source="clovaai/aasist a04c9863 models/weights/AASIST-L.pth",
        licence=_MIT_CLOVAAI),
    "aasist-asv5": PretrainedWeights(
        name="aasist-asv5", package=WEIGHTS_PACKAGE, filename="AASIST-ASVspoof5.pth",
        sha256="8f10fe1d1ce3ac62c19f00b86dfaf79f86f464301d23e08726b16b02edbb601c",
        trained_on="ASVspoof 5 train",
        source="asvspoof-challenge/asvspoof5 fe23d305 Baseline-AASIST/models/weights/AASIST/best.pth",
        licence="MIT; LICENSE.asvspoof5-baseline-aasist, LICENSE.clovaai-aasist and NOTICE.clovaai-aasist "
                "beside the file"),
}
for _weights in SHIPPED.values():
    register_weights(_weights)


def canonical_variant(variant: str) -> str:
    key = str(variant).lower().replace("-", "").replace("_", "").replace(" ", "")
    if key not in VARIANT_ALIASES:
        raise BenchError(f"unknown AASIST variant {variant!r}; choose aasist, aasist-l or asvspoof5")
    return VARIANT_ALIASES[key]


def guess_variant(state: dict[str, torch.Tensor]) -> str | None:
    """'aasist' or 'aasist-l' from the tensor shapes (the ASVspoof 5 baseline has AASIST's shapes)."""
    pos = state.get("pos_S")
    if pos is None or pos.dim() != 3:
        return None
    return {64: "aasist", 24: "aasist-l"}.get(int(pos.shape[-1]))


def load_official_state(model: AASISTModel, state: dict[str, torch.Tensor], source: str = "state_dict",
                        variant: str | None = None) -> None:
    """Copy an official-named state_dict into ``model``; a one-line BenchError names what does not fit."""
    expected = model.state_dict()
    parts = state_mismatches(expected, state)
    if parts:
        if not any(k in state for k in expected):
            raise BenchError(f"{source}: not an AASIST checkpoint (none of its {len(state)} tensors has an "
                             f"AASIST layer name, e.g. {next(iter(state), '(empty)')!r})")
        guess = guess_variant(state)
        hint = f"; its shapes look like variant {guess!r}" if guess and guess != variant else ""
        what = f"AASIST {variant}" if variant else "AASIST"
        raise BenchError(f"{source}: not an {what} checkpoint: {', '.join(parts)}{hint}")
    load_matching_state(model, state)


def official_model(state: dict[str, torch.Tensor], variant: str, source: str) -> AASISTModel:
    """The network of ``variant`` holding ``state``, in eval mode."""
    variant = canonical_variant(variant)
    model = AASISTModel(VARIANTS[variant])
    load_official_state(model, state, source=source, variant=variant)
    return model.eval()
