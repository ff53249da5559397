"""torchrun support for the neural detectors: process-group set-up (NCCL on GPUs, gloo on CPU), sharding and gathering.

    torchrun --nproc_per_node=4 -m spoofbench.detectors.neural.distributed train CORPUS --detector rawnet2 \
        --out rawnet2.det
    torchrun --nproc_per_node=4 -m spoofbench.detectors.neural.distributed score rawnet2.det CORPUS --split eval \
        --out s.csv
    torchrun --nproc_per_node=2 $(command -v bench) score --detector rawnet2 --checkpoint rawnet2.det audio/

Training wraps the model in DistributedDataParallel (every rank takes its share of each global batch);
scoring gives each rank a shard of the trials and rank 0 gathers them into one score file. Without
torchrun (no WORLD_SIZE in the environment) every function here is a no-op for one process.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
import torch.distributed as dist

from spoofbench.protocols.files import write_text_atomic


def is_active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    return dist.get_world_size() if is_active() else 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str = "auto") -> torch.device:
    """Join the process group torchrun describes (once) and return this rank's device: ``cuda:LOCAL_RANK``
    with NCCL when GPUs are used, the CPU with gloo otherwise."""
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda") or str(device).startswith("cuda")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if launched_by_torchrun() and not is_active():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def shard(n: int) -> np.ndarray:
    """Indices of ``n`` items that this rank handles (round robin)."""
    return np.arange(rank(), n, world_size())


def gather_by_index(indices: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Put every rank's ``values`` (for its ``indices``) into one float64 array of length ``n``, on every rank."""
    if world_size() == 1:
        out = np.full(n, np.nan)
        out[indices] = values
        return out
    parts = [None] * world_size()
    dist.all_gather_object(parts, (np.asarray(indices).tolist(), np.asarray(values, dtype=np.float64).tolist()))
    out = np.full(n, np.nan)
    for idx, vals in parts:
        out[np.asarray(idx, dtype=np.int64)] = vals
    return out


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if world_size() == 1:
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_mean(value: float) -> float:
    if world_size() == 1:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / world_size()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def shutdown() -> None:
    if is_active():
        dist.destroy_process_group()


# ---- torchrun entry point ---------------------------------------------------------------------------
def _parse_value(text: str):
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> int:
    from spoofbench.detectors import create_detector, load_detector
    from spoofbench.protocols import load_trials
    from spoofbench.protocols.errors import BenchError

    parser = argparse.ArgumentParser(prog="python -m spoofbench.detectors.neural.distributed",
                                     description="Train or score a neural detector under torchrun "
                                                 "(also works as one process).")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="fit on the corpus's train split (dev split for model selection)")
    tr.add_argument("corpus")
    tr.add_argument("--detector", default="rawnet2", help="registered name[.preset] (default rawnet2)")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="hyperparameter override")
    tr.add_argument("--out", required=True, help="detector file to write (rank 0)")
    sc = sub.add_parser("score", help="score a split of a corpus with a saved detector")
    sc.add_argument("checkpoint")
    sc.add_argument("corpus")
    sc.add_argument("--split", default="eval")
    sc.add_argument("--out", required=True, help="CSV of utt_id,score (rank 0)")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            overrides = {}
            for item in args.set:
                key, _, value = item.partition("=")
                overrides[key] = _parse_value(value)
            det = create_detector(args.detector, **overrides)
            init_from_env(getattr(det, "device", "auto"))
            det.fit(load_trials(args.corpus, split="train"), load_trials(args.corpus, split="dev"))
            if rank() == 0:
                det.save(args.out)
        else:
            det = load_detector(args.checkpoint)
            init_from_env(getattr(det, "device", "auto"))
            trials = load_trials(args.corpus, split=args.split)
            scores = det.score(trials)
            if rank() == 0:
                write_text_atomic(args.out, "utt_id,score\n"
                                  + "".join(f"{u},{s:.8f}\n" for u, s in zip(trials["utt_id"], scores)))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
