"""AASIST (Jung et al., ICASSP 2022), the graph-attention anti-spoofing network of clovaai/aasist and the
ASVspoof 5 baseline: the registered ``aasist`` detector (official recipe, shipped pre-trained weights), the
model with the official layer names, and official-checkpoint loading. Training, scoring and torchrun come
from the shared neural engine (``spoofbench.detectors.neural``).

    from spoofbench.detectors.aasist import from_official
    det = from_official("AASIST.pth", variant="aasist")     # a fitted detector; det.model_ is the network
    create_detector("aasist.pretrained-la19").score_files(paths)   # the shipped weights, no training
"""
from .detector import AASIST, PRESETS, from_official
from .model import VARIANTS, AASISTConfig, AASISTModel, mel_band_edges, mel_sinc_filters
from .official import SHIPPED, load_official_state

__all__ = ["AASIST", "AASISTConfig", "AASISTModel", "PRESETS", "SHIPPED", "VARIANTS", "from_official",
           "load_official_state", "mel_band_edges", "mel_sinc_filters"]
