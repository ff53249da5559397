"""What the gradient methods need from a neural detector: its network as a differentiable score function, the
windows it scores, and the last convolutional map of its family (for Grad-CAM) with what that map's axes mean.

Only detectors of the neural engine (``NeuralDetector``: RawNet2, AASIST, LFCC-LCNN and families built on it)
have gradients; every other detector (GMMs, plugins) is explained by occlusion only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from spoofbench.detectors.neural.data import fit_length, sliding_windows
from spoofbench.detectors.neural.inference import scores_from_logits


def is_neural(detector) -> bool:
    from spoofbench.detectors.neural import NeuralDetector

    return isinstance(detector, NeuralDetector)


class ScoreModel(nn.Module):
    """(batch, samples) waveforms -> (batch,) detection scores (higher = bona fide), the detector's score rule
    applied to its network's logits. Evaluation mode: BatchNorm uses its running statistics, dropout is off."""

    def __init__(self, network: nn.Module, rule: str):
        super().__init__()
        self.network, self.rule = network, rule

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        return scores_from_logits(self.network(waves), self.rule)


def score_model(detector) -> ScoreModel:
    detector.check_fitted()
    return ScoreModel(detector.model_.eval().cpu(), detector.score_rule).eval()


def scored_windows(detector, wave: np.ndarray) -> np.ndarray:
    """(windows, samples) indices into ``wave`` of the windows the detector scores (its score is their mean
    score): the first ``n_samples`` (tiled when shorter) or sliding windows, as the engine's scoring."""
    index = np.arange(len(wave), dtype=np.float64)  # the engine's window rules, applied to sample indices
    n = getattr(detector, "n_samples", None)
    if n is None:
        return index.astype(np.int64)[None]
    if getattr(detector, "score_mode", "first") == "sliding":
        hop = getattr(detector, "window_hop", None) or int(n) // 2
        windows = sliding_windows(index, int(n), int(hop))
    else:
        windows = fit_length(index, int(n))[None]
    return np.rint(windows).astype(np.int64)


@dataclass(frozen=True)
class CamLayer:
    """The module whose output Grad-CAM reads and the meaning of that map's height axis: ``"bands"`` (rows are
    frequency bands with ``band_edges_hz``), or ``"none"`` (one row, or rows that are not frequencies, such as
    LFCC coefficients: the map is averaged over them and drawn as a time profile)."""

    module: nn.Module
    name: str
    height: str
    time_dim: int = 3                  # the map's time axis in (batch, channels, ., .)
    band_edges_hz: np.ndarray | None = None


def cam_layer(detector) -> CamLayer | None:
    """The last convolutional map of the detector's family, or None when it is not known."""
    model = detector.model_
    kind = type(model).__name__
    if kind == "RawNet2Model":
        # embed() calls the residual block inside each official nn.Sequential wrapper, so hook the block itself
        return CamLayer(model.block5[0], "block5 (last residual block)", "none")
    if kind == "AASISTModel":
        from spoofbench.detectors.aasist.model import mel_band_edges

        cfg = model.config
        edges = mel_band_edges(cfg.sinc_filters, cfg.sample_rate)
        # each spectral row of the encoder map pools 3 consecutive sinc filters (the front end's 3x3 max pool)
        rows = edges[np.arange(0, 3 * cfg.spectral_nodes + 1, 3)]
        return CamLayer(model.encoder[5], "encoder.5 (last residual block)", "bands", band_edges_hz=rows)
    if kind == "LCNNModel":
        return CamLayer(model.lcnn[26], "lcnn.26 (last max-feature-map)", "none", time_dim=2)
    return None
