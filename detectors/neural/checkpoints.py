"""Checkpoint files of the neural engine: epoch checkpoints for resume, and state_dicts from outside, read
with ``torch.load(weights_only=True)`` (tensors and plain containers only, no code)."""
from __future__ import annotations

import glob
import os
import pickle
import re
import zipfile

import torch

from spoofbench.protocols.errors import BenchError
from spoofbench.protocols.files import atomic_path

CHECKPOINT_PATTERN = "epoch_{:04d}.pt"


def load_state_dict_file(path: os.PathLike | str) -> dict[str, torch.Tensor]:
    """Read a state_dict from outside (e.g. an official checkpoint) safely: ``torch.load(weights_only=True)``
    on CPU.

    Accepts a bare state_dict or one wrapped as ``{"state_dict": ...}`` / ``{"model": ...}``, and strips the
    ``module.`` prefix that DataParallel/DDP add. Refuses pickled objects with a one-line error."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BenchError(f"{path}: checkpoint file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"{path}: refused: the checkpoint holds pickled Python objects, not only tensors "
                         f"(loading it could run code; re-save it as a plain state_dict) [{first[:160]}]") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        raise BenchError(f"{path}: not a readable PyTorch checkpoint ({_first_line(exc)})") from None
    for wrapper in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BenchError(f"{path}: expected a state_dict (a mapping of names to tensors), got {type(obj).__name__}")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


# ---- epoch checkpoints -------------------------------------------------------------------------------
def save_epoch_checkpoint(state: dict, folder: str, epoch: int) -> str:
    """Write ``state`` as ``folder/epoch_NNNN.pt`` (``epoch`` counted from 1), atomically."""
    path = os.path.join(folder, CHECKPOINT_PATTERN.format(epoch))
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def epoch_checkpoints(folder: str) -> list[str]:
    """The ``epoch_N.pt`` files of ``folder``, oldest epoch first."""
    return sorted(glob.glob(os.path.join(folder, "epoch_*.pt")),
                  key=lambda p: int(re.search(r"epoch_(\d+)\.pt$", p).group(1)))


def load_checkpoint(path: str) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle payload or a damaged file: refuse, name the file
        raise BenchError(f"{path}: cannot resume from this checkpoint ({_first_line(exc)})") from None


def latest_good_checkpoint(folder: str | None) -> tuple[str, dict] | tuple[None, None]:
    """The newest epoch checkpoint of ``folder`` and its contents."""
    if not folder or not os.path.isdir(folder):
        return None, None
    found = epoch_checkpoints(folder)
    return (found[-1], load_checkpoint(found[-1])) if found else (None, None)


def prune_checkpoints(folder: str, keep: int) -> None:
    """Delete all but the ``keep`` newest epoch checkpoints (at least one)."""
    for path in epoch_checkpoints(folder)[:-max(1, keep)]:
        os.remove(path)
