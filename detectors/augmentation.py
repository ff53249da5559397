"""The ``augment=`` hyperparameter in detectors (the notation is :mod:`spoofbench.augment.policy`'s): its check,
and the training split's augmentation with babble noise bound to the split's own bona fide speech."""
from __future__ import annotations

from spoofbench.augment import Augmentation, TransformError, parse_augment
from spoofbench.protocols.errors import ConfigError
from spoofbench.protocols.trials import TrialTable


def check_augment(det, name: str = "augment") -> None:
    """One line naming the detector and what is wrong with its ``augment`` value (unknown transform, ...)."""
    try:
        parse_augment(getattr(det, name))
    except TransformError as exc:
        label = getattr(det, "name", "") or type(det).__name__
        raise ConfigError(f"{label}: {name}: {exc}") from None


def bonafide_paths(train: TrialTable) -> list[str]:
    """The split's bona fide files: the speech babble noise mixes."""
    return [str(p) for p, y in zip(train["path"], train.y) if y == 1]


def training_augmentation(value, train: TrialTable) -> Augmentation | None:
    """The parsed ``augment`` value for this training split (None: no augmentation)."""
    aug = parse_augment(value)
    if aug is not None and aug.needs_speech:
        aug = aug.bind_speech(bonafide_paths(train))
    return aug
