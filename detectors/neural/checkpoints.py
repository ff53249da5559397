"""Checkpoint files of the neural engine, read safely and checked for damage.

``torch.load(weights_only=True)`` refuses pickled code but does not check the zip's CRCs: a flipped byte
inside a tensor loads silently as a wrong weight. So

* every epoch checkpoint the engine writes gets a ``<file>.sha256`` sidecar (``sha256sum`` format) that is
  checked before the file is loaded; resume skips a damaged checkpoint for the one before it;
* files from outside (official ``.pth`` checkpoints) have their zip CRCs checked (``ZipFile.testzip``), and
  shipped weights with a published digest can be checked with :func:`verify_sha256`.
"""
from __future__ import annotations

import glob
import os
import pickle
import re
import warnings
import zipfile

import torch

from spoofbench.protocols.errors import BenchError
from spoofbench.protocols.files import atomic_path, file_sha256, write_text_atomic

CHECKPOINT_PATTERN = "epoch_{:04d}.pt"
DIGEST_SUFFIX = ".sha256"


# ---- digests and zip CRCs ----------------------------------------------------------------------------
def verify_sha256(path: os.PathLike | str, expected: str) -> None:
    """Raise a one-line BenchError unless the file's sha256 is ``expected`` (hex, any case)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BenchError(f"{path}: file not found")
    actual = file_sha256(path)
    if actual != expected.strip().lower():
        raise BenchError(f"{path}: sha256 {actual[:16]}... does not match the expected {expected.strip()[:16]}... "
                         f"(damaged or a different file)")


def verify_zip(path: str) -> None:
    """Check every member's CRC of a zip-format checkpoint (what ``torch.save`` writes); raise a one-line
    BenchError naming the file on damage. Files in PyTorch's legacy (non-zip) format have no CRCs to check."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise BenchError(f"{path}: damaged checkpoint (its zip structure is broken: {exc})") from None
    if bad is not None:
        raise BenchError(f"{path}: damaged checkpoint (CRC mismatch in {bad})")


def load_state_dict_file(path: os.PathLike | str) -> dict[str, torch.Tensor]:
    """Read a state_dict from outside (e.g. an official checkpoint) safely: zip CRCs checked, then
    ``torch.load(weights_only=True)`` on CPU.

    Accepts a bare state_dict or one wrapped as ``{"state_dict": ...}`` / ``{"model": ...}``, and strips the
    ``module.`` prefix that DataParallel/DDP add. Refuses pickled objects with a one-line error."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BenchError(f"{path}: checkpoint file not found")
    verify_zip(path)
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
    """Write ``state`` as ``folder/epoch_NNNN.pt`` (``epoch`` counted from 1) with its sha256 sidecar, both
    atomically. The digest is written last: a crash in between leaves a file resume will not trust."""
    path = os.path.join(folder, CHECKPOINT_PATTERN.format(epoch))
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        digest = file_sha256(tmp)
    write_text_atomic(path + DIGEST_SUFFIX, f"{digest}  {os.path.basename(path)}\n")
    return path


def epoch_checkpoints(folder: str) -> list[str]:
    """The ``epoch_N.pt`` files of ``folder``, oldest epoch first."""
    return sorted(glob.glob(os.path.join(folder, "epoch_*.pt")),
                  key=lambda p: int(re.search(r"epoch_(\d+)\.pt$", p).group(1)))


def load_checkpoint(path: str) -> dict:
    """An epoch checkpoint, after checking it against its sha256 sidecar; one-line BenchError otherwise."""
    try:
        with open(path + DIGEST_SUFFIX) as f:
            expected = f.read().split()[0]
    except (OSError, IndexError):
        raise BenchError(f"{path}: cannot resume from this checkpoint (no {DIGEST_SUFFIX} digest beside it)") \
            from None
    if file_sha256(path) != expected.lower():
        raise BenchError(f"{path}: cannot resume from this checkpoint (damaged: sha256 does not match "
                         f"{os.path.basename(path)}{DIGEST_SUFFIX})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle payload or an unreadable file: refuse, name the file
        raise BenchError(f"{path}: cannot resume from this checkpoint ({_first_line(exc)})") from None


def latest_good_checkpoint(folder: str | None) -> tuple[str, dict] | tuple[None, None]:
    """The newest epoch checkpoint of ``folder`` that passes :func:`load_checkpoint`, and its contents.
    Each damaged one on the way is skipped with a warning naming it; when none is usable (and there were
    some), a warning says training starts over."""
    if not folder or not os.path.isdir(folder):
        return None, None
    found = epoch_checkpoints(folder)
    for path in reversed(found):
        try:
            return path, load_checkpoint(path)
        except BenchError as exc:
            warnings.warn(f"{exc}; trying the checkpoint before it", stacklevel=2)
    if found:
        warnings.warn(f"{folder}: no usable epoch checkpoint; training starts over", stacklevel=2)
    return None, None


def prune_checkpoints(folder: str, keep: int) -> None:
    """Delete all but the ``keep`` newest epoch checkpoints (at least one) and their digests."""
    for path in epoch_checkpoints(folder)[:-max(1, keep)]:
        os.remove(path)
        if os.path.exists(path + DIGEST_SUFFIX):
            os.remove(path + DIGEST_SUFFIX)


# ---- fitting a state_dict into a model ---------------------------------------------------------------
def state_mismatches(expected: dict, state: dict, show_missing=str) -> list[str]:
    """What keeps ``state`` from loading into a model whose state_dict is ``expected``: one phrase each for
    missing keys, unexpected keys and shape mismatches, with an example (``show_missing`` names a missing key
    as the user knows it, e.g. its official name). Empty when it fits."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (e.g. {show_missing(missing[0])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
    if shapes:
        k = shapes[0]
        parts.append(f"{len(shapes)} shape mismatches (e.g. {k}: {tuple(state[k].shape)} vs "
                     f"{tuple(expected[k].shape)})")
    return parts


def load_matching_state(model: torch.nn.Module, state: dict) -> None:
    """Copy a state_dict that fits (see ``state_mismatches``) into ``model``, in the model's dtypes."""
    expected = model.state_dict()
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
