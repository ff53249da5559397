"""The registered ``aasist`` detector: the AASIST network with the official recipe on the neural engine
(``spoofbench.detectors.neural``), which does the training, scoring and saving, and the shipped pre-trained
weights as ready-to-score presets."""
from __future__ import annotations

import os

import torch

from spoofbench.protocols.errors import ConfigError

from ..neural import NeuralDetector
from ..neural.checkpoints import load_state_dict_file
from ..param_checks import check_choice, check_int, check_number
from ..registry import register_detector
from .model import VARIANTS, AASISTConfig, AASISTModel
from .official import canonical_variant, load_official_state

_ARCH = ("sinc_filters", "sinc_taps", "encoder_channels", "gat_dims", "pool_ratios", "temperatures", "freq_aug",
         "sample_rate")


def _network(variant: str) -> dict:
    cfg = VARIANTS[variant].to_dict()
    return {k: cfg[k] for k in _ARCH if k != "sample_rate"}


PRESETS = {
    # clovaai/aasist config/AASIST.conf: 297,866 parameters, Adam 1e-4 with per-step cosine decay to 5e-6,
    # weight decay 1e-4, batch 24, 100 epochs, CE weighted [0.1, 0.9], random 64,600-sample training crops
    "aasist": _network("aasist"),
    # config/AASIST-L.conf: the light network (85,306 parameters), same recipe
    "l": _network("aasist-l"),
    # asvspoof5 Baseline-AASIST/config/AASIST_ASVspoof5.conf: the AASIST network and every recipe value of
    # AASIST.conf (no freq_aug); its main.py differs only in data handling (ASVspoof 5 protocol files, the dev
    # EER on the first 2,000 dev utterances, every epoch saved, SWA snapshots taken but never swapped in)
    "asvspoof5": _network("asvspoof5"),
    # for tests and the demo corpus: the same layers, a thin encoder and AASIST-L's graph widths (46,538
    # parameters), 1 s inputs, one thread. On the demo corpus (300 train utterances) gat_dims (16, 8) did not
    # learn in 8 epochs (dev EER 44-50 %); (24, 32) reached 26-28 % by epoch 8-12 at lr 2e-3 (5e-3 and 1e-3:
    # 44-54 %)
    "small": {"sinc_filters": 24, "sinc_taps": 128, "encoder_channels": [8, 8, 16, 16], "gat_dims": [24, 32],
              "pool_ratios": [0.5, 0.7, 0.5, 0.5], "temperatures": [2.0, 2.0, 100.0, 100.0], "n_samples": 16000,
              "epochs": 12, "batch_size": 16, "lr": 2e-3, "lr_min": 5e-5, "threads": 1},
    # the official weights shipped in the package, ready to score (no training): see weights/README.md
    "pretrained-la19": {**_network("aasist"), "pretrained": "aasist-la19"},
    "l.pretrained-la19": {**_network("aasist-l"), "pretrained": "aasist-l-la19"},
    "pretrained-asv5": {**_network("asvspoof5"), "pretrained": "aasist-asv5"},
}


@register_detector("aasist", presets=PRESETS, default_preset="aasist",
                   description="AASIST spectro-temporal graph attention CM on raw waveforms (AASIST 297,866 "
                               "parameters, L 85,306; official pre-trained weights shipped)")
