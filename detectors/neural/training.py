"""The training loop of the neural engine, for any network that maps (batch, samples) waveforms to
(batch, 2) logits [spoof, bona fide], with exact resume and model selection by dev EER.

The ``TrainingRecipe`` defaults are the RawNet2 2021 baseline's: Adam (lr 1e-4, weight decay 1e-4), batch
32, cross-entropy weighted 1:9 with bona fide weighted up, inputs = first 64,600 samples (or tiled), 100
epochs, no learning-rate schedule (per-epoch cosine and exponential, and AASIST's per-step cosine to ``lr_min``
are options). The model kept is the epoch with the lowest dev EER: the evaluation data never choose.

Every epoch writes a checkpoint (model, optimizer, scheduler, RNG states, history) to ``checkpoint_dir``
with a sha256 digest (``checkpoints.py``); a fit with the same settings and data resumes from the latest
intact one (a damaged one is skipped with a warning) and ends with the same numbers as an uninterrupted run,
because the batch order and crops are functions of (seed, epoch) only.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from spoofbench.protocols.errors import BenchError, ConfigError

from . import distributed as dist_utils
from .adversarial import mix_adversarial, parse_attack
from .checkpoints import latest_good_checkpoint, prune_checkpoints, save_epoch_checkpoint
from .data import TrainingWaves, length_block_order, pad_batch
from .inference import score_waves

#: "cosine": per epoch from lr to 0 (CosineAnnealingLR); "cosine-step": after every optimizer step from lr to
#: lr_min over all the run's steps (AASIST's official schedule); "exponential": per epoch by lr_gamma; "step":
#: lr_gamma every lr_step_epochs epochs (LFCC-LCNN's halving).
LR_SCHEDULES = ("none", "cosine", "exponential", "cosine-step", "step")


@dataclass
class TrainingRecipe:
    """How a network is trained (its architecture is the detector's business)."""

    epochs: int = 100
    batch_size: int = 32            # global batch: split over the ranks under torchrun
    lr: float = 1e-4
    weight_decay: float = 1e-4
    bonafide_weight: float = 9.0    # class weights [1, 9] = the official [0.1, 0.9]
    lr_schedule: str = "none"       # one of LR_SCHEDULES; "none" is the RawNet2 baselines' (official)
    lr_min: float = 0.0             # where "cosine-step" ends (AASIST's official lr_min: 5e-6)
    lr_gamma: float = 0.95          # per-epoch factor of the exponential schedule, per-step factor of "step"
    lr_step_epochs: int = 10        # "step": lr *= lr_gamma every lr_step_epochs epochs (LFCC-LCNN: 0.5 per 10)
    seed: int = 1234
    n_samples: int | None = 64600   # None: whole utterances, batches zero-padded to their longest (LFCC-LCNN)
    train_crop: str = "first"       # "first" (2021/ICASSP) or "random" (ASVspoof 5 baseline)
    batch_order: str = "shuffle"    # "shuffle", or "length_blocks" (NII block_shuffle_by_length)
    patience: int = 0               # early stopping: stop after this many epochs without a better dev result (0: off)
    selection: str = "dev_eer"      # the epoch kept: lowest "dev_eer", or lowest "dev_loss" (the NII toolkit's rule)
    drop_last: bool = True          # as the 2021 baseline's train loader
    amp: bool = True                # mixed precision on CUDA (ignored on CPU)
    num_workers: int = 0
    checkpoint_dir: str | None = None
    keep_checkpoints: int = 2       # newest per-epoch checkpoints kept (each holds model + Adam state)
    eval_batch_size: int = 32
    progress: bool = True
    augment: str | None = None      # training augmentation (spoofbench.augment.policy), applied in the loader
    #: adversarial training (``adversarial.parse_attack``, e.g. "pgd@40dB"): every other item of each batch is
    #: replaced by its perturbation against the current model, pushed towards the other class
    adversarial_training: str | None = None

    def __post_init__(self):
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if not 0 <= float(self.lr_min) <= float(self.lr):
            raise ConfigError(f"lr_min must be from 0 to lr ({self.lr}), got {self.lr_min!r}")
        if self.selection not in ("dev_eer", "dev_loss"):
            raise ConfigError(f"selection must be 'dev_eer' or 'dev_loss', got {self.selection!r}")
        if self.batch_order not in ("shuffle", "length_blocks"):
            raise ConfigError(f"batch_order must be 'shuffle' or 'length_blocks', got {self.batch_order!r}")
        if int(self.patience) < 0 or int(self.lr_step_epochs) < 1:
            raise ConfigError("patience must be >= 0 and lr_step_epochs >= 1")
        if self.train_crop not in ("first", "random"):
            raise ConfigError(f"train_crop must be 'first' or 'random', got {self.train_crop!r}")
        if int(self.batch_size) < 1 or int(self.epochs) < 1:
            raise ConfigError("batch_size and epochs must be positive")


@dataclass
class TrainResult:
    best_state: dict
    best_epoch: int
    best_dev_eer: float
    history: list


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's global generator and ``random``."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    seed = torch.initial_seed() % (2 ** 32)  # differs per worker and per epoch, derived from the base seed
    np.random.seed(seed)
    random.seed(seed)
    # One BLAS/OpenMP thread per worker (torch already gives each one thread): augmentations call numpy's BLAS
    # (vector norms), whose thread pool, inherited through fork, spun against the training threads and made
    # RawBoost 3 epochs 1.7x slower on 2 cores instead of about 1.1x (bench perf augment).
    threadpool_limits(1)


def _rng_state() -> dict:
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "random": random.getstate(),
             "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["random"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def run_fingerprint(architecture: dict, cfg: TrainingRecipe, train_ids, dev_ids) -> str:
    """Hash of everything that determines the training numbers, so a checkpoint folder is never resumed
    with other settings or data."""
    # fields added after the first release count only when set, so earlier checkpoints keep their fingerprint
    relevant = {k: v for k, v in asdict(cfg).items()
                if k not in ("epochs", "num_workers", "checkpoint_dir", "keep_checkpoints", "progress",
                             "eval_batch_size", "patience")
                and not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}
    blob = json.dumps({"model": architecture, "train": relevant,
                       "train_ids": hashlib.sha256("\n".join(map(str, train_ids)).encode()).hexdigest(),
                       "dev_ids": hashlib.sha256("\n".join(map(str, dev_ids)).encode()).hexdigest()},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


#: recipe fields added later, with their defaults (left out of the fingerprint while at the default)
_LATER_FIELDS = {"lr_step_epochs": 10, "batch_order": "shuffle", "selection": "dev_eer", "lr_min": 0.0,
                 "augment": None, "adversarial_training": None}


def batches_per_epoch(n_items: int, cfg: TrainingRecipe) -> int:
    n = n_items // cfg.batch_size if cfg.drop_last else -(-n_items // cfg.batch_size)
    return max(n, 1)


def step_cosine_factor(step: int, total_steps: int, floor: float) -> float:
    """The learning-rate factor after ``step`` optimizer steps: half a cosine from 1 down to ``floor``
    (= lr_min / lr) over ``total_steps``, as the official AASIST ``cosine_annealing``."""
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


def make_scheduler(optimizer, cfg: TrainingRecipe, steps_per_epoch: int = 1):
    """The learning-rate scheduler of ``cfg.lr_schedule`` (None for "none"). "cosine-step" is stepped after
    every optimizer step, the others after every epoch."""
    if cfg.lr_schedule == "cosine-step":
        total, floor = cfg.epochs * steps_per_epoch, cfg.lr_min / cfg.lr
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: step_cosine_factor(step, total, floor))
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    if cfg.lr_schedule == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_gamma)
    if cfg.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step_epochs, gamma=cfg.lr_gamma)
    return None


