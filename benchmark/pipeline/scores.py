"""Score files of a run: written atomically in the 2019 CM format, read back aligned with the trials (so a
resumed run computes its numbers from exactly the same values as an uninterrupted one)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spoofbench.protocols.errors import BenchError
from spoofbench.protocols.trials import TrialTable

from .workspace import file_record


def write_scores(path: Path, table: TrialTable, scores: np.ndarray) -> dict:
    """Write a 2019-format CM score file (atomically, by the score-file module); return its manifest record."""
    from ..scorefiles import write_cm_scores

    write_cm_scores(path, table, scores)
    return file_record(path)


def read_aligned_scores(path: str, table: TrialTable) -> np.ndarray:
    """Scores of ``table``'s trials, in its order, read back from a score file (the files keep full precision)."""
    from ..scorefiles import align_scores, read_scores

    return align_scores(table, read_scores(path), path, check_polarity=False)


def same_scores(path: Path, table: TrialTable, scores: np.ndarray) -> bool:
    """The file already holds exactly these scores (a re-run rewrites nothing)."""
    if not path.is_file():
        return False
    try:
        return bool(np.array_equal(read_aligned_scores(str(path), table), scores))
    except BenchError:
        return False
