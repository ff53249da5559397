"""``augment=`` for every detector, including plugins that never heard of it.

The built-in families augment in their own way (the neural engine on the fly in its data-loader workers, the
GMM baselines through their feature cache). Any other :class:`Detector` subclass is registered as a subclass of
itself made by :func:`with_training_augmentation`: the same class with two more keyword hyperparameters,

* ``augment``: a spec of :mod:`spoofbench.augment.policy` (``rawboost:3``, ``0.5*rawboost:3+0.3*codec:mp3@32k``);
* ``augment_copies``: how many augmented copies of each training file join the clean ones (default 1),

and a ``fit`` that hands the detector's own ``fit`` the clean training trials plus those copies. The copies are
audio files in ``$SPOOFBENCH_CACHE/augmented-audio`` (:mod:`spoofbench.augment.audio_cache`), made once per
(augmentation, copy, file, seed) and reused by every later fit, whatever detector asks. The detector's code
needs nothing: it reads audio through paths, as it always does.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import warnings
from pathlib import Path

import numpy as np

from spoofbench.augment.audio_cache import AudioDigests, degrade_table
from spoofbench.protocols.files import cache_root
from spoofbench.protocols.trials import TrialTable

from .augmentation import bonafide_paths, check_augment, training_augmentation
from .param_checks import check_int

CACHE_SUBDIR = "augmented-audio"
#: The hyperparameters the generic route adds.
GENERIC_PARAMS = ("augment", "augment_copies")


def default_cache_dir() -> Path:
    """``$SPOOFBENCH_CACHE/augmented-audio`` (see ``spoofbench.protocols.files.cache_root``)."""
    return cache_root() / CACHE_SUBDIR


def augmented_training_table(train: TrialTable, augment, copies: int = 1, *, seed: int = 0,
                             cache_dir: Path | None = None, progress: bool = False) -> TrialTable:
    """``train`` followed by ``copies`` augmented copies of each of its trials (same labels and attacks,
    utterance ids ``UTT#aug1``, ``UTT#aug2``, ...). A copy the augmentation leaves clean (its probability terms
    drew no transform) points at the clean file; a copy a transform cannot make (a codec on a very short file)
    is left out, with one warning naming how many."""
    aug = training_augmentation(augment, train)
    if aug is None or copies < 1 or len(train) == 0:
        return train
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    salt = ""
    if aug.needs_speech:  # babble mixes the split's bona fide speech: other speech, other copies
        pool = sorted(bonafide_paths(train))
        salt = hashlib.sha256(json.dumps(pool).encode()).hexdigest()[:16]
    digests = AudioDigests()
    utts = [str(u) for u in train["utt_id"]]
    parts, failed = [train], []
    for copy in range(1, copies + 1):
        drawn = {utt: aug.draw(seed, utt, copy - 1) for utt in utts}

        def apply(wave, rate, utt, drawn=drawn):
            transform, key = drawn[utt]
            return transform.apply(wave, rate, seed=seed, utt_id=key)

        made = degrade_table(train, f"augment:{aug.spec}#copy{copy}", apply, cache_dir, digests, seed=seed,
                             salt=salt, only=np.array([drawn[u][0] is not None for u in utts]), progress=progress,
                             desc=f"augmented copy {copy}")
        failed += made.failed
        parts.append(made.table.with_column("utt_id", [f"{u}#aug{copy}" for u in made.table["utt_id"]]))
    if failed:
        warnings.warn(f"augment={augment}: {len(failed)} augmented cop{'y' if len(failed) == 1 else 'ies'} could "
                      f"not be made and were left out (e.g. {failed[0][0]}: {failed[0][1]})", RuntimeWarning,
                      stacklevel=2)
    return TrialTable.concat(parts)


def with_training_augmentation(cls: type) -> type:
    """``cls`` itself when it declares ``augment``; otherwise a subclass of the same name whose ``__init__`` also
    takes ``augment=None, augment_copies=1`` and whose ``fit`` trains on the clean trials plus the augmented
    copies (see the module docstring). Everything else (scoring, state, save/load, runtime parameters) is
    ``cls``'s, and ``isinstance(det, cls)`` holds."""
    if "augment" in cls.param_names():
        return cls
    taken = [n for n in GENERIC_PARAMS if n in cls.param_names()]
    if taken:
        raise TypeError(f"{cls.__name__} declares {taken[0]!r} but not 'augment'; declare both or neither")
    base_init, base_fit, base_validate = cls.__init__, cls.fit, cls.validate_params

    def __init__(self, *args, augment: str | None = None, augment_copies: int = 1, **kwargs):
        base_init(self, *args, **kwargs)
        self.augment = augment
        self.augment_copies = augment_copies

    signature = inspect.signature(base_init)
    params = list(signature.parameters.values())
    tail = [p for p in params if p.kind is p.VAR_KEYWORD]
    params = [p for p in params if p.kind is not p.VAR_KEYWORD] + [
        inspect.Parameter("augment", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="str | None"),
        inspect.Parameter("augment_copies", inspect.Parameter.KEYWORD_ONLY, default=1, annotation="int"),
    ] + tail
    __init__.__signature__ = signature.replace(parameters=params)

    def fit(self, train, dev=None):
        if getattr(self, "_augmenting", False):  # a subclass of an augmented class, registered in turn
            return base_fit(self, train, dev)
        self.validate_params()
        seed = getattr(self, "seed", 0)
        seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
        table = augmented_training_table(train, self.augment, int(self.augment_copies), seed=seed,
                                         progress=bool(getattr(self, "progress", False)))
        self._augmenting = True
        try:
            return base_fit(self, table, dev)
        finally:
            del self._augmenting

    def validate_params(self):
        base_validate(self)
        check_augment(self)
        check_int(self, "augment_copies", 1)

    for func in (__init__, fit, validate_params):
        func.__qualname__ = f"{cls.__qualname__}.{func.__name__}"
    __init__.__doc__ = base_init.__doc__
    fit.__doc__ = base_fit.__doc__
    namespace = {"__init__": __init__, "fit": fit, "validate_params": validate_params,
                 "__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
                 "augmented_from": cls}
    return type(cls)(cls.__name__, (cls,), namespace)
