"""AASIST (Jung et al., ICASSP 2022), the ASVspoof 5 baseline network: the model with the official layer names,
so the official clovaai/aasist and asvspoof5 ``state_dict`` files load as saved."""
from .model import VARIANTS, AASISTConfig, AASISTModel

__all__ = ["AASISTConfig", "AASISTModel", "VARIANTS"]
