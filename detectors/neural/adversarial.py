"""White-box adversarial perturbations of the waveform against a differentiable detector (FGSM, PGD).

The budget is the perturbation's signal-to-noise ratio relative to the utterance it is added to
(``40dB``: the perturbation has 1/10,000 of the signal's energy), i.e. an L2 ball of radius
``||x|| * 10^(-SNR/20)`` around each waveform:

* ``fgsm@SNRdB``: one step along the sign of the gradient, scaled so that its energy meets the budget exactly;
* ``pgd@SNRdB`` (``pgdN@SNRdB`` for N steps, default 10): N steps along the normalised gradient (step
  ``2.5 * radius / N``), each projected back onto the L2 ball (Madry et al.'s L2 PGD, started at zero, so
  the result is deterministic).

The attacker's objective is the detector's score (``inference.scores_from_logits``): each waveform is pushed
towards the class it is told (``towards``: 1 = bona fide, the spoofer's goal; 0 = spoof). The gradient flows
through the detector's own input rule (first window with short files tiled, sliding windows, or the whole
utterance), so the perturbation lands where the detector looks.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from spoofbench.protocols.errors import ConfigError

from .data import fit_length, sliding_windows
from .inference import scores_from_logits

ATTACK_SYNTAX = "fgsm@SNRdB, pgd@SNRdB or pgdN@SNRdB (N steps), e.g. pgd@40dB"
_ATTACK = re.compile(r"(fgsm|pgd)(\d+)?@(-?\d+(?:\.\d+)?)dB")
DEFAULT_PGD_STEPS = 10


@dataclass(frozen=True)
class AttackSpec:
    method: str          # "fgsm" or "pgd"
    snr_db: float
    steps: int = 1

    @property
    def spec(self) -> str:
        steps = "" if self.method == "fgsm" or self.steps == DEFAULT_PGD_STEPS else str(self.steps)
        return f"{self.method}{steps}@{self.snr_db:g}dB"


def parse_attack(text: str) -> AttackSpec:
    """``fgsm@40dB``, ``pgd@40dB``, ``pgd20@30dB``; a :class:`ConfigError` naming the syntax otherwise."""
    m = _ATTACK.fullmatch("".join(str(text).split()))
    if not m:
        raise ConfigError(f"adversarial attack {text!r}: expected {ATTACK_SYNTAX}")
    method, steps = m.group(1), m.group(2)
    if method == "fgsm" and steps:
        raise ConfigError(f"adversarial attack {text!r}: FGSM is one step (write fgsm@SNRdB)")
    n = int(steps) if steps else (1 if method == "fgsm" else DEFAULT_PGD_STEPS)
    if n < 1:
        raise ConfigError(f"adversarial attack {text!r}: PGD needs at least one step")
    return AttackSpec(method, float(m.group(3)), n)


def input_index(length: int, n_samples: int | None, mode: str = "first", hop: int | None = None) -> np.ndarray:
    """Sample indices of the detector's input windows for an utterance of ``length`` samples, shape
    (windows, samples): the same rule as ``data.fit_length`` / ``data.sliding_windows`` (so the gradient
    reaches exactly the samples the detector reads)."""
    if n_samples is None or mode == "whole":
        return np.arange(length)[None]
    # the helpers only move samples around, and float32 holds every index below 2**24 exactly
    if length >= 1 << 24:
        raise ConfigError(f"utterance of {length} samples is too long to attack (at most {(1 << 24) - 1})")
    positions = np.arange(length, dtype=np.float64)
    if mode == "sliding":
        return _as_index(sliding_windows(positions, n_samples, hop or n_samples // 2))
    return _as_index(fit_length(positions, n_samples)[None])


def _as_index(windows: np.ndarray) -> np.ndarray:
    return np.rint(windows).astype(np.int64)


def _score(model: nn.Module, wave: torch.Tensor, index: torch.Tensor, rule: str) -> torch.Tensor:
    """The detector's score of one utterance (mean over its windows), differentiable in ``wave``."""
    return scores_from_logits(model(wave[index]), rule).mean()


@contextlib.contextmanager
def attacking(model: nn.Module):
    """The model in eval mode with frozen parameters while an attack reads its gradients; both restored after."""
    was_training = model.training
    requires = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, r in zip(model.parameters(), requires):
            p.requires_grad_(r)
        model.train(was_training)


