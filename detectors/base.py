"""The one detector interface. A detector feels like a scikit-learn estimator:

* ``__init__`` only stores hyperparameters (keyword arguments, each kept as an attribute of the same name);
* ``fit(train, dev=None)`` learns from trial tables and returns ``self``; learned state ends in ``_``;
* ``score(trials)`` returns one float per trial, higher = more bona fide; ``score_files(paths)`` and
  ``score_waves(waves, sample_rate)`` give the same numbers without a protocol;
* ``save(path)`` / ``load(path, **runtime_overrides)`` round-trip the fitted detector through a checksummed file
  (no pickle) that holds the hyperparameters shaping the scores, never the machine-specific ``runtime_params``.

Every registered detector also takes ``augment=`` (training augmentation): the built-in families declare it,
and :func:`~spoofbench.detectors.register_detector` gives any other subclass the generic route of
:mod:`spoofbench.detectors.augmented_training`.

``spoofbench.detectors.checks.check_detector`` tests a detector against all of this.
"""
from __future__ import annotations

import inspect
import os
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from spoofbench.protocols.errors import AudioError, BenchError, ConfigError
from spoofbench.protocols.trials import TrialTable

from .model_file import jsonable, read_detector_file, write_detector_file
from .param_checks import check_types

#: Waves written to disk at once by :meth:`Detector.score_waves` (bounds its temporary disk use).
WAVES_PER_BATCH = 256


class NotFittedError(BenchError):
    pass


