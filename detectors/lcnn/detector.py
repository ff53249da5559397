"""The registered ``lfcc-lcnn`` detector: the LFCC-LCNN network and presets on the neural engine
(``spoofbench.detectors.neural``), which does the training, scoring and saving.

The official recipe (asvspoof-challenge/2021 ``LA/Baseline-LFCC-LCNN/project/baseline_LA/00_train.sh`` and the
NII toolkit's defaults it relies on): Adam, lr 3e-4, no weight decay; the learning rate halved every 10 epochs
(``--lr-decay-factor 0.5 --lr-scheduler-type 1``: StepLR, step 10); batch 64; at most 100 epochs, early stopping
after 50 epochs without a better dev result (``--no-best-epochs 50``); whole utterances, no truncation
(``truncate_seq = None``), batches zero-padded to their longest utterance and drawn from length-sorted blocks of
4 x 64 (``--sampler block_shuffle_by_length``), the last short batch kept; seed 1000; binary cross-entropy of
``sigmoid(logit)`` against bona fide = 1, unweighted (``torch.nn.BCELoss``); score = the logit (higher = bona
fide); evaluation one whole utterance at a time.

The epoch kept is the one with the lowest dev loss (``selection="dev_loss"``, the official rule; early stopping
counts epochs since it); ``selection="dev_eer"`` keeps the engine's usual rule instead.

Where this differs from the official run, on purpose:
* the dev loss is computed in eval mode; the official validates in train mode, with dropout 0.7 on, so its dev
  loss is noisier;
* the official 2021 LA script starts from a model pre-trained on ASVspoof 2019 LA (``--trained-model``), which
  is not published with the code; here training starts from scratch (``00_train.sh`` without that option);
* under torchrun each rank pads its share of a batch to that share's longest utterance.
"""
from __future__ import annotations

import os

import torch

from spoofbench.protocols.errors import ConfigError

from ..neural import NeuralDetector
from ..param_checks import check_choice, check_int, check_number
from ..registry import register_detector
from .model import LCNNConfig, LCNNModel
from .official import load_official_state, load_state_dict_file

_ARCH = ("frame_length", "frame_shift", "n_fft", "n_filters", "max_freq", "pre_emphasis", "with_energy",
         "channels", "dropout", "sample_rate")
OFFICIAL_CHANNELS = [64, 64, 96, 96, 128, 128, 64, 64, 64]

PRESETS = {
    # ASVspoof 2021 LA/DF baseline: 269,729 parameters, the official recipe (module docstring). Whole utterances
    # in batches of 64 need memory (the official trained on a GPU): on a CPU with 0.7-4.5 s utterances a process
    # grew past 6 GB at batch 64 and stayed at 1.8 GB at batch 16; set batch_size lower on small machines
    "asvspoof2021": {"channels": OFFICIAL_CHANNELS, "epochs": 100, "patience": 50, "selection": "dev_loss",
                     "batch_size": 64, "lr": 3e-4, "seed": 1000},
    # for the demo corpus and tests: the same layers, thin (4,653 parameters), a higher learning rate, 12 epochs
    # of whole utterances; one thread (its operations are too small for a second one to pay)
    # (the epoch kept by dev EER: the tiny dev sets of the demo and tests rank better than they calibrate)
    "small": {"channels": [8, 8, 12, 12, 16, 16, 8, 8, 8], "dropout": 0.2, "epochs": 12, "patience": 0,
              "selection": "dev_eer", "batch_size": 8, "lr": 3e-3, "lr_step_epochs": 4, "seed": 1000, "threads": 1},
}


@register_detector("lfcc-lcnn", presets=PRESETS, default_preset="asvspoof2021",
                   description="LFCC + LCNN (max-feature-map) + BLSTM, ASVspoof 2021 LA/DF baseline "
                               "(269,729 parameters; small 4,653)")
