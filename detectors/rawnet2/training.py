"""The RawNet2 training recipe (defaults = the official code) with exact resume, and batched scoring.

Recipe: Adam (lr 1e-4, weight decay 1e-4), batch 32, cross-entropy weighted 1:9 with bona fide weighted
up, inputs = first 64,600 samples (or tiled), 100 epochs, no learning-rate schedule (cosine and exponential
are options). The model kept is the epoch with the lowest dev EER: the evaluation data never choose.

Every epoch writes a checkpoint (model, optimizer, scheduler, RNG states, history) to ``checkpoint_dir``;
a fit with the same settings and data resumes from the latest one and ends with the same numbers as an
uninterrupted run, because the batch order and crops are functions of (seed, epoch) only.
"""
from __future__ import annotations

import copy
import glob
import hashlib
import json
import os
import random
import re
import warnings
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from spoofbench.protocols.errors import BenchError, ConfigError

from . import distributed as dist_utils
from .data import ScoringWaves, TrainingWaves, collate_windows, equal_error_rate
from .model import RawNet2Model
from spoofbench.protocols.files import atomic_path

CHECKPOINT_PATTERN = "epoch_{:04d}.pt"


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 32            # global batch: split over the ranks under torchrun
    lr: float = 1e-4
    weight_decay: float = 1e-4
    bonafide_weight: float = 9.0    # class weights [1, 9] = the official [0.1, 0.9]
    lr_schedule: str = "none"       # "none" (official), "cosine" (to 0 over the epochs), "exponential"
    lr_gamma: float = 0.95          # per-epoch factor of the exponential schedule
    seed: int = 1234
    n_samples: int = 64600
    train_crop: str = "first"       # "first" (2021/ICASSP) or "random" (ASVspoof 5 baseline)
    drop_last: bool = True          # as the 2021 baseline's train loader
    amp: bool = True                # mixed precision on CUDA (ignored on CPU)
    num_workers: int = 0
    checkpoint_dir: str | None = None
    keep_checkpoints: int = 2       # newest per-epoch checkpoints kept (each holds model + Adam state)
    eval_batch_size: int = 32
    progress: bool = True

    def __post_init__(self):
        if self.lr_schedule not in ("none", "cosine", "exponential"):
            raise ConfigError(f"lr_schedule must be none, cosine or exponential, got {self.lr_schedule!r}")
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


def run_fingerprint(model: RawNet2Model, cfg: TrainConfig, train_ids, dev_ids) -> str:
    """Hash of everything that determines the training numbers, so a checkpoint folder is never resumed
    with other settings or data."""
    relevant = {k: v for k, v in asdict(cfg).items()
                if k not in ("epochs", "num_workers", "checkpoint_dir", "keep_checkpoints", "progress",
                             "eval_batch_size")}
    blob = json.dumps({"model": model.config.to_dict(), "train": relevant,
                       "train_ids": hashlib.sha256("\n".join(map(str, train_ids)).encode()).hexdigest(),
                       "dev_ids": hashlib.sha256("\n".join(map(str, dev_ids)).encode()).hexdigest()},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def epoch_checkpoints(folder: str) -> list[str]:
    """The ``epoch_N.pt`` files of ``folder``, oldest epoch first."""
    return sorted(glob.glob(os.path.join(folder, "epoch_*.pt")),
                  key=lambda p: int(re.search(r"epoch_(\d+)\.pt$", p).group(1)))


def latest_checkpoint(folder: str | None) -> str | None:
    if not folder or not os.path.isdir(folder):
        return None
    found = epoch_checkpoints(folder)
    return found[-1] if found else None


def load_checkpoint(path: str) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle payload or a damaged file: refuse, name the file
        raise BenchError(f"{path}: cannot resume from this checkpoint ({str(exc).strip().splitlines()[0][:160]})") \
            from None


def _save_atomic(obj, path: str) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _make_scheduler(optimizer, cfg: TrainConfig):
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    if cfg.lr_schedule == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_gamma)
    return None


def _make_optimizer(model, cfg: TrainConfig, device: torch.device):
    # fused Adam: one pass over the 17.6M parameters instead of ~10; same update rule as the official Adam
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled training order of one epoch: a function of (seed, epoch) only."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