def make_optimizer(model, cfg: TrainingRecipe, device: torch.device):
    # fused Adam: one pass over the 17.6M parameters instead of ~10; same update rule as the official Adam
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled training order of one epoch: a function of (seed, epoch) only."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


def train_model(model: torch.nn.Module, train: TrainingWaves, dev: TrainingWaves | None, cfg: TrainingRecipe,
                device: torch.device, on_batch_end: Callable[[int, int, float], None] | None = None,
                fingerprint: str = "", find_unused_parameters: bool = False, name: str = "",
                score_rule: str = "difference", distill: Distillation | None = None) -> TrainResult:
    """Train ``model`` in place; return the state of the epoch with the lowest dev EER (the last epoch
    when there is no dev set). Under torchrun the model is wrapped in DistributedDataParallel: each rank
    takes ``batch_size / world`` items of every global batch, and the weighted loss is normalised by the
    global weight sum, so the gradient is that of the whole batch. ``on_batch_end(epoch, batch, loss)`` is
    called after each optimizer step (progress hooks; tests use it to interrupt a run).
    ``find_unused_parameters``: some parameters get no gradient (DDP must be told); ``name`` labels the
    progress bar; ``score_rule`` (``inference.SCORE_RULES``): how outputs become scores, and for "single" (one
    logit) the loss is the weighted binary cross-entropy instead. ``distill``: knowledge distillation from a
    teacher (see :class:`Distillation`)."""
    rank, world = dist_utils.rank(), dist_utils.world_size()
    if dev is not None and cfg.selection == "dev_eer" and len(np.unique(dev.labels)) < 2:
        # an EER needs both classes: with one, every epoch's would be NaN and none could be chosen
        warnings.warn(f"{name or 'training'}: the dev set holds only one class, so no dev EER can choose an "
                      "epoch; the last epoch is kept", stacklevel=2)
        dev = None
    if cfg.selection == "dev_loss" and score_rule == "bonafide":
        raise ConfigError("selection='dev_loss' needs logits that give the loss (score rule single or difference)")
    model.to(device)
    if world > 1 and device.type == "cuda":
        norm_kinds = batch_norm_kinds(model)
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=find_unused_parameters)
    optimizer = make_optimizer(model, cfg, device)
    scheduler = make_scheduler(optimizer, cfg, batches_per_epoch(len(train), cfg))
    step_each_batch = cfg.lr_schedule == "cosine-step"
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    class_weights = torch.tensor([1.0, float(cfg.bonafide_weight)], device=device)
    attack = parse_attack(cfg.adversarial_training) if cfg.adversarial_training else None

    history, start_epoch = [], 0
    best = {"eer": float("inf"), "epoch": -1, "state": None}
    _, ckpt = latest_good_checkpoint(cfg.checkpoint_dir)
    if ckpt is not None:
        if ckpt.get("fingerprint") != fingerprint:
            raise BenchError(f"{cfg.checkpoint_dir}: holds checkpoints of another run (other settings or data); "
                             f"use an empty checkpoint_dir")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None and ckpt.get("scheduler") is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        history, start_epoch = list(ckpt["history"]), int(ckpt["epoch"]) + 1
        best = {"eer": float(ckpt["best_eer"]), "epoch": int(ckpt["best_epoch"]), "state": ckpt["best_state"]}
    if cfg.checkpoint_dir and rank == 0:
        os.makedirs(cfg.checkpoint_dir, exist_ok=True)

    show = cfg.progress and rank == 0
    bar = tqdm(range(start_epoch, cfg.epochs), desc=f"{name} epochs".strip(), unit="epoch", disable=not show,
               initial=start_epoch, total=cfg.epochs)
    lengths = train.lengths() if cfg.batch_order == "length_blocks" else None
    for epoch in bar:
        if stop_early(cfg, best["epoch"], epoch, dev):
            break
        train.epoch = epoch
        if lengths is not None:
            order = length_block_order(lengths, cfg.batch_size, cfg.seed, epoch)
        else:
            order = epoch_order(len(train), cfg.seed, epoch)
        n_batches = batches_per_epoch(len(order), cfg)
        batches = [order[b * cfg.batch_size:(b + 1) * cfg.batch_size] for b in range(n_batches)]
        mine = [batch[rank::world] for batch in batches]  # this rank's share of every global batch
        loader = torch.utils.data.DataLoader(
            train, batch_sampler=[b.tolist() for b in mine], num_workers=cfg.num_workers,
            worker_init_fn=_worker_init if cfg.num_workers else None,
            generator=torch.Generator().manual_seed(cfg.seed + epoch), pin_memory=device.type == "cuda",
            collate_fn=pad_batch if cfg.n_samples is None else None)
        net.train()
        running, seen = 0.0, 0
        inner = tqdm(loader, desc=f"epoch {epoch + 1}", unit="batch", leave=False, disable=not show)
        for b, (x, y) in enumerate(inner):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if attack is not None:
                x = mix_adversarial(model, x, y, attack, score_rule)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                logits = net(x)
            weights = class_weights[y]
            total_weight = dist_utils.all_reduce_sum(weights.sum().detach())
            # weighted CE as nn.CrossEntropyLoss(weight=...) computes it, normalised over the global batch;
            # DDP averages gradients over ranks, hence the factor world
            per_item = _per_item_loss(logits.float(), y, score_rule)
            if distill is not None:
                per_item = distill.mix(per_item, logits.float(), x, score_rule)
            loss = (per_item * weights).sum() * world / total_weight
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if step_each_batch:
                scheduler.step()
            running += loss.item() / world
            seen += 1
            inner.set_postfix(loss=f"{running / seen:.4f}")
            if on_batch_end is not None:
                on_batch_end(epoch, b, float(loss.item()))
        if scheduler is not None and not step_each_batch:
            scheduler.step()
        record = {"epoch": epoch + 1, "loss": dist_utils.all_reduce_mean(running / max(seen, 1)),
                  "lr": optimizer.param_groups[0]["lr"]}
        if dev is not None and len(dev):
            scores = score_waves(model, dev, device, cfg.eval_batch_size, progress=False, sharded=True,
                                 rule=score_rule)
            labels = dev.labels
            record["dev_eer"] = equal_error_rate(scores[labels == 1], scores[labels == 0])
            if cfg.selection == "dev_loss":
                record["dev_loss"] = dev_loss(scores, labels, cfg.bonafide_weight)
                better = best["epoch"] < 1 or record["dev_loss"] < history[best["epoch"] - 1]["dev_loss"]
            else:
                better = record["dev_eer"] < best["eer"]
        else:
            better = True  # without a dev set the last epoch is kept
        if better:
            best = {"eer": record.get("dev_eer", float("nan")), "epoch": epoch + 1,
                    "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.4f}",
                        dev_eer=f"{100 * record['dev_eer']:.2f}%" if "dev_eer" in record else "-")
        if cfg.checkpoint_dir and rank == 0:
            save_epoch_checkpoint({"fingerprint": fingerprint, "epoch": epoch, "model": model.state_dict(),
                          "optimizer": optimizer.state_dict(),
                          "scheduler": scheduler.state_dict() if scheduler is not None else None,
                          "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                          "rng": _rng_state(), "history": history, "best_eer": best["eer"],
                          "best_epoch": best["epoch"], "best_state": best["state"]},
                                  cfg.checkpoint_dir, epoch + 1)
            prune_checkpoints(cfg.checkpoint_dir, cfg.keep_checkpoints)
        dist_utils.barrier()
    if world > 1 and device.type == "cuda":
        model = revert_sync_batchnorm(model, norm_kinds)
    return TrainResult(best_state=best["state"], best_epoch=best["epoch"], best_dev_eer=best["eer"], history=history)


