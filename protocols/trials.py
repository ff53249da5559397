"""The trial table: one row per trial, the single currency between protocols, detectors and metrics."""
from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import BenchError

#: Columns every trial table has, in this order. Extra columns (codec, vocoder, gender, ...) follow.
CORE_COLUMNS = ("utt_id", "path", "label", "attack", "speaker", "split")
LABELS = ("bonafide", "spoof")
#: Attack id written for bona fide trials, as in the ASVspoof 2019 protocols.
NO_ATTACK = "-"
#: Label of trials whose class is not known (audio scored outside a protocol); neither bona fide nor spoof.
UNKNOWN_LABEL = "unknown"


class MissingColumnError(BenchError, KeyError):
    """A column asked of a :class:`TrialTable` that it does not have (still a ``KeyError`` for callers)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


@dataclass
class TrialTable:
    """Column-oriented table of trials. Every column is a 1-D numpy array of ``str`` (dtype=object).

    ``label`` is ``"bonafide"`` or ``"spoof"``; ``attack`` is ``"-"`` for bona fide trials;
    ``path`` is the audio file (absolute or relative to the corpus root, as the reader chose).
    """

    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        cols = {}
        n = None
        for name in CORE_COLUMNS:
            cols[name] = _as_str_array(self.columns.get(name, ()))
        for name, values in self.columns.items():
            if name not in cols:
                cols[name] = _as_str_array(values)
        for name, values in cols.items():
            if n is None:
                n = len(values)
            elif len(values) != n:
                raise ValueError(f"column {name!r} has {len(values)} rows, expected {n}")
        self.columns = cols

    # construction ---------------------------------------------------------------------------
    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, object]]) -> TrialTable:
        records = list(records)
        names: list[str] = list(CORE_COLUMNS)
        for rec in records:
            names.extend(k for k in rec if k not in names)
        return cls({n: [str(r.get(n, "")) for r in records] for n in names})

    @classmethod
    def from_paths(cls, paths: Sequence[os.PathLike | str]) -> TrialTable:
        """Trials of audio files outside any protocol: ``utt_id`` is the file name without its extension,
        the label ``"unknown"`` (detectors read only ``path`` when scoring)."""
        paths = [os.fspath(p) for p in paths]
        n = len(paths)
        return cls({"utt_id": [os.path.splitext(os.path.basename(p))[0] for p in paths], "path": paths,
                    "label": [UNKNOWN_LABEL] * n, "attack": ["?"] * n, "speaker": ["?"] * n,
                    "split": ["score"] * n})

    @classmethod
    def concat(cls, tables: Sequence[TrialTable]) -> TrialTable:
        names: list[str] = []
        for t in tables:
            names.extend(k for k in t.columns if k not in names)
        return cls({n: np.concatenate([t.columns.get(n, np.full(len(t), "", dtype=object)) for t in tables])
                    if tables else [] for n in names})

    # access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.columns["utt_id"])

    def __getitem__(self, key):
        """``table["path"]``: a column; ``table[1:5]``, ``table[mask]``, ``table[[0, 3]]``: a new table of
        those rows (one row, ``table[i]``, is ``table[i:i + 1]``, so the result is always a table)."""
        if isinstance(key, str):
            if key not in self.columns:
                raise MissingColumnError(f"trial table has no column {key!r}; columns: {', '.join(self.columns)}")
            return self.columns[key]
        if isinstance(key, slice):
            return TrialTable({n: v[key] for n, v in self.columns.items()})
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            raise TypeError(f"a trial table is indexed by rows as a table: use table[{key}:{key + 1}] for one "
                            "row, or iterate over it for dicts")
        idx = np.asarray(key)
        if idx.ndim != 1 or not (idx.dtype == bool or np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
            raise TypeError(f"cannot select trials with {type(key).__name__} of dtype {idx.dtype}: use a column "
                            "name, a slice, a boolean mask or an array of row numbers")
        if idx.dtype == bool and len(idx) != len(self):
            raise IndexError(f"boolean mask of length {len(idx)} for a table of {len(self)} trials")
        if idx.size == 0:
            idx = idx.astype(np.int64)
        elif idx.dtype != bool and (idx.max() >= len(self) or idx.min() < -len(self)):
            raise IndexError(f"row {idx.max() if idx.max() >= len(self) else idx.min()} is out of range for a "
                             f"table of {len(self)} trials")
        return TrialTable({n: v[idx] for n, v in self.columns.items()})

    def __iter__(self):
        names = list(self.columns)
        for i in range(len(self)):
            yield {n: self.columns[n][i] for n in names}

    def __repr__(self) -> str:
        n_bona = int(self.is_bonafide.sum())
        return (f"TrialTable({len(self)} trials: {n_bona} bonafide, {len(self) - n_bona} spoof; "
                f"columns={list(self.columns)})")

    @property
    def extra_columns(self) -> list[str]:
        return [n for n in self.columns if n not in CORE_COLUMNS]

    @property
    def is_bonafide(self) -> np.ndarray:
        return self.columns["label"] == "bonafide"

    @property
    def y(self) -> np.ndarray:
        """Binary targets, 1 = bona fide, 0 = spoof (the convention of every score: higher = bona fide)."""
        return self.is_bonafide.astype(np.int64)

    # selection ------------------------------------------------------------------------------
    def select(self, *, split=None, attack=None, speaker=None, label=None,
               fraction: float | None = None, max_count: int | None = None, seed: int = 0) -> TrialTable:
        """Subset by column values (a value or a list of values each), then a random fraction and/or a
        maximum count drawn with ``seed``. Row order is preserved, so the result is deterministic."""
        mask = np.ones(len(self), dtype=bool)
        for name, wanted in (("split", split), ("attack", attack), ("speaker", speaker), ("label", label)):
            if wanted is None:
                continue
            wanted = [wanted] if isinstance(wanted, str) else list(wanted)
            mask &= np.isin(self.columns[name], wanted)
        idx = np.flatnonzero(mask)
        rng = np.random.default_rng(seed)
        if fraction is not None:
            if not 0 < fraction <= 1:
                raise ValueError(f"fraction must be in (0, 1], got {fraction}")
            keep = max(1, int(round(fraction * len(idx)))) if len(idx) else 0
            idx = np.sort(rng.choice(idx, size=keep, replace=False))
        if max_count is not None and len(idx) > max_count:
            idx = np.sort(rng.choice(idx, size=max_count, replace=False))
        return self[idx]

    def with_column(self, name: str, values) -> TrialTable:
        cols = dict(self.columns)
        cols[name] = values
        return TrialTable(cols)


def _as_str_array(values) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = [str(v) for v in values]
    return arr