def train_model(model: RawNet2Model, train: TrainingWaves, dev: TrainingWaves | None, cfg: TrainConfig,
                device: torch.device, on_batch_end: Callable[[int, int, float], None] | None = None,
                fingerprint: str = "") -> TrainResult:
    """Train ``model`` in place; return the state of the epoch with the lowest dev EER (the last epoch
    when there is no dev set). Under torchrun the model is wrapped in DistributedDataParallel: each rank
    takes ``batch_size / world`` items of every global batch, and the weighted loss is normalised by the
    global weight sum, so the gradient is that of the whole batch. ``on_batch_end(epoch, batch, loss)`` is
    called after each optimizer step (progress hooks; tests use it to interrupt a run)."""
    rank, world = dist_utils.rank(), dist_utils.world_size()
    model.to(device)
    if world > 1 and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net = model
    if world > 1:
        # with the 2021 quirk bn1 is computed but unused (no gradient): DDP must be told
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=model.config.raw_input_conv1)
    optimizer = _make_optimizer(model, cfg, device)
    scheduler = _make_scheduler(optimizer, cfg)
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    class_weights = torch.tensor([1.0, float(cfg.bonafide_weight)], device=device)

    history, start_epoch = [], 0
    best = {"eer": float("inf"), "epoch": -1, "state": None}
    ckpt_path = latest_checkpoint(cfg.checkpoint_dir)
    if ckpt_path is not None:
        ckpt = load_checkpoint(ckpt_path)
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
    bar = tqdm(range(start_epoch, cfg.epochs), desc="RawNet2 epochs", unit="epoch", disable=not show,
               initial=start_epoch, total=cfg.epochs)
    for epoch in bar:
        train.epoch = epoch
        order = epoch_order(len(train), cfg.seed, epoch)
        n_batches = len(order) // cfg.batch_size if cfg.drop_last else -(-len(order) // cfg.batch_size)
        n_batches = max(n_batches, 1)
        batches = [order[b * cfg.batch_size:(b + 1) * cfg.batch_size] for b in range(n_batches)]
        mine = [batch[rank::world] for batch in batches]  # this rank's share of every global batch
        loader = torch.utils.data.DataLoader(
            train, batch_sampler=[b.tolist() for b in mine], num_workers=cfg.num_workers,
            worker_init_fn=_worker_init if cfg.num_workers else None,
            generator=torch.Generator().manual_seed(cfg.seed + epoch), pin_memory=device.type == "cuda")
        net.train()
        running, seen = 0.0, 0
        inner = tqdm(loader, desc=f"epoch {epoch + 1}", unit="batch", leave=False, disable=not show)
        for b, (x, y) in enumerate(inner):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                logits = net(x)
            weights = class_weights[y]
            total_weight = dist_utils.all_reduce_sum(weights.sum().detach())
            # weighted CE as nn.CrossEntropyLoss(weight=...) computes it, normalised over the global batch;
            # DDP averages gradients over ranks, hence the factor world
            loss = (F.cross_entropy(logits.float(), y, reduction="none") * weights).sum() * world / total_weight
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            running += loss.item() / world
            seen += 1
            inner.set_postfix(loss=f"{running / seen:.4f}")
            if on_batch_end is not None:
                on_batch_end(epoch, b, float(loss.item()))
        if scheduler is not None:
            scheduler.step()
        record = {"epoch": epoch + 1, "loss": dist_utils.all_reduce_mean(running / max(seen, 1)),
                  "lr": optimizer.param_groups[0]["lr"]}
        if dev is not None and len(dev):
            scores = score_waves(model, dev, device, cfg.eval_batch_size, progress=False, sharded=True)
            labels = dev.labels
            record["dev_eer"] = equal_error_rate(scores[labels == 1], scores[labels == 0])
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
            _save_atomic({"fingerprint": fingerprint, "epoch": epoch, "model": model.state_dict(),
                          "optimizer": optimizer.state_dict(),
                          "scheduler": scheduler.state_dict() if scheduler is not None else None,
                          "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                          "rng": _rng_state(), "history": history, "best_eer": best["eer"],
                          "best_epoch": best["epoch"], "best_state": best["state"]},
                         os.path.join(cfg.checkpoint_dir, CHECKPOINT_PATTERN.format(epoch + 1)))
            _prune(cfg.checkpoint_dir, cfg.keep_checkpoints)
        dist_utils.barrier()
    if world > 1 and device.type == "cuda":
        model = _revert_sync_batchnorm(model)
    return TrainResult(best_state=best["state"], best_epoch=best["epoch"], best_dev_eer=best["eer"], history=history)


def _prune(folder: str, keep: int) -> None:
    for path in epoch_checkpoints(folder)[:-max(1, keep)]:
        os.remove(path)


