"""Waveform transforms for training augmentation and for the degradation benchmark, named by short specs.

    from spoofbench.augment import parse_transform
    t = parse_transform("chain(codec:mp3@32k,noise:white@20dB)")
    degraded = t.apply(wave, 16000, seed=0, utt_id="LA_E_1000001")

The same spec strings name training augmentations (``augment=``) and benchmark conditions (``--conditions``).
Every transform is a pure function of (input, sample rate, seed, utterance id): the same call gives the same
samples on any run.
"""
from .base import (
    Transform,
    TransformError,
    TransformFailed,
    available_transforms,
    parse_transform,
    register_transform,
    rng_for,
    split_specs,
)
from .policy import Augmentation, parse_augment

__all__ = ["Augmentation", "Transform", "TransformError", "TransformFailed", "available_transforms", "parse_augment",
           "parse_transform", "register_transform", "rng_for", "split_specs"]
