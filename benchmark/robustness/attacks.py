"""Adversarial conditions on files: a fitted differentiable detector (the neural engine's RawNet2, AASIST,
LFCC-LCNN) turned into a per-file transform that pushes a spoof towards bona fide within an SNR budget."""
from __future__ import annotations

import numpy as np
import torch

from spoofbench.detectors.devices import torch_threads
from spoofbench.detectors.neural import NeuralDetector
from spoofbench.detectors.neural.adversarial import AttackSpec, perturb
from spoofbench.protocols.audio import resample


def is_differentiable(detector) -> bool:
    """White-box attacks need the gradient of the score with respect to the waveform: networks of the neural
    engine have it; the GMM baselines' front ends (numpy/scipy) do not."""
    return isinstance(detector, NeuralDetector) and getattr(detector, "model_", None) is not None


class AttackTransform:
    """``apply(wave, rate, utt_id)``: the adversarial version of ``wave`` against ``detector``, at ``rate``.
    The attack runs at the detector's own rate; the perturbation is brought back to the file's rate and
    added to the untouched original (so a file is never resampled twice)."""

    def __init__(self, detector: NeuralDetector, attack: AttackSpec):
        self.detector, self.attack = detector, attack
        self.device = detector._device()
        detector.model_.to(self.device)

    def __call__(self, wave: np.ndarray, rate: int, utt_id: str = "") -> np.ndarray:
        det = self.detector
        own = int(det.sample_rate)
        x = resample(wave, rate, own) if rate != own else wave
        n_samples = None if det.n_samples is None else int(det.n_samples)
        with torch_threads(det.threads), torch.enable_grad():
            adv = perturb(det.model_, [x], np.array([1]), self.attack, n_samples=n_samples, mode=det.score_mode,
                          hop=det.window_hop, rule=det.score_rule, device=self.device)[0]
        if rate == own:
            return adv
        delta = resample(adv - x, own, rate)[:len(wave)]
        return (wave + np.pad(delta, (0, len(wave) - len(delta)))).astype(np.float32)
