"""Batched scoring of the neural engine: the official first window or the mean over sliding windows, in
float32 or a fast mode (bfloat16 autocast, dynamic int8 quantisation, both).

A network's ``forward`` takes (batch, samples) waveforms and returns (batch, 2) logits [spoof, bona fide]
(or one logit); its family's score rule (``SCORE_RULES``) makes them a score. Fast modes use bfloat16 only
where the hardware runs it natively (``spoofbench.detectors.cpu``); elsewhere they fall back, with one warning,
to the best mode that does.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from spoofbench.protocols.errors import ConfigError

from ..cpu import cpu_isa, native_bf16
from . import distributed as dist_utils
from .data import ScoringWaves, TrainingWaves, collate_windows

FAST_MODES = ("off", "bf16", "int8", "int8+bf16")
SCORE_MODES = ("first", "sliding", "whole")
_fallbacks_told: set[str] = set()  # fast modes whose fallback has been reported in this process


#: How a family's network output becomes a detection score (higher = bona fide):
#: "difference": logit(bona fide) - logit(spoof) of (batch, 2) logits, the log-odds of bona fide (RawNet2);
#: "bonafide": the bona fide logit alone, ``output[:, 1]`` (the official AASIST score);
#: "single": a one-logit network, (batch,) or (batch, 1), the logit of bona fide (trained with binary
#: cross-entropy).
SCORE_RULES = ("difference", "bonafide", "single")


def scores_from_logits(logits: torch.Tensor, rule: str = "difference") -> torch.Tensor:
    """Detection scores of a batch of network outputs under ``rule`` (see ``SCORE_RULES``)."""
    if rule == "difference":
        return logits[:, 1] - logits[:, 0]
    if rule == "bonafide":
        return logits[:, 1]
    if rule == "single":
        return logits.reshape(-1)  # (batch,) or (batch, 1); -1 keeps an exported batch dynamic
    raise ConfigError(f"score rule must be one of {', '.join(SCORE_RULES)}, got {rule!r}")


def _why_no_bf16(info: dict) -> str:
    if info["limited_by"]:
        return f"{info['class']}: hardware {info['hardware']}, limited by {', '.join(info['limited_by'])}"
    return f"{info['class']}: no AVX-512 BF16 or AMX"


def supported_fast_mode(fast: str, device: torch.device | str = "cpu") -> str:
    """``fast`` where this hardware runs it natively; otherwise the best mode without bfloat16 ("bf16" ->
    "off", "int8+bf16" -> "int8"), with a warning (once per process and mode) saying why."""
    if fast not in FAST_MODES:
        raise ConfigError(f"fast_inference must be off, bf16, int8 or int8+bf16, got {fast!r}")
    if "bf16" not in fast:
        return fast
    on_cuda = torch.device(device).type == "cuda" and "int8" not in fast  # int8 always runs on the CPU
    if (torch.cuda.is_bf16_supported(including_emulation=False) if on_cuda else native_bf16()):
        return fast
    fallback = "int8" if "int8" in fast else "off"
    if fast not in _fallbacks_told:
        _fallbacks_told.add(fast)
        where = "this GPU" if on_cuda else f"this CPU ({_why_no_bf16(cpu_isa())})"
        warnings.warn(f"fast_inference={fast!r}: {where} has no native bfloat16, which would run many times "
                      f"slower than float32; using {'int8' if fallback == 'int8' else 'float32'} instead",
                      stacklevel=2)
    return fallback


def prepare_inference(model: nn.Module, fast: str = "off", int8_modules=(nn.Linear, nn.GRU, nn.LSTM),
                      device: torch.device | str = "cpu") -> tuple[nn.Module, str | None]:
    """The model to score with and the autocast dtype. ``fast``: "off" (float32, the official numbers),
    "bf16" (bfloat16 autocast), "int8" (dynamic int8 quantisation of ``int8_modules``, names or layer
    types; CPU), "int8+bf16" (both). bf16 only where native (``supported_fast_mode``)."""
    fast = supported_fast_mode(fast, device)
    model = model.eval()
    autocast = "bf16" if "bf16" in fast else None
    if "int8" in fast:
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():  # torch.ao eager quantisation is deprecated (torchao), still works
            warnings.simplefilter("ignore")
            model = quantize_dynamic(copy.deepcopy(model).cpu(), set(int8_modules), dtype=torch.qint8)
        if autocast:
            _feed_float32_to_int8_layers(model)
    return model, autocast


def _feed_float32_to_int8_layers(model: nn.Module) -> None:
    """Dynamically quantised layers take float32 only, but under bfloat16 autocast the layers before them
    hand them bfloat16: cast their inputs back (a no-op for inputs already float32)."""
    from torch.ao.nn.quantized import dynamic as int8

    def to_float32(_module, args):
        return tuple(a.float() if torch.is_tensor(a) and a.dtype == torch.bfloat16 else a for a in args)

    for module in model.modules():
        if isinstance(module, (int8.Linear, int8.GRU, int8.LSTM)):
            module.register_forward_pre_hook(to_float32)


@torch.no_grad()
def score_batches(model: nn.Module, windows: torch.Tensor, device: torch.device, batch_size: int,
                  autocast: str | None = None, rule: str = "difference") -> np.ndarray:
    """The score of each window under ``rule`` (``scores_from_logits``), float64."""
    out = []
    use_bf16 = autocast == "bf16"
    for i in range(0, len(windows), batch_size):
        x = windows[i:i + batch_size].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantised GRU: deprecation notice on every call
            logits = model(x)
        out.append(scores_from_logits(logits.float(), rule).double().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


def score_waves(model: nn.Module, data: TrainingWaves, device: torch.device, batch_size: int,
                progress: bool = False, autocast: str | None = None, sharded: bool = False,
                rule: str = "difference") -> np.ndarray:
    """Scores of a dataset, e.g. the dev set during training. ``sharded``: under torchrun each rank scores its
    share and every rank gets all the scores back. Whole utterances (``data.n_samples`` None) are scored one
    at a time, as ``score_paths(mode="whole")`` scores them, so padding never changes a score."""
    was_training = model.training
    model.eval()
    idx = dist_utils.shard(len(data)) if sharded else np.arange(len(data))
    if data.n_samples is None:
        batch_size = 1
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(data, idx.tolist()), batch_size=batch_size,
                                         shuffle=False)
    out = [score_batches(model, x, device, batch_size, autocast, rule)
           for x, _ in tqdm(loader, desc="scoring", unit="batch", leave=False, disable=not progress)]
    model.train(was_training)
    local = np.concatenate(out) if out else np.zeros(0)
    return dist_utils.gather_by_index(idx, local, len(data)) if sharded else local


def score_paths(model: nn.Module, paths, n_samples: int, sample_rate: int, device: torch.device,
                batch_size: int = 32, mode: str = "first", hop: int | None = None, num_workers: int = 0,
                fast: str = "off", progress: bool = False, int8_modules=(nn.Linear, nn.GRU, nn.LSTM),
                rule: str = "difference") -> np.ndarray:
    """Score audio files of any length: the official first window (``mode="first"``), the mean score
    of sliding windows (``mode="sliding"``, hop ``n_samples // 2`` by default) or the whole utterance in one
    pass (``mode="whole"``, one utterance per batch, as the NII toolkit scores; ``n_samples`` unused).
    Float64, one per path."""
    if mode not in SCORE_MODES:
        raise ConfigError(f"score mode must be one of {', '.join(SCORE_MODES)}, got {mode!r}")
    fast = supported_fast_mode(fast, device)
    model, autocast = prepare_inference(model, fast, int8_modules, device)
    if "int8" in fast:  # dynamically quantised layers run on the CPU only
        device = torch.device("cpu")
    data = ScoringWaves(paths, n_samples, sample_rate, mode, hop)
    per_item = {"first": 1, "sliding": 4, "whole": batch_size}[mode]  # whole: utterances of any length, one each
    loader = torch.utils.data.DataLoader(data, batch_size=max(1, batch_size // per_item), shuffle=False,
                                         num_workers=num_workers, collate_fn=collate_windows)
    sums, counts = np.zeros(len(data)), np.zeros(len(data))
    for windows, owner in tqdm(loader, desc="scoring", unit="batch", leave=False, disable=not progress):
        scores = score_batches(model, windows, device, batch_size, autocast, rule)
        np.add.at(sums, owner.numpy(), scores)  # owner = index of the utterance each window came from
        np.add.at(counts, owner.numpy(), 1)
    return sums / np.maximum(counts, 1)
