"""Knowledge distillation: a small student network trained on a teacher's scores and the labels, with the
neural engine's own training loop (``neural.training.Distillation``).

The teacher's scores become log-odds of bona fide through its calibration (the decision policy saved with it,
else one fitted here on the dev scores), so any teacher works, whatever its score scale (AASIST's bona fide
logit included). The teacher scores the student's own training crops, batch by batch, so random crops and
any input length are distilled faithfully.
"""
from __future__ import annotations

import hashlib
import json

import torch

from spoofbench.protocols.errors import ConfigError


def teacher_log_odds(teacher, policy):
    """A function of a waveform batch: the teacher's calibrated log-odds of bona fide (no gradient)."""
    from spoofbench.detectors.neural.inference import scores_from_logits

    model = teacher.model_.float().eval()
    weight, bias = float(policy.weight), float(policy.bias)

    @torch.no_grad()
    def log_odds(x: torch.Tensor) -> torch.Tensor:
        if next(model.parameters()).device != x.device:  # the teacher follows the student's device (CUDA)
            model.to(x.device)
        return scores_from_logits(model(x.float()), teacher.score_rule) * weight + bias

    return log_odds


def teacher_policy(teacher, policy, dev):
    """The teacher's calibration: the saved policy, else one fitted on its dev scores."""
    from .decisions import fit_decision_policy

    return policy if policy is not None else fit_decision_policy(teacher.score(dev), dev.y)


def make_student(student_spec: str, teacher, policy, *, weight: float = 0.5, temperature: float = 1.0,
                 params: dict | None = None):
    """The student detector (unfitted), set to distil from ``teacher``; ``fit(train, dev)`` trains it."""
    from spoofbench.detectors import create_detector
    from spoofbench.detectors.neural.detector import NeuralDetector
    from spoofbench.detectors.neural.training import Distillation

    from .export import exportable

    exportable(teacher)  # a neural teacher: its network scores the student's crops
    if not 0 <= weight <= 1:
        raise ConfigError(f"distillation weight must be in [0, 1], got {weight}")
    if not temperature > 0:
        raise ConfigError(f"distillation temperature must be > 0, got {temperature}")
    student = create_detector(student_spec, **(params or {}))
    if not isinstance(student, NeuralDetector) or not student.needs_training:
        raise ConfigError(f"{student_spec}: the student must be a neural detector preset that trains "
                          "(e.g. rawnet2.small, aasist.small, lfcc-lcnn.small)")
    if student.sample_rate != teacher.sample_rate:
        raise ConfigError(f"{student_spec}: student rate {student.sample_rate} Hz differs from the teacher's "
                          f"{teacher.sample_rate} Hz")
    key = hashlib.sha256(json.dumps({"teacher": teacher.get_params(), "policy": policy.to_dict(), "w": weight,
                                     "t": temperature}, sort_keys=True, default=str).encode()).hexdigest()[:12]
    student._distillation = Distillation(teacher_log_odds(teacher, policy), weight, temperature, key)
    return student
