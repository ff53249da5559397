"""The official NII LFCC-LCNN ``state_dict`` (asvspoof-challenge/2021 ``LA/Baseline-LFCC-LCNN``, keys
``m_transform.0.*``, ``m_before_pooling.0.*.l_blstm.*``, ``m_output_act.0.*``, ``m_frontend.0.*``) and ours.

The official file stores, besides the learned tensors, the front end's filter bank and DCT matrix
(``m_frontend.0.lfcc_fb``, ``m_frontend.0.l_dct.weight``) and four unused normalisation scalars
(``input_mean``, ``input_std``, ``output_mean``, ``output_std``). Ours rebuilds the front end from its config,
so these are checked against ours (a file made with another front end is refused) and then dropped.
A trained checkpoint of the official toolkit (``torch.save`` of a dict holding ``state_dict``) is accepted too.
"""
from __future__ import annotations

import os

import torch

from spoofbench.protocols.errors import BenchError

from ..neural.checkpoints import load_matching_state, load_state_dict_file, state_mismatches
from .model import LCNNConfig, LCNNModel

#: official key prefix -> ours
_PREFIXES = (("m_transform.0.", "lcnn."), ("m_output_act.0.", "out."))
_UNUSED = ("input_mean", "input_std", "output_mean", "output_std")


def official_to_ours(key: str) -> str | None:
    """Our name for an official key; None for the official front-end tensors and normalisation scalars."""
    if key.startswith("m_frontend.") or key in _UNUSED:
        return None
    if key.startswith("m_before_pooling.0."):
        layer, rest = key[len("m_before_pooling.0."):].split(".", 1)
        return f"blstm.{layer}.{rest.replace('l_blstm.', 'lstm.', 1)}"
    for official, ours in _PREFIXES:
        if key.startswith(official):
            return ours + key[len(official):]
    return key


def ours_to_official(key: str) -> str:
    if key.startswith("blstm."):
        layer, rest = key[len("blstm."):].split(".", 1)
        return f"m_before_pooling.0.{layer}.{rest.replace('lstm.', 'l_blstm.', 1)}"
    for official, ours in _PREFIXES:
        if key.startswith(ours):
            return official + key[len(ours):]
    return key


def load_official_state(model: LCNNModel, state: dict[str, torch.Tensor], source: str = "state_dict") -> None:
    """Copy an official-named (or our-named) state_dict into ``model``, with one-line errors."""
    if "state_dict" in state and isinstance(state["state_dict"], dict):  # an official training checkpoint
        state = state["state_dict"]
    frontend = model.frontend
    fb = state.get("m_frontend.0.lfcc_fb")
    if fb is not None and (tuple(fb.shape) != tuple(frontend.filterbank.shape)
                           or not torch.allclose(fb.float(), frontend.filterbank, atol=1e-5)):
        raise BenchError(f"{source}: its LFCC filter bank differs from this model's (another front-end setting)")
    renamed = {}
    for key, value in state.items():
        ours = official_to_ours(key)
        if ours is not None:
            renamed[ours] = value
    parts = state_mismatches(model.state_dict(), renamed, show_missing=ours_to_official)
    if parts:
        raise BenchError(f"{source}: not an LFCC-LCNN checkpoint of this shape: {', '.join(parts)}")
    load_matching_state(model, renamed)


def from_official(path: os.PathLike | str, cfg: LCNNConfig | None = None,
                  device: str | torch.device = "cpu") -> LCNNModel:
    """The LFCC-LCNN of an official ``state_dict`` file, in eval mode (read with ``weights_only=True``)."""
    model = LCNNModel(cfg)
    load_official_state(model, load_state_dict_file(path), source=os.fspath(path))
    return model.to(device).eval()