class LFCCLCNN(NeuralDetector):
    """LFCC-LCNN (Wang & Yamagishi, ASVspoof 2021 baseline): LFCC computed inside the network, an LCNN with
    max-feature-map, two BLSTM layers, mean pooling over time, one logit. Score = logit of bona fide."""

    config_class, model_class, architecture_params = LCNNConfig, LCNNModel, _ARCH

    score_rule = "single"
    #: as RawNet2: where checkpoints go, workers, caching, scoring batch and progress bars change no number;
    #: threads and device only change float rounding
    runtime_params = frozenset({"checkpoint_dir", "keep_checkpoints", "num_workers", "cache_audio",
                                "eval_batch_size", "threads", "device", "progress"})

    def __init__(self, frame_length: int = 320, frame_shift: int = 160, n_fft: int = 1024, n_filters: int = 20,
                 max_freq: float = 0.5, pre_emphasis: float = 0.97, with_energy: bool = True,
                 channels=(64, 64, 96, 96, 128, 128, 64, 64, 64), dropout: float = 0.7,
                 n_samples: int | None = None, train_crop: str = "first", batch_order: str = "length_blocks",
                 epochs: int = 100, patience: int = 50, selection: str = "dev_loss", batch_size: int = 64,
                 drop_last: bool = False,
                 lr: float = 3e-4, weight_decay: float = 0.0, bonafide_weight: float = 1.0,
                 lr_schedule: str = "step", lr_gamma: float = 0.5, lr_step_epochs: int = 10, seed: int = 1000,
                 device: str = "auto", amp: bool = True, checkpoint_dir: str | None = None,
                 keep_checkpoints: int = 2, num_workers: int = 0, cache_audio: str | bool = "auto",
                 score_mode: str = "whole", window_hop: int | None = None, eval_batch_size: int = 32,
                 fast_inference: str = "off", threads: int | None = None, progress: bool = True,
                 sample_rate: int = 16000, augment: str | None = None,
                 adversarial_training: str | None = None):
        self.frame_length = frame_length
        self.frame_shift = frame_shift
        self.n_fft = n_fft
        self.n_filters = n_filters
        self.max_freq = max_freq
        self.pre_emphasis = pre_emphasis
        self.with_energy = with_energy
        self.channels = channels
        self.dropout = dropout
        self.n_samples = n_samples
        self.train_crop = train_crop
        self.batch_order = batch_order
        self.epochs = epochs
        self.patience = patience
        self.selection = selection
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.lr = lr
        self.weight_decay = weight_decay
        self.bonafide_weight = bonafide_weight
        self.lr_schedule = lr_schedule
        self.lr_gamma = lr_gamma
        self.lr_step_epochs = lr_step_epochs
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
        for name in ("frame_length", "frame_shift", "n_fft", "epochs", "batch_size", "eval_batch_size",
                     "sample_rate", "lr_step_epochs"):
            check_int(self, name, 1)
        check_int(self, "n_filters", 6)
        check_int(self, "n_samples", 1, optional=True)
        check_int(self, "patience", 0)
        check_number(self, "max_freq", 0, 1, exclusive_minimum=True)
        check_number(self, "pre_emphasis", 0, 1)
        check_number(self, "dropout", 0, 1)
        check_choice(self, "with_energy", (True, False))
        if not (isinstance(self.channels, (list, tuple)) and len(self.channels) == 9 and all(
                isinstance(c, int) and not isinstance(c, bool) and c >= 2 and c % 2 == 0 for c in self.channels)):
            raise ConfigError(f"lfcc-lcnn: channels={self.channels!r} is not allowed; expected nine even integers "
                              ">= 2 (the output channels of the nine convolutions)")
        if self.frame_length > self.n_fft:
            raise ConfigError(f"lfcc-lcnn: frame_length={self.frame_length!r} is not allowed; expected at most "
                              f"n_fft={self.n_fft}")
        check_choice(self, "batch_order", ("shuffle", "length_blocks"))
        check_choice(self, "selection", ("dev_loss", "dev_eer"))
        check_choice(self, "drop_last", (True, False))
        check_choice(self, "lr_schedule", ("none", "cosine", "exponential", "step"))
        check_number(self, "lr_gamma", 0, 1, exclusive_minimum=True)
        check_choice(self, "score_mode", ("whole", "first", "sliding"))
        if self.score_mode != "whole" and self.n_samples is None:
            raise ConfigError(f"lfcc-lcnn: score_mode={self.score_mode!r} is not allowed with n_samples=None; "
                              "use score_mode='whole' or set n_samples (the window length)")

    # ---- construction -----------------------------------------------------------------------------
    def load_weights(self, model: LCNNModel, state: dict[str, torch.Tensor], source: str) -> None:
        load_official_state(model, state, source=source)

    @classmethod
    def from_official(cls, path, **overrides) -> LFCCLCNN:
        """A fitted detector holding an official ``state_dict`` (or NII training checkpoint) file."""
        det = cls(**{**PRESETS["asvspoof2021"], **overrides})
        det.check_params()
        model = det.build_model()
        load_official_state(model, load_state_dict_file(path), source=os.fspath(path))
        det.model_ = model.eval()
        det.history_ = []
        return det
