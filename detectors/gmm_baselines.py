"""The ASVspoof LFCC-GMM and CQCC-GMM baselines, registered as ``lfcc-gmm`` and ``cqcc-gmm``.

Two diagonal GMMs (bona fide, spoof) are trained by EM on the frames of the training trials; the score of
an utterance is the mean over its frames of ``log p(x | bona fide) - log p(x | spoof)`` (natural log, the
average frame log-likelihood ratio, higher = bona fide), as the official MATLAB and Python baselines.

Presets (``create_detector("lfcc-gmm.asvspoof2021")``):

* ``asvspoof2019``: the ASVspoof 2019 front end (see :mod:`spoofbench.detectors.frontends`), 512 components, 10 EM
  iterations, every training file.
* ``asvspoof2021``: the ASVspoof 2021 LA/DF front end; LFCC uses every training file, CQCC every 10th spoof
  file, as the official 2021 scripts intended (github.com/asvspoof-challenge/2021,
  ``LA/Baseline-{LFCC,CQCC}-GMM/matlab/*_GMM_ASVspoof_2021_baseline.m``: their spoof feature loop indexes the
  bona fide file list, a bug we do not reproduce).
* ``small``: 2019 LFCC / 2021 CQCC features with 64 components, for the demo corpus and quick checks.

Features are cached on disk (``cache_dir``, see :mod:`spoofbench.detectors.feature_cache`) and extracted in parallel
(``n_jobs``); EM runs in torch on ``device`` ("auto" picks CUDA when present).

``augment`` (see :mod:`spoofbench.augment.policy`) trains on the clean files plus ``augment_copies`` augmented
copies of each; the copies' features are cached under the augmentation's spec and seed, so a second fit with
the same augmentation reuses them.

Audio shorter than one analysis frame is zero-padded to one frame, so every readable file gets a finite
score (digital silence included: its log-spectrum sits at the ``log(eps)`` floor, a valid feature vector).
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, ClassVar

import numpy as np

from spoofbench.augment import parse_augment
from spoofbench.protocols.errors import BenchError, ConfigError
from spoofbench.protocols.trials import TrialTable

from . import frontends
from .augmentation import bonafide_paths, check_augment, training_augmentation
from .base import Detector
from .devices import resolve_device
from .feature_cache import AugmentedCopy, FeatureExtractor
from .gmm import DiagonalGMM
from .param_checks import check_choice, check_int, check_number
from .registry import register_detector

_CLASSES = ("bonafide", "spoof")
#: Files whose features are held at once, and frames per GMM pass, when scoring (bounded memory on large
#: evaluation sets).
_SCORE_BATCH_FILES = 2000
_SCORE_BATCH_FRAMES = 1 << 21


class GMMBaseline(Detector):
    """Front end + two diagonal GMMs scored by the average frame log-likelihood ratio."""

    frontend_kind: ClassVar[str] = ""
    #: Where features are cached, how many processes extract them and whether a bar is shown change nothing
    #: in the features. ``device`` (CPU or CUDA EM) changes float rounding only: the same model up to the last
    #: bits, so a model file loads on any machine.
    runtime_params: ClassVar[frozenset[str]] = frozenset({"cache_dir", "n_jobs", "device", "progress"})

    def __init__(self, frontend: str = "asvspoof2019", frontend_options: dict | None = None,
                 n_components: int = 512, n_iter: int = 10, tol: float = 0.0, reg_covar: float = 1e-6,
                 init: str = "kmeans++", init_frames: int = 50_000, max_frames: int | None = None,
                 bonafide_file_step: int = 1, spoof_file_step: int = 1, precision: str = "float32",
                 seed: int = 0, device: str = "auto", n_jobs: int | None = None, cache_dir=None,
                 progress: bool = True, augment: str | None = None, augment_copies: int = 1):
        self.frontend = frontend
        self.frontend_options = frontend_options
        self.n_components = n_components
        self.n_iter = n_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.init = init
        self.init_frames = init_frames
        self.max_frames = max_frames
        self.bonafide_file_step = bonafide_file_step
        self.spoof_file_step = spoof_file_step
        self.precision = precision
        self.seed = seed
        self.device = device
        self.n_jobs = n_jobs
        # a path is kept as a string so that the saved hyperparameters stay plain JSON
        self.cache_dir = os.fspath(cache_dir) if isinstance(cache_dir, os.PathLike) else cache_dir
        self.progress = progress
        self.augment = augment
        self.augment_copies = augment_copies

    def validate_params(self) -> None:
        presets = {"lfcc": frontends.LFCC_PRESETS, "cqcc": frontends.CQCC_PRESETS}[self.frontend_kind]
        check_choice(self, "frontend", presets)
        if self.frontend_options is not None and not isinstance(self.frontend_options, dict):
            raise ConfigError(f"{self.name}: frontend_options={self.frontend_options!r} is not allowed; "
                              "expected a table of front-end parameters or None")
        try:
            self.frontend_params()
        except ConfigError as exc:
            raise ConfigError(f"{self.name}: frontend_options: {exc}") from None
        except TypeError:  # a text value where the front end compares numbers
            raise ConfigError(f"{self.name}: frontend_options={self.frontend_options!r} is not allowed; "
                              "a front-end parameter has the wrong type") from None
        check_int(self, "n_components", 1)
        check_int(self, "n_iter", 0)
        check_number(self, "tol", 0)
        check_number(self, "reg_covar", 0)
        check_choice(self, "init", ("kmeans++", "random"))
        check_int(self, "init_frames", 1)
        check_int(self, "max_frames", 1, optional=True)
        check_int(self, "bonafide_file_step", 1)
        check_int(self, "spoof_file_step", 1)
        check_choice(self, "precision", ("float32", "float64"))
        check_int(self, "seed", 0)
        check_int(self, "n_jobs", 1, optional=True)
        check_augment(self)
        check_int(self, "augment_copies", 1)

    # ---- configuration --------------------------------------------------------------------------------
    def frontend_params(self) -> dict[str, Any]:
        """The complete front-end parameter set (preset ``frontend`` + ``frontend_options``)."""
        return frontends.frontend_params(self.frontend_kind, self.frontend, **(self.frontend_options or {}))

    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        return int(self.frontend_params()["sample_rate"])

    def _extractor(self) -> FeatureExtractor:
        return FeatureExtractor(self.frontend_kind, self.frontend_params(), cache_dir=self.cache_dir,
                                n_jobs=self.n_jobs, progress=self.progress)

    def _gmm(self, label: str, seed: int) -> DiagonalGMM:
        return DiagonalGMM(self.n_components, n_iter=self.n_iter, tol=self.tol, reg_covar=self.reg_covar,
                           init=self.init, init_frames=self.init_frames, max_frames=self.max_frames, seed=seed,
                           device=self.device, precision=self.precision, progress=self.progress,
                           desc=f"{self.name} EM {label}")

    # ---- interface ------------------------------------------------------------------------------------
    def fit(self, train: TrialTable, dev: TrialTable | None = None) -> GMMBaseline:
        self.check_params()  # attributes may have been assigned directly since create_detector checked them
        resolve_device(self.device)  # fail early on an unusable device
        bona = np.nonzero(train.y == 1)[0][::int(self.bonafide_file_step)]
        spoof = np.nonzero(train.y == 0)[0][::int(self.spoof_file_step)]
        if bona.size == 0 or spoof.size == 0:
            raise ConfigError(f"{self.name}: the training trials need both bona fide and spoof trials "
                              f"(got {bona.size} bona fide, {spoof.size} spoof)")
        extractor = self._extractor()
        copies = self._augmented_copies(train)
        models = {}
        for i, (label, rows) in enumerate((("bonafide", bona), ("spoof", spoof))):
            paths = train["path"][rows]
            feats = extractor.features(paths, desc=f"{self.name} {label} features")
            for copy in copies:  # k augmented copies of every training file, cached per augmentation
                feats += extractor.features(paths, desc=f"{self.name} {label} augmented copy {copy.copy + 1}",
                                            augmented=copy)
            frames = np.concatenate(feats)
            del feats
            if frames.shape[0] < self.n_components:
                raise ConfigError(f"{self.name}: {frames.shape[0]} {label} training frames for "
                                  f"{self.n_components} components; use fewer components or more data")
            models[label] = self._gmm(label, self.seed + i).fit(frames)
            del frames
        self.bonafide_gmm_, self.spoof_gmm_ = models["bonafide"], models["spoof"]
        return self

    def _augmented_copies(self, train: TrialTable) -> list[AugmentedCopy]:
        """``augment_copies`` copies of the training files through ``augment`` (none without it); the cache key
        holds the augmentation, the seed and, for babble, which speech it mixes."""
        aug = training_augmentation(self.augment, train)
        if aug is None:
            return []
        pool = bonafide_paths(train) if parse_augment(self.augment).needs_speech else []
        key = hashlib.sha256(json.dumps([aug.spec, int(self.seed), pool]).encode()).hexdigest()[:16]
        aug.warm_up(self.sample_rate)  # imports and caches once, before the extraction workers are forked
        return [AugmentedCopy(aug, int(self.seed), copy, key) for copy in range(int(self.augment_copies))]

    def score(self, trials: TrialTable) -> np.ndarray:
        self.check_fitted()
        paths = trials["path"]
        scores = np.empty(len(trials), dtype=np.float64)
        for offset, feats in self._extractor().batches(paths, _SCORE_BATCH_FILES, desc=f"{self.name} score features"):
            counts = np.array([len(f) for f in feats])
            first = 0
            while first < len(feats):  # GMM passes over at most _SCORE_BATCH_FRAMES frames (and one file more)
                last = first + 1 + int(np.searchsorted(np.cumsum(counts[first + 1:]),
                                                       _SCORE_BATCH_FRAMES - counts[first], side="right"))
                frames = np.concatenate(feats[first:last])
                llr = self.bonafide_gmm_.log_likelihood(frames) - self.spoof_gmm_.log_likelihood(frames)
                bounds = np.concatenate([[0], np.cumsum(counts[first:last])[:-1]])
                scores[offset + first:offset + last] = np.add.reduceat(llr, bounds) / counts[first:last]
                first = last
        bad = np.nonzero(~np.isfinite(scores))[0]
        if bad.size:
            raise BenchError(f"{paths[bad[0]]}: {self.name} score is not finite ({scores[bad[0]]}); "
                             "the features or the models are degenerate")
        return scores

    def frame_llr(self, paths) -> list[np.ndarray]:
        """The frame-level log-likelihood ratios ``log p(x_t | bona fide) - log p(x_t | spoof)`` of each file
        (float64, one array per path): the score is their mean. Explanations plot them over time."""
        self.check_fitted()
        out = []
        for feats in self._extractor().features(list(paths), desc=f"{self.name} frame features"):
            out.append(self.bonafide_gmm_.log_likelihood(feats) - self.spoof_gmm_.log_likelihood(feats))
        return out

    def get_state(self) -> dict[str, np.ndarray]:
        self.check_fitted()
        state = {}
        for label, gmm in (("bonafide", self.bonafide_gmm_), ("spoof", self.spoof_gmm_)):
            state.update({f"{label}_{k}": v for k, v in gmm.get_state().items()})
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        models = {}
        for i, label in enumerate(_CLASSES):
            part = {k[len(label) + 1:]: v for k, v in state.items() if k.startswith(label + "_")}
            try:
                models[label] = self._gmm(label, self.seed + i).set_state(part)
            except KeyError as exc:
                raise BenchError(f"{self.name}: saved state lacks {label}_{exc.args[0]}") from None
        dim = frontends.feature_dim(self.frontend_kind, self.frontend_params())
        for label, gmm in models.items():
            if gmm.means_.shape[1] != dim:
                raise BenchError(f"{self.name}: saved {label} model has {gmm.means_.shape[1]} dimensions, the "
                                 f"front end gives {dim}")
        self.bonafide_gmm_, self.spoof_gmm_ = models["bonafide"], models["spoof"]


_SMALL = dict(n_components=64, n_iter=10, init_frames=20_000)


@register_detector("lfcc-gmm", default_preset="asvspoof2019", presets={
    "asvspoof2019": dict(frontend="asvspoof2019"),
    "asvspoof2021": dict(frontend="asvspoof2021"),
    "small": dict(frontend="asvspoof2019", **_SMALL),
}, description="LFCC front end + bona fide/spoof diagonal GMMs (ASVspoof 2019/2021 baseline)")
class LFCCGMM(GMMBaseline):
    """LFCC-GMM: the ASVspoof linear-frequency cepstral baseline."""

    frontend_kind = "lfcc"


@register_detector("cqcc-gmm", default_preset="asvspoof2019", presets={
    "asvspoof2019": dict(frontend="asvspoof2019"),
    "asvspoof2021": dict(frontend="asvspoof2021", spoof_file_step=10),
    "small": dict(frontend="asvspoof2021", **_SMALL),
}, description="CQCC front end + bona fide/spoof diagonal GMMs (ASVspoof 2019/2021 baseline)")
class CQCCGMM(GMMBaseline):
    """CQCC-GMM: the ASVspoof constant-Q cepstral baseline."""

    frontend_kind = "cqcc"
