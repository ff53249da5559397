"""The registered ``rawnet2`` detector: the RawNet2 network and presets on the neural engine
(``spoofbench.detectors.neural``), which does the training, scoring and saving."""
from __future__ import annotations

import os

import torch

from spoofbench.protocols.errors import ConfigError

from ..neural import NeuralDetector
from ..param_checks import check_choice, check_int, check_number
from ..registry import register_detector
from .model import VARIANT_SAMPLES, VARIANTS, RawNet2Config, RawNet2Model
from .official import canonical_variant, load_official_state, load_state_dict_file

_ARCH = ("sinc_filters", "sinc_taps", "sinc_edges", "learnable_sinc", "block_channels", "gru_hidden",
         "gru_layers", "fc_hidden", "raw_input_conv1", "sample_rate")


def _variant_preset(variant: str, **extra) -> dict:
    cfg = VARIANTS[variant].to_dict()
    cfg["block_channels"] = list(cfg["block_channels"])
    return {**{k: cfg[k] for k in _ARCH}, "n_samples": VARIANT_SAMPLES[variant], **extra}


PRESETS = {
    # ASVspoof 2021 LA/DF baseline: 17,621,410 parameters, conv1 reads the raw block input (its quirk)
    "asvspoof2021": _variant_preset("2021"),
    # ICASSP 2021 paper code (eurecom-asp): 128 sinc filters x 129 taps, 512 channels, 25,433,602 parameters
    "icassp21": _variant_preset("icassp21"),
    # ASVspoof 5 baseline: the 2021 network with the residual block fixed, 64,000 samples, batch 128,
    # random training crops
    "asvspoof5": _variant_preset("asvspoof5", batch_size=128, train_crop="random"),
    # for the demo corpus and tests: the same layers, thin (55,522 parameters), 1.5 s inputs. One thread:
    # its operations are too small for a second thread to pay (on a loaded 2-core machine, 2 threads were
    # 5x slower per step than 1)
    "small": {"sinc_filters": 16, "sinc_taps": 129, "sinc_edges": "2021", "learnable_sinc": False,
              "block_channels": [16, 32], "gru_hidden": 64, "gru_layers": 1, "fc_hidden": 64,
              "raw_input_conv1": False, "n_samples": 24000, "epochs": 16, "batch_size": 16, "lr": 2e-3,
              "lr_schedule": "cosine", "weight_decay": 1e-4, "seed": 1234, "threads": 1},
}


@register_detector("rawnet2", presets=PRESETS, default_preset="asvspoof2021",
                   description="RawNet2 end-to-end CM on raw waveforms (ASVspoof 2021 / ICASSP 2021 / ASVspoof 5)")
class RawNet2(NeuralDetector):
    """RawNet2 (Tak et al., ICASSP 2021): fixed Mel sinc filters, residual blocks with filter-wise feature map
    scaling, a GRU, trained by the official recipe. Score = logit(bona fide) - logit(spoof)."""

    config_class, model_class, architecture_params = RawNet2Config, RawNet2Model, _ARCH

    #: Where checkpoints go and how many are kept, audio-loading workers, whether audio is held in memory, the
    #: scoring batch and progress bars change no number. ``threads`` and ``device`` change float rounding (the
    #: order of sums; on CUDA also training's mixed precision, ``amp``) but not the model being trained or what
    #: it scores, and a model file must load on any machine: they are the machine's, not the model's.
    runtime_params = frozenset({"checkpoint_dir", "keep_checkpoints", "num_workers", "cache_audio",
                                "eval_batch_size", "threads", "device", "progress"})
    #: fast_inference="int8" quantises the GRU and the classifier (not the small attention layers)
    int8_modules = ("gru", "fc1_gru", "fc2_gru")

    def __init__(self, sinc_filters: int = 20, sinc_taps: int = 1025, sinc_edges: str = "2021",
                 learnable_sinc: bool = False, block_channels=(20, 128), gru_hidden: int = 1024,
                 gru_layers: int = 3, fc_hidden: int = 1024, raw_input_conv1: bool = True,
                 n_samples: int = 64600, train_crop: str = "first", epochs: int = 100, batch_size: int = 32,
                 lr: float = 1e-4, weight_decay: float = 1e-4, bonafide_weight: float = 9.0,
                 lr_schedule: str = "none", lr_gamma: float = 0.95, seed: int = 1234, device: str = "auto",
                 amp: bool = True, checkpoint_dir: str | None = None, keep_checkpoints: int = 2,
                 num_workers: int = 0, cache_audio: str | bool = "auto", score_mode: str = "first",
                 window_hop: int | None = None, eval_batch_size: int = 32, fast_inference: str = "off",
                 threads: int | None = None, progress: bool = True, sample_rate: int = 16000,
                 augment: str | None = None, adversarial_training: str | None = None):
        self.sinc_filters = sinc_filters
        self.sinc_taps = sinc_taps
        self.sinc_edges = sinc_edges
        self.learnable_sinc = learnable_sinc
        self.block_channels = block_channels
        self.gru_hidden = gru_hidden
        self.gru_layers = gru_layers
        self.fc_hidden = fc_hidden
        self.raw_input_conv1 = raw_input_conv1
        self.n_samples = n_samples
        self.train_crop = train_crop
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.bonafide_weight = bonafide_weight
        self.lr_schedule = lr_schedule
        self.lr_gamma = lr_gamma
        self.seed = seed
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
        for name in ("sinc_filters", "sinc_taps", "gru_hidden", "gru_layers", "fc_hidden", "n_samples", "epochs",
                     "batch_size", "eval_batch_size", "sample_rate"):
            check_int(self, name, 1)
        check_choice(self, "sinc_edges", ("2021", "icassp21"))
        if not (isinstance(self.block_channels, (list, tuple)) and len(self.block_channels) == 2
                and all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in self.block_channels)):
            raise ConfigError(f"rawnet2: block_channels={self.block_channels!r} is not allowed; expected two "
                              "positive integers (first and last residual blocks' channels)")
        check_choice(self, "lr_schedule", ("none", "cosine", "exponential"))
        check_number(self, "lr_gamma", 0, 1, exclusive_minimum=True)
        check_choice(self, "score_mode", ("first", "sliding"))

    # ---- construction -----------------------------------------------------------------------------
    def load_weights(self, model: RawNet2Model, state: dict[str, torch.Tensor], source: str) -> None:
        load_official_state(model, state, source=source)

    def find_unused_parameters(self) -> bool:
        return bool(self.raw_input_conv1)  # the 2021 quirk: bn1 is computed but gets no gradient

    @classmethod
    def from_official(cls, path, variant: str = "2021", **overrides) -> RawNet2:
        """A fitted detector holding an official checkpoint (``variant``: 2021, icassp21 or asvspoof5)."""
        variant = canonical_variant(variant)
        preset = {"2021": "asvspoof2021"}.get(variant, variant)
        det = cls(**{**PRESETS[preset], **overrides})
        model = det.build_model()
        load_official_state(model, load_state_dict_file(path), source=os.fspath(path), variant=variant)
        det.model_ = model.eval()
        det.history_ = []
        return det
