"""Imports every built-in detector family so that its ``@register_detector`` runs (one module per family)."""
from . import spectral_lr  # noqa: F401
from . import rawnet2  # noqa: F401
from . import gmm_baselines  # noqa: F401