def perturb(model: nn.Module, waves: list[np.ndarray], towards: np.ndarray, attack: AttackSpec, *,
            n_samples: int | None, mode: str = "first", hop: int | None = None, rule: str = "difference",
            device: torch.device | str = "cpu") -> list[np.ndarray]:
    """Adversarial versions of ``waves`` (float32, same lengths), each within the SNR budget of ``attack``
    and pushed towards ``towards[i]`` (1: bona fide, 0: spoof). ``model`` is used in eval mode and left in
    the mode it had; its parameters get no gradient."""
    with attacking(model):
        out = []
        for wave, target in zip(waves, np.asarray(towards)):
            out.append(_perturb_one(model, np.asarray(wave, dtype=np.float32), int(target), attack,
                                    n_samples, mode, hop, rule, torch.device(device)))
        return out


def _perturb_one(model, wave, target, attack, n_samples, mode, hop, rule, device) -> np.ndarray:
    x = torch.from_numpy(wave).to(device)
    radius = float(torch.linalg.vector_norm(x)) * 10 ** (-attack.snr_db / 20)
    if radius == 0.0:  # silence: no budget, nothing to add
        return wave.copy()
    index = torch.from_numpy(input_index(len(wave), n_samples, mode, hop)).to(device)
    sign = 1.0 if target == 1 else -1.0   # raise the score towards bona fide, lower it towards spoof

    def gradient(delta: torch.Tensor) -> torch.Tensor:
        delta = delta.detach().requires_grad_(True)
        objective = sign * _score(model, x + delta, index, rule)
        (grad,) = torch.autograd.grad(objective, delta)
        return grad

    delta = torch.zeros_like(x)
    if attack.method == "fgsm":
        direction = torch.sign(gradient(delta))
        norm = torch.linalg.vector_norm(direction)
        delta = direction * (radius / norm) if norm > 0 else delta
    else:
        step = 2.5 * radius / attack.steps
        for _ in range(attack.steps):
            g = gradient(delta)
            norm = torch.linalg.vector_norm(g)
            if norm == 0:
                break
            delta = _project(delta + step * g / norm, radius)
    return (x + delta).detach().cpu().numpy().astype(np.float32)


def _project(delta: torch.Tensor, radius: float) -> torch.Tensor:
    norm = torch.linalg.vector_norm(delta)
    return delta * (radius / norm) if norm > radius else delta


def perturb_batch(model: nn.Module, x: torch.Tensor, towards: torch.Tensor, attack: AttackSpec,
                  rule: str = "difference") -> torch.Tensor:
    """Adversarial versions of a training batch of fixed-length or zero-padded inputs (batch, samples), each
    row within its own SNR budget (the energy of its non-padded part), pushed towards ``towards`` (1 =
    bona fide). Used by adversarial training: the model is switched to eval mode for the attack (batch
    statistics and dropout untouched) and back; parameters get no gradient from it."""
    with attacking(model):
        x = x.detach()
        radius = torch.linalg.vector_norm(x, dim=1, keepdim=True) * 10 ** (-attack.snr_db / 20)
        sign = (2.0 * towards.to(x.dtype) - 1.0)[:, None]
        mask = (x != 0).to(x.dtype)  # padding stays zero

        def gradient(delta):
            delta = delta.detach().requires_grad_(True)
            objective = (sign[:, 0] * scores_from_logits(model(x + delta), rule)).sum()
            (grad,) = torch.autograd.grad(objective, delta)
            return grad * mask

        delta = torch.zeros_like(x)
        if attack.method == "fgsm":
            direction = torch.sign(gradient(delta))
            norm = torch.linalg.vector_norm(direction, dim=1, keepdim=True).clamp_min(1e-12)
            delta = direction * radius / norm
        else:
            step = 2.5 * radius / attack.steps
            for _ in range(attack.steps):
                g = gradient(delta)
                g = g / torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(1e-12)
                delta = delta + step * g
                norm = torch.linalg.vector_norm(delta, dim=1, keepdim=True).clamp_min(1e-12)
                delta = delta * torch.clamp(radius / norm, max=1.0)
        return (x + delta).detach()


def mix_adversarial(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: AttackSpec,
                    rule: str = "difference") -> torch.Tensor:
    """A training batch with every other item (positions 0, 2, 4, ...; batches are shuffled) replaced by its
    adversarial version against ``model`` as it is now, pushed towards the other class (the standard
    adversarial-training mix of clean and perturbed examples, labels unchanged)."""
    chosen = torch.arange(0, len(x), 2, device=x.device)
    mixed = x.clone()
    mixed[chosen] = perturb_batch(model, x[chosen], 1 - y[chosen], attack, rule)
    return mixed
