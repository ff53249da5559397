"""The degraded-audio cache of the robustness benchmark: each condition applied to each audio file once, kept
on disk (:mod:`spoofbench.augment.audio_cache`, under ``$SPOOFBENCH_CACHE/degraded-audio``). Adversarial entries
are keyed in addition by the digest of the model they were crafted on."""
from __future__ import annotations

from pathlib import Path

from spoofbench.augment.audio_cache import AudioDigests, DegradedTable, degrade_table
from spoofbench.protocols.files import cache_root

CACHE_SUBDIR = "degraded-audio"

__all__ = ["AudioDigests", "DegradedTable", "default_cache_dir", "degrade_table"]


def default_cache_dir() -> Path:
    """``$SPOOFBENCH_CACHE/degraded-audio`` (see ``spoofbench.protocols.files.cache_root``)."""
    return cache_root() / CACHE_SUBDIR