class AASIST(NeuralDetector):
    """AASIST (Jung et al., ICASSP 2022) trained by the official recipe. Score = the bona fide logit
    ``output[:, 1]``, as the official evaluation writes it."""

    config_class, model_class, architecture_params = AASISTConfig, AASISTModel, _ARCH

    score_rule = "bonafide"
    #: Where checkpoints go and how many are kept, loader workers, audio held in memory, the scoring batch
    #: and progress bars change no number; ``threads`` and ``device`` change float rounding only.
    runtime_params = frozenset({"checkpoint_dir", "keep_checkpoints", "num_workers", "cache_audio",
                                "eval_batch_size", "threads", "device", "progress"})

    def __init__(self, sinc_filters: int = 70, sinc_taps: int = 128, encoder_channels=(32, 32, 64, 64),
                 gat_dims=(64, 32), pool_ratios=(0.5, 0.7, 0.5, 0.5), temperatures=(2.0, 2.0, 100.0, 100.0),
                 freq_aug: bool = False, n_samples: int = 64600, train_crop: str = "random", epochs: int = 100,
                 batch_size: int = 24, lr: float = 1e-4, lr_min: float = 5e-6, lr_schedule: str = "cosine-step",
                 weight_decay: float = 1e-4, bonafide_weight: float = 9.0, seed: int = 1234,
                 pretrained: str | None = None, finetune_epochs: int = 0, finetune_lr: float | None = None,
                 device: str = "auto", amp: bool = True, checkpoint_dir: str | None = None,
                 keep_checkpoints: int = 2, num_workers: int = 0, cache_audio: str | bool = "auto",
                 score_mode: str = "first", window_hop: int | None = None, eval_batch_size: int = 24,
                 fast_inference: str = "off", threads: int | None = None, progress: bool = True,
                 sample_rate: int = 16000, augment: str | None = None,
                 adversarial_training: str | None = None):
        self.sinc_filters = sinc_filters
        self.sinc_taps = sinc_taps
        self.encoder_channels = encoder_channels
        self.gat_dims = gat_dims
        self.pool_ratios = pool_ratios
        self.temperatures = temperatures
        self.freq_aug = freq_aug
        self.n_samples = n_samples
        self.train_crop = train_crop
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_min = lr_min
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.bonafide_weight = bonafide_weight
        self.seed = seed
        self.pretrained = pretrained
        self.finetune_epochs = finetune_epochs
        self.finetune_lr = finetune_lr
        self.device = device
        self.amp = amp
        self.checkpoint_dir = checkpoint_dir
        self.keep_checkpoints = keep_checkpoints
        self.num_workers = num_workers
        self.cache_audio = cache_audio
        self.score_mode = score_mode
        self.window_hop = window_hop
        self.eval_batch_size = eval_batch_size
        self.fast_inference = fast_inference
        self.threads = threads
        self.progress = progress
        self.augment = augment
        self.adversarial_training = adversarial_training
        self.sample_rate = sample_rate

    def validate_params(self) -> None:
        self.check_engine_params()
        for name in ("sinc_filters", "sinc_taps", "n_samples", "epochs", "batch_size", "eval_batch_size",
                     "sample_rate"):
            check_int(self, name, 1)
        check_int(self, "sinc_filters", 3)
        for name, length, kind in (("encoder_channels", 4, int), ("gat_dims", 2, int), ("pool_ratios", 4, float),
                                   ("temperatures", 4, float)):
            self._check_list(name, length, kind)
        check_choice(self, "freq_aug", (False, True))
        check_number(self, "lr_min", 0, self.lr)
        check_choice(self, "lr_schedule", ("none", "cosine", "exponential", "cosine-step"))
        check_choice(self, "score_mode", ("first", "sliding"))

    def _check_list(self, name: str, length: int, kind: type) -> None:
        value = getattr(self, name)
        ok = isinstance(value, (list, tuple)) and len(value) == length
        ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value)
        ok = ok and (kind is float or all(isinstance(v, int) for v in value))
        if name == "pool_ratios":
            ok = ok and all(v <= 1 for v in value)
        if not ok:
            what = "integers" if kind is int else "numbers"
            extra = " at most 1" if name == "pool_ratios" else ""
            raise ConfigError(f"aasist: {name}={value!r} is not allowed; expected {length} positive {what}{extra}")

    # ---- construction -----------------------------------------------------------------------------
    def load_weights(self, model: AASISTModel, state: dict[str, torch.Tensor], source: str) -> None:
        load_official_state(model, state, source=source)

    def find_unused_parameters(self) -> bool:
        return True  # bn1 of blocks 1-5: in the official files, but its output is discarded (no gradient)

    @classmethod
    def from_official(cls, path, variant: str = "aasist", **overrides) -> AASIST:
        """A fitted detector holding an official AASIST ``state_dict`` file (``variant``: aasist, aasist-l or
        asvspoof5), read with ``weights_only=True``."""
        variant = canonical_variant(variant)
        preset = {"aasist-l": "l"}.get(variant, variant)
        det = cls(**{**PRESETS[preset], **overrides})
        model = det.build_model()
        load_official_state(model, load_state_dict_file(path), source=os.fspath(path), variant=variant)
        det.model_ = model.eval()
        det.history_ = []
        return det


def from_official(path, variant: str = "aasist", **overrides) -> AASIST:
    """A fitted ``aasist`` detector holding an official checkpoint file (see ``AASIST.from_official``)."""
    return AASIST.from_official(path, variant, **overrides)
