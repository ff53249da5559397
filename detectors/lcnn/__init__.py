"""LFCC-LCNN (the ASVspoof 2021 LA/DF baseline of the NII toolkit): the registered ``lfcc-lcnn`` detector, the
model (LFCC front end inside the network) and loading of official ``state_dict`` files. Training, scoring and
torchrun come from the shared neural engine (``spoofbench.detectors.neural``).

    from spoofbench.detectors.lcnn import from_official
    model = from_official("trained_network.pt")   # eval mode, float32
    logits = model(waves)                          # (batch, samples) -> (batch,), logit of bona fide
"""
from .model import LFCC, LCNNConfig, LCNNModel
from .official import from_official, load_official_state

__all__ = ["LFCC", "LCNNConfig", "LCNNModel", "from_official", "load_official_state"]