def _revert_sync_batchnorm(module):
    """SyncBatchNorm back to BatchNorm2d (same parameters), so the model runs without a process group."""
    out = module
    if isinstance(module, torch.nn.SyncBatchNorm):
        out = torch.nn.BatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                   module.track_running_stats).to(module.weight.device)
        out.load_state_dict(module.state_dict())
    for name, child in module.named_children():
        out.add_module(name, _revert_sync_batchnorm(child))
    return out


# ---- scoring ---------------------------------------------------------------------------------------
def prepare_inference(model: RawNet2Model, fast: str = "off") -> tuple[RawNet2Model, str | None]:
    """The model to score with and the autocast dtype. ``fast``: "off" (float32, the official numbers),
    "bf16" (bfloat16 autocast, where the CPU or GPU supports it), "int8" (dynamic int8 quantisation of the
    GRU and the fully connected layers, CPU), "int8+bf16" (both)."""
    if fast not in ("off", "bf16", "int8", "int8+bf16"):
        raise ConfigError(f"fast_inference must be off, bf16, int8 or int8+bf16, got {fast!r}")
    model = model.eval()
    autocast = "bf16" if "bf16" in fast else None
    if "int8" in fast:
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():  # torch.ao eager quantisation is deprecated (torchao), still works
            warnings.simplefilter("ignore")
            model = quantize_dynamic(copy.deepcopy(model).cpu(), {"gru", "fc1_gru", "fc2_gru"}, dtype=torch.qint8)
        model.gru_impl = "native"
    return model, autocast


@torch.no_grad()
def score_batches(model: RawNet2Model, windows: torch.Tensor, device: torch.device, batch_size: int,
                  autocast: str | None = None) -> np.ndarray:
    """logit(bona fide) - logit(spoof) of each window, float64."""
    out = []
    use_bf16 = autocast == "bf16"
    for i in range(0, len(windows), batch_size):
        x = windows[i:i + batch_size].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantised GRU: deprecation notice on every call
            logits = model(x)
        out.append(RawNet2Model.scores_from_logits(logits.float()).double().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


def score_waves(model: RawNet2Model, data: TrainingWaves, device: torch.device, batch_size: int,
                progress: bool = False, autocast: str | None = None, sharded: bool = False) -> np.ndarray:
    """Scores of a (fixed-length) dataset, e.g. the dev set during training. ``sharded``: under torchrun
    each rank scores its share and every rank gets all the scores back."""
    was_training = model.training
    model.eval()
    idx = dist_utils.shard(len(data)) if sharded else np.arange(len(data))
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(data, idx.tolist()), batch_size=batch_size,
                                         shuffle=False)
    out = [score_batches(model, x, device, batch_size, autocast)
           for x, _ in tqdm(loader, desc="scoring", unit="batch", leave=False, disable=not progress)]
    model.train(was_training)
    local = np.concatenate(out) if out else np.zeros(0)
    return dist_utils.gather_by_index(idx, local, len(data)) if sharded else local


def score_paths(model: RawNet2Model, paths, n_samples: int, sample_rate: int, device: torch.device,
                batch_size: int = 32, mode: str = "first", hop: int | None = None, num_workers: int = 0,
                fast: str = "off", progress: bool = False) -> np.ndarray:
    """Score audio files of any length: the official first window (``mode="first"``) or the mean score
    of sliding windows (``mode="sliding"``, hop ``n_samples // 2`` by default). Float64, one per path."""
    if mode not in ("first", "sliding"):
        raise ConfigError(f"score mode must be 'first' or 'sliding', got {mode!r}")
    model, autocast = prepare_inference(model, fast)
    if "int8" in fast:
        device = torch.device("cpu")
    data = ScoringWaves(paths, n_samples, sample_rate, mode, hop)
    per_item = 1 if mode == "first" else 4
    loader = torch.utils.data.DataLoader(data, batch_size=max(1, batch_size // per_item), shuffle=False,
                                         num_workers=num_workers, collate_fn=collate_windows)
    sums, counts = np.zeros(len(data)), np.zeros(len(data))
    for windows, owner in tqdm(loader, desc="scoring", unit="batch", leave=False, disable=not progress):
        scores = score_batches(model, windows, device, batch_size, autocast)
        np.add.at(sums, owner.numpy(), scores)  # owner = index of the utterance each window came from
        np.add.at(counts, owner.numpy(), 1)
    return sums / np.maximum(counts, 1)