@dataclass
class Distillation:
    """Knowledge distillation: the loss of each training item becomes ``(1 - weight) * label loss + weight *
    BCE(student score / T, sigmoid(teacher log-odds / T)) * T^2``. ``teacher`` maps the student's input batch
    (the same crops) to the teacher's log-odds of bona fide (e.g. its scores calibrated on dev), without a
    gradient; ``key`` names the teacher in the checkpoint fingerprint, so a run never resumes another's."""

    teacher: Callable[[torch.Tensor], torch.Tensor]
    weight: float = 0.5
    temperature: float = 1.0
    key: str = ""

    def mix(self, label_loss: torch.Tensor, logits: torch.Tensor, x: torch.Tensor, score_rule: str) -> torch.Tensor:
        from .inference import scores_from_logits

        with torch.no_grad():
            target = torch.sigmoid(self.teacher(x).float().reshape(-1) / self.temperature)
        student = scores_from_logits(logits, score_rule) / self.temperature
        soft = F.binary_cross_entropy_with_logits(student, target, reduction="none") * self.temperature ** 2
        return (1 - self.weight) * label_loss + self.weight * soft


def dev_loss(scores: np.ndarray, labels: np.ndarray, bonafide_weight: float) -> float:
    """The training loss on the dev set from its scores: the weighted binary cross-entropy of the bona fide
    logit (score rule "single"), which for two logits equals their cross-entropy (the score is then
    logit(bona fide) - logit(spoof))."""
    s, y = torch.as_tensor(scores, dtype=torch.float64), torch.as_tensor(labels, dtype=torch.float64)
    w = torch.where(y == 1, float(bonafide_weight), 1.0)
    return float((F.binary_cross_entropy_with_logits(s, y, reduction="none") * w).sum() / w.sum())


