"""``NeuralDetector``: the Detector API over the neural engine. A network family subclasses it, declares its
hyperparameters in ``__init__`` (scikit-learn style) and supplies ``build_model()``; the engine does the rest:
data, training with resume and dev-EER selection, torchrun, scoring (first window / sliding, fast modes),
the CPU allocator set-up and saving.

The hyperparameters the engine reads from the subclass: every field of ``TrainingRecipe`` it declares
(``epochs``, ``batch_size``, ``lr``, ``n_samples``, ``train_crop``, ``checkpoint_dir``, ...; the others keep
the recipe's defaults; ``augment`` among them, see :mod:`spoofbench.augment.policy`), and ``device``, ``threads``,
``cache_audio``, ``score_mode``, ``window_hop``, ``fast_inference``, ``sample_rate``.
"""
from __future__ import annotations

import dataclasses
import tempfile
from typing import ClassVar

import numpy as np
import torch
import torch.nn as nn

from spoofbench.protocols.errors import BenchError, ConfigError
from spoofbench.protocols.trials import TrialTable

from ..augmentation import check_augment, training_augmentation
from ..base import Detector
from ..devices import resolve_device, torch_threads
from ..param_checks import check_choice, check_int, check_number
from . import distributed as dist_utils
from .adversarial import parse_attack
from .checkpoints import load_state_dict_file
from .data import AUTO_CACHE_BYTES, TrainingWaves
from .inference import score_paths
from .memory import reuse_freed_memory
from .pretrained import get_weights, weights_path
from .training import TrainingRecipe, run_fingerprint, seed_everything, train_model


def _positive_or_none(det, name: str) -> None:
    if getattr(det, name) is not None:
        check_number(det, name, 0, exclusive_minimum=True)


def _check_attack(det, name: str) -> None:
    value = getattr(det, name)
    if value is not None:
        try:
            parse_attack(value)
        except ConfigError as exc:
            raise ConfigError(f"{det.name}: {name}: {exc}") from None


#: The engine's hyperparameters whose checks are the same in every family.
_ENGINE_CHECKS = {
    "lr": lambda d, n: check_number(d, n, 0, exclusive_minimum=True),
    "weight_decay": lambda d, n: check_number(d, n, 0),
    "bonafide_weight": lambda d, n: check_number(d, n, 0, exclusive_minimum=True),
    "train_crop": lambda d, n: check_choice(d, n, ("first", "random")),
    "seed": lambda d, n: check_int(d, n, 0),
    "finetune_epochs": lambda d, n: check_int(d, n, 0),
    "finetune_lr": _positive_or_none,
    "keep_checkpoints": lambda d, n: check_int(d, n, 1),
    "num_workers": lambda d, n: check_int(d, n, 0),
    "cache_audio": lambda d, n: check_choice(d, n, ("auto", True, False)),
    "window_hop": lambda d, n: check_int(d, n, 1, optional=True),
    "fast_inference": lambda d, n: check_choice(d, n, ("off", "bf16", "int8", "int8+bf16")),
    "threads": lambda d, n: check_int(d, n, 1, optional=True),
    "augment": lambda d, n: check_augment(d, n),
    "adversarial_training": lambda d, n: _check_attack(d, n),
}