class Detector:
    """Base class. Subclasses set ``sample_rate`` (class attribute or hyperparameter) and implement
    ``fit``, ``score``, ``get_state`` and ``set_state``."""

    #: Registry name, filled in by :func:`spoofbench.detectors.register_detector`.
    name: ClassVar[str] = ""
    #: Rate (Hz) the detector wants its audio at; loaders resample to it.
    sample_rate: int = 16000
    #: Hyperparameters that say where files go or how fast work runs (cache and checkpoint folders, worker
    #: counts, device, progress bars), never what the scores are. They are left out of a run's stage keys and
    #: are never written to, nor read from, a saved model file: they belong to the machine, not the model.
    runtime_params: ClassVar[frozenset[str]] = frozenset()

    # ---- sklearn-style hyperparameters --------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the hyperparameters ``__init__`` takes (each stored as an attribute of the same name)."""
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    @classmethod
    def result_param_names(cls) -> list[str]:
        """The hyperparameters that can change the scores: every one but :attr:`runtime_params`."""
        return [n for n in cls.param_names() if n not in cls.runtime_params]

    def validate_params(self) -> None:
        """Raise :class:`ConfigError` (one line naming the parameter, its value and what is allowed) when a
        hyperparameter is out of range. Called before any work, e.g. before ``bench run`` loads a corpus.
        Write it with the helpers of :mod:`spoofbench.detectors.param_checks`."""

    def check_params(self) -> Detector:
        """Types (from the ``__init__`` annotations or defaults) and ranges (:meth:`validate_params`) of every
        hyperparameter; run by :func:`create_detector` and :meth:`load`."""
        check_types(self)
        self.validate_params()
        return self

    def get_params(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in self.param_names()}

    def set_params(self, **params) -> Detector:
        valid = self.param_names()
        for key in params:
            if key not in valid:
                raise ConfigError(f"{self.name or type(self).__name__}: unknown parameter {key!r}; "
                                  f"valid: {', '.join(valid)}")
        old = {key: getattr(self, key) for key in params}
        for key, value in params.items():
            setattr(self, key, value)
        try:  # the new values, checked as create_detector checks the first ones
            return self.check_params()
        except ConfigError:
            for key, value in old.items():  # a refused change leaves the detector as it was
                setattr(self, key, value)
            raise

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ---- the interface --------------------------------------------------------------------------
    def fit(self, train: TrialTable, dev: TrialTable | None = None) -> Detector:
        raise NotImplementedError

    def score(self, trials: TrialTable) -> np.ndarray:
        raise NotImplementedError

    def get_state(self) -> dict[str, np.ndarray]:
        """Learned state as named numpy arrays (what ``save`` writes)."""
        raise NotImplementedError

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def n_parameters(self) -> int:
        """Number of learned values (reported in run provenance); families may count more precisely."""
        self.check_fitted()
        return int(sum(np.asarray(v).size for v in self.get_state().values()))

    def pretrained_info(self) -> dict | None:
        """Where shipped pre-trained weights come from (name, file, sha256, trained_on, source, licence,
        finetune_epochs), or None for a detector trained by ``fit``."""
        return None

    @property
    def needs_training(self) -> bool:
        """False for a pre-trained detector used as it is: ``fit`` ignores its data (the harness scores it
        without training)."""
        return True

    @property
    def is_fitted(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    def check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{self.name or type(self).__name__} is not fitted: call fit() or load() first")

    # ---- scoring without a protocol ------------------------------------------------------------
    def score_files(self, paths: Sequence[os.PathLike | str], *, batch_size: int | None = None) -> np.ndarray:
        """Scores of audio files (one float each, in order, higher = bona fide): the numbers ``score`` gives
        for a trial table of these paths. ``batch_size``: files per ``score`` call (default: all at once)."""
        if isinstance(paths, (str, os.PathLike)):
            raise TypeError("score_files takes a list of paths; for one file use score_files([path])")
        paths = [os.fspath(p) for p in paths]
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ConfigError(f"score_files: batch_size={batch_size!r} is not allowed; expected an integer >= 1")
        step = batch_size or max(1, len(paths))
        parts = [np.asarray(self.score(TrialTable.from_paths(paths[i:i + step])), dtype=np.float64)
                 for i in range(0, len(paths), step)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)

    def score_waves(self, waves: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        """Scores of in-memory mono waveforms at ``sample_rate`` Hz (resampled to the detector's rate as
        ``load_audio`` resamples files). Detectors read audio through paths, so the waves go through a
        temporary folder as 32-bit float WAV (lossless), ``WAVES_PER_BATCH`` at a time: the scores are those
        of ``score_files`` on the same samples."""
        import soundfile as sf

        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate < 1:
            raise ConfigError(f"score_waves: sample_rate={sample_rate!r} is not allowed; expected a positive "
                              "integer (Hz)")
        if isinstance(waves, np.ndarray) and waves.ndim == 1:
            raise TypeError("score_waves takes a list of waveforms (or a 2-D batch); for one use [wave]")
        waves = [_checked_wave(w, i) for i, w in enumerate(waves)]
        scores = []
        # Features of throw-away files would only fill a feature cache; cache_dir is a runtime parameter, so
        # turning it off for these files changes no score.
        cached = "cache_dir" in self.runtime_params
        cache_dir = getattr(self, "cache_dir", None)
        try:
            if cached:
                self.cache_dir = False
            with tempfile.TemporaryDirectory(prefix="spoofbench-waves-") as folder:
                for first in range(0, len(waves), WAVES_PER_BATCH):
                    paths = [os.path.join(folder, f"wave{i:08d}.wav")
                             for i in range(first, min(first + WAVES_PER_BATCH, len(waves)))]
                    for path, wave in zip(paths, waves[first:]):
                        sf.write(path, wave, int(sample_rate), subtype="FLOAT", format="WAV")
                    scores.append(self.score_files(paths))
                    for path in paths:
                        os.remove(path)
        finally:
            if cached:
                self.cache_dir = cache_dir
        return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float64)

    # ---- persistence --------------------------------------------------------------------------
    def save(self, path: os.PathLike | str, *, provenance: dict | None = None, decisions=None) -> None:
        """Write ``path`` atomically (see :mod:`spoofbench.detectors.model_file`). Runtime parameters (cache and
        checkpoint folders, devices, workers) are not written: they belong to the machine that loads it.
        ``provenance``: what the file should tell its readers (e.g. ``bench run`` records the preset and the
        corpus it was trained on); it is description only, never read back as a setting.
        ``decisions``: a calibration and decision policy fitted on dev (``spoofbench.benchmark.decisions``; an
        object with ``to_dict()`` or that dict), kept in the file's meta; without it, the policy the detector
        was loaded with (``decisions_``) is kept. Read it back with ``spoofbench.benchmark.decisions.read_decisions``
        or from ``Detector.load(path).decisions_`` (the dict; absent when the file has none)."""
        self.check_fitted()
        params = {k: v for k, v in self.get_params().items() if k not in self.runtime_params}
        meta = {"detector": self.name, "class": type(self).__name__, "params": jsonable(params)}
        info = self.pretrained_info()
        if info is not None:
            meta["pretrained"] = jsonable(info)
        if provenance:
            meta["provenance"] = jsonable(provenance)
        if decisions is None:
            decisions = getattr(self, "decisions_", None)
        if decisions is not None:
            meta["decisions"] = jsonable(decisions.to_dict() if hasattr(decisions, "to_dict") else decisions)
        write_detector_file(path, meta, {k: np.asarray(v) for k, v in self.get_state().items()})

    @classmethod
    def load(cls, path: os.PathLike | str, **runtime_overrides) -> Detector:
        """Load a file written by :meth:`save`. Called on the base class, it builds whichever detector the
        file names (through the registry); on a subclass it also checks the file is of that detector.

        Every setting read from the file is checked (type and range); runtime parameters come from
        ``runtime_overrides`` (else the detector's defaults), never from the file: one found there is
        ignored with a warning."""
        from .registry import create_detector, get_entry

        meta, state = read_detector_file(path)
        name = meta["detector"]
        try:
            factory = get_entry(name).factory
        except ConfigError as exc:
            raise BenchError(f"{path}: {exc}") from None
        runtime = getattr(factory, "runtime_params", frozenset())
        wrong = sorted(set(runtime_overrides) - runtime)
        if wrong:
            raise ConfigError(f"{name}: {wrong[0]!r} is not a runtime parameter, the model file sets it; "
                              f"runtime parameters: {', '.join(sorted(runtime)) or '(none)'}")
        params = dict(meta["params"])
        ignored = sorted(set(params) & runtime)
        if ignored:
            warnings.warn(f"{path}: ignoring machine-specific settings stored in the file ({', '.join(ignored)})",
                          stacklevel=2)
        for key in ignored:
            del params[key]
        try:
            det = create_detector(name, **params, **runtime_overrides)
        except ConfigError as exc:
            raise BenchError(f"{path}: {exc}") from None
        if cls is not Detector and not isinstance(det, cls):
            raise BenchError(f"{path}: holds a {name!r} detector, not {cls.name or cls.__name__}")
        try:
            det.set_state(state)
        except BenchError as exc:
            raise BenchError(f"{path}: {exc}") from None
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise BenchError(f"{path}: the saved state does not fit the {name} settings ({first}); delete the "
                             "file and fit the detector again") from None
        if isinstance(meta.get("decisions"), dict):
            det.decisions_ = meta["decisions"]   # a plain dict: detectors do not import the benchmark
        return det


def _checked_wave(wave, index: int) -> np.ndarray:
    where = f"waves[{index}]"
    try:
        arr = np.asarray(wave, dtype=np.float32)
    except (TypeError, ValueError):
        raise AudioError(where, "not an array of samples") from None
    if arr.ndim != 1:
        raise AudioError(where, f"expected a mono waveform (1-D array), got shape {arr.shape}")
    if arr.size == 0:
        raise AudioError(where, "holds no samples")
    if not np.all(np.isfinite(arr)):
        raise AudioError(where, "holds NaN or Inf samples")
    return arr
