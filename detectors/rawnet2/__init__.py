"""RawNet2 (Tak et al., ICASSP 2021), the end-to-end anti-spoofing model of the ASVspoof 2021 and
ASVspoof 5 baselines: the registered ``rawnet2`` detector, the model and official-checkpoint loading. Training,
scoring and torchrun come from the shared neural engine (``spoofbench.detectors.neural``).

    from spoofbench.detectors.rawnet2 import from_official
    model = from_official("pre_trained_DF_RawNet2.pth", variant="2021")   # eval mode, float32
    logits = model(waves)                                                  # (batch, samples) -> (batch, 2)
"""
from ..neural.data import fit_length
from .detector import PRESETS, RawNet2
from .model import VARIANTS, RawNet2Config, RawNet2Model, mel_band_edges
from .official import from_official, load_state_dict_file

__all__ = ["PRESETS", "RawNet2", "RawNet2Config", "RawNet2Model", "VARIANTS", "fit_length", "from_official",
           "load_state_dict_file", "mel_band_edges"]