class NeuralDetector(Detector):
    """Base class of the end-to-end neural detectors (RawNet2, AASIST, ...)."""

    #: Layers that ``fast_inference="int8"`` quantises dynamically: attribute names or layer types.
    int8_modules: ClassVar[tuple] = (nn.Linear, nn.GRU, nn.LSTM)
    #: How the network's output becomes the score (``inference.SCORE_RULES``): "difference" (logit(bona fide) -
    #: logit(spoof)), "bonafide" (the bona fide logit, as official AASIST) or "single" (a one-logit network,
    #: trained with binary cross-entropy).
    score_rule: ClassVar[str] = "difference"

    #: A family whose network is built from a frozen config dataclass (with ``to_dict``) declares it here with
    #: its model class and the hyperparameters that fill the config; ``model_config``, ``build_model`` and
    #: ``architecture`` then need no code of the family's own.
    config_class: ClassVar[type | None] = None
    model_class: ClassVar[type | None] = None
    architecture_params: ClassVar[tuple[str, ...]] = ()

    # ---- what a family supplies ---------------------------------------------------------------------
    def model_config(self):
        try:
            return self.config_class(**{k: getattr(self, k) for k in self.architecture_params})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.name}: {exc}") from None

    def build_model(self) -> nn.Module:
        """A fresh network: ``forward`` maps (batch, samples) float waveforms to (batch, 2) logits
        [spoof, bona fide] (or one logit, see ``score_rule``)."""
        if self.model_class is None:
            raise NotImplementedError(f"{type(self).__name__} must define build_model() or model_class")
        return self.model_class(self.model_config())

    def architecture(self) -> dict:
        """What determines the network's shape (part of the fingerprint that guards checkpoint resume): the
        config's fields, or, without a config class, the hyperparameters that change scores and are not recipe
        fields."""
        if self.config_class is not None:
            return self.model_config().to_dict()
        recipe = {f.name for f in dataclasses.fields(TrainingRecipe)}
        return {k: getattr(self, k) for k in self.result_param_names() if k not in recipe}

    def check_engine_params(self) -> None:
        """Range checks of the engine's own hyperparameters that the family declares (call it from
        ``validate_params``; the family checks its architecture, schedules and score modes itself)."""
        declared = set(self.param_names())
        for name, check in _ENGINE_CHECKS.items():
            if name in declared:
                check(self, name)
        if getattr(self, "pretrained", None) is not None:
            try:
                get_weights(self.pretrained)
            except ConfigError as exc:
                raise ConfigError(f"{self.name}: pretrained: {exc}") from None

    def load_weights(self, model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
        """Copy a state_dict into ``model`` (families override this for clearer errors)."""
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise BenchError(f"{source}: weights do not fit the {self.name or type(self).__name__} model "
                             f"({str(exc).strip().splitlines()[0][:200]})") from None

    def find_unused_parameters(self) -> bool:
        """Whether some parameters get no gradient (DistributedDataParallel must then be told)."""
        return False

    # ---- shipped pre-trained weights (hyperparameters ``pretrained``, ``finetune_epochs``, ``finetune_lr``) ----
    def pretrained_info(self) -> dict | None:
        name = getattr(self, "pretrained", None)
        if not name:
            return None
        return {**get_weights(name).describe(), "finetune_epochs": int(getattr(self, "finetune_epochs", 0) or 0)}

    @property
    def needs_training(self) -> bool:
        return not (getattr(self, "pretrained", None) and not getattr(self, "finetune_epochs", 0))

    def _pretrained_model(self) -> nn.Module:
        """A fresh network holding the shipped weights (checksum verified)."""
        model = self.build_model()
        path = weights_path(self.pretrained)  # sha256 checked once, here
        self.load_weights(model, load_state_dict_file(path), source=str(path))
        return model

    def check_fitted(self) -> None:
        # a pre-trained preset is ready to score: its weights load on first use, no fit() needed
        if not self.is_fitted and not self.needs_training:
            self.model_ = self._pretrained_model().eval()
            self.history_ = []
        super().check_fitted()

    # ---- recipe ---------------------------------------------------------------------------------------
    def recipe(self) -> TrainingRecipe:
        """The training settings: each ``TrainingRecipe`` field the detector declares as a hyperparameter,
        converted to the field's type."""
        values = {}
        for field in dataclasses.fields(TrainingRecipe):
            if field.name in self.param_names():
                value = getattr(self, field.name)
                kind = type(field.default)
                values[field.name] = kind(value) if kind in (int, float, bool) and value is not None else value
        try:
            return TrainingRecipe(**values)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.name}: {exc}") from None

    # ---- Detector API -------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        if dist_utils.launched_by_torchrun():
            device = dist_utils.init_from_env(self.device)
        else:
            device = resolve_device(self.device)
        if device.type == "cpu":
            reuse_freed_memory()  # the engine's allocator set-up (see memory.py); models never do this
        return device

    def _waves(self, trials: TrialTable, cfg: TrainingRecipe, cache: bool) -> TrainingWaves:
        return TrainingWaves(trials["path"], trials.y, cfg.n_samples, self.sample_rate, cfg.train_crop,
                             seed=cfg.seed, cache=cache, progress=cfg.progress and dist_utils.rank() == 0,
                             augment=training_augmentation(cfg.augment, trials))

    def _cache(self, n_items: int) -> bool:
        if self.cache_audio == "auto":  # whole utterances (n_samples None): counted as 8 s each
            return n_items * int(self.n_samples or 8 * self.sample_rate) * 4 <= AUTO_CACHE_BYTES
        return bool(self.cache_audio)

    def fit(self, train: TrialTable, dev: TrialTable | None = None) -> NeuralDetector:
        self.check_params()  # attributes may have been assigned directly since create_detector checked them
        with torch_threads(self.threads):
            return self._fit_checked(train, dev)

    def _fit_checked(self, train: TrialTable, dev: TrialTable | None) -> NeuralDetector:
        if not self.needs_training:  # pre-trained, used as it is: the data are not needed
            self.model_ = self._pretrained_model().eval()
            self.history_ = []
            return self
        if len(train) == 0 or len(set(train.y.tolist())) < 2:
            raise BenchError(f"{self.name}: the training set needs both bona fide and spoof trials")
        cfg = self.recipe()
        device = self._device()
        seed_everything(cfg.seed)
        if getattr(self, "pretrained", None):  # fine-tuning: start from the shipped weights, gently
            model = self._pretrained_model()
            lr = self.finetune_lr if getattr(self, "finetune_lr", None) is not None else cfg.lr / 10
            cfg = dataclasses.replace(cfg, epochs=int(self.finetune_epochs), lr=float(lr))
        else:
            model = self.build_model()
        if cfg.checkpoint_dir is None:  # still checkpoint every epoch, in a folder removed afterwards
            with tempfile.TemporaryDirectory(prefix=f"{self.name or 'neural'}-ckpt-") as tmp:
                cfg.checkpoint_dir = tmp if dist_utils.world_size() == 1 else None
                return self._fit(model, train, dev, cfg, device)
        return self._fit(model, train, dev, cfg, device)

    def _fit(self, model, train, dev, cfg, device):
        train_w = self._waves(train, cfg, self._cache(len(train) + (len(dev) if dev is not None else 0)))
        dev_w = None
        if dev is not None and len(dev):
            dev_cfg = dataclasses.replace(cfg, train_crop="first", augment=None)  # dev: official first window
            dev_w = self._waves(dev, dev_cfg, train_w._cache is not None)
        fingerprint = run_fingerprint(self.architecture(), cfg, train["utt_id"],
                                      dev["utt_id"] if dev is not None else [])
        distill = getattr(self, "_distillation", None)  # set by spoofbench.deploy.distill, never a hyperparameter
        if distill is not None:
            fingerprint = f"{fingerprint}-distill-{distill.key}"
        result = train_model(model, train_w, dev_w, cfg, device, on_batch_end=getattr(self, "_on_batch_end", None),
                             fingerprint=fingerprint, find_unused_parameters=self.find_unused_parameters(),
                             name=type(self).__name__, score_rule=self.score_rule, distill=distill)
        model.load_state_dict(result.best_state)
        self.model_ = model.eval()
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        return self

    def score(self, trials: TrialTable) -> np.ndarray:
        self.check_fitted()
        with torch_threads(self.threads):
            return self._score(trials)

    def _score(self, trials: TrialTable) -> np.ndarray:
        device = self._device()
        self.model_.to(device)
        idx = dist_utils.shard(len(trials))
        paths = [trials["path"][i] for i in idx]
        n_samples = None if self.n_samples is None else int(self.n_samples)  # None: whole utterances
        local = score_paths(self.model_, paths, n_samples, self.sample_rate, device,
                            batch_size=int(self.eval_batch_size), mode=self.score_mode, hop=self.window_hop,
                            num_workers=int(self.num_workers), fast=self.fast_inference,
                            progress=bool(self.progress) and dist_utils.rank() == 0, int8_modules=self.int8_modules,
                            rule=self.score_rule)
        return dist_utils.gather_by_index(idx, local, len(trials))

    def get_state(self) -> dict[str, np.ndarray]:
        self.check_fitted()
        state = {k: v.detach().cpu().numpy() for k, v in self.model_.state_dict().items()}
        for key in ("loss", "dev_eer"):
            state[f"train/{key}"] = np.array([h.get(key, np.nan) for h in self.history_], dtype=np.float64)
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        model = self.build_model()
        weights = {k: torch.from_numpy(np.array(v)) for k, v in state.items() if not k.startswith("train/")}
        self.load_weights(model, weights, source="detector file")
        self.model_ = model.eval()
        losses, eers = state.get("train/loss", np.zeros(0)), state.get("train/dev_eer", np.zeros(0))
        self.history_ = [{"epoch": i + 1, "loss": float(a), "dev_eer": float(b)} for i, (a, b) in
                         enumerate(zip(losses, eers))]

    def n_parameters(self) -> int:
        model = self.model_ if self.is_fitted else self.build_model()
        return sum(p.numel() for p in model.parameters())
