"""A neural detector holding its freshly initialised, seeded network: for tests of what does not depend on
training (export, distillation losses)."""
import torch

from spoofbench.detectors import create_detector


def untrained(spec, **params):
    torch.manual_seed(0)
    det = create_detector(spec, **params)
    det.model_ = det.build_model().eval()
    det.history_ = []
    return det