def stop_early(cfg: TrainingRecipe, best_epoch: int, epochs_done: int, dev) -> bool:
    """Early stopping (the NII toolkit's ``--no-best-epochs``): ``patience`` epochs have passed since the best
    dev result (``selection``). Checked before each epoch, so a resumed run that had stopped stays stopped."""
    return bool(cfg.patience) and dev is not None and len(dev) > 0 and best_epoch >= 1 \
        and epochs_done - best_epoch >= cfg.patience


def _per_item_loss(logits: torch.Tensor, y: torch.Tensor, score_rule: str) -> torch.Tensor:
    """Cross-entropy per item: over the two classes, or for a one-logit network (the logit of bona fide)
    the binary cross-entropy."""
    if score_rule == "single":
        return F.binary_cross_entropy_with_logits(logits.reshape(len(logits)), y.to(logits.dtype),
                                                  reduction="none")
    return F.cross_entropy(logits, y, reduction="none")


def batch_norm_kinds(model: torch.nn.Module) -> dict[str, type]:
    """The class of each BatchNorm layer by name (SyncBatchNorm forgets whether it was 1d, 2d or 3d)."""
    return {name: type(m) for name, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}


def revert_sync_batchnorm(module: torch.nn.Module, kinds: dict[str, type], prefix: str = "") -> torch.nn.Module:
    """SyncBatchNorm layers back to their classes in ``kinds`` (same parameters and statistics), so the
    model runs without a process group."""
    out = module
    if isinstance(module, torch.nn.SyncBatchNorm):
        out = kinds[prefix](module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats).to(module.running_mean.device)
        out.load_state_dict(module.state_dict())
    for name, child in module.named_children():
        out.add_module(name, revert_sync_batchnorm(child, kinds, f"{prefix}.{name}" if prefix else name))
    return out


def equal_error_rate(bonafide: np.ndarray, spoof: np.ndarray) -> float:
    """EER (fraction) by the official ASVspoof DET construction: stable sort of [bona fide, spoof] scores,
    ties split by input order, EER = mean of miss and false-alarm rates at the first minimum of their gap."""
    bonafide, spoof = np.asarray(bonafide, dtype=np.float64), np.asarray(spoof, dtype=np.float64)
    if len(bonafide) == 0 or len(spoof) == 0:
        return float("nan")
    scores = np.concatenate([bonafide, spoof])
    labels = np.concatenate([np.ones(len(bonafide)), np.zeros(len(spoof))])
    order = np.argsort(scores, kind="mergesort")
    labels = labels[order]
    miss = np.concatenate([[0.0], np.cumsum(labels) / len(bonafide)])
    false_alarm = np.concatenate([[1.0], 1.0 - np.cumsum(1 - labels) / len(spoof)])
    i = int(np.argmin(np.abs(miss - false_alarm)))
    return float((miss[i] + false_alarm[i]) / 2)

