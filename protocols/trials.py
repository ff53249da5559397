"""The trial table: one row per trial, the single currency between protocols, detectors and metrics."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

#: Columns every trial table has, in this order. Extra columns (codec, vocoder, gender, ...) follow.
CORE_COLUMNS = ("utt_id", "path", "label", "attack", "speaker", "split")
LABELS = ("bonafide", "spoof")
#: Attack id written for bona fide trials, as in the ASVspoof 2019 protocols.
NO_ATTACK = "-"


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
    def from_records(cls, records: Iterable[Mapping[str, object]]) -> "TrialTable":
        records = list(records)
        names: list[str] = list(CORE_COLUMNS)
        for rec in records:
            names.extend(k for k in rec if k not in names)
        return cls({n: [str(r.get(n, "")) for r in records] for n in names})

    @classmethod
    def concat(cls, tables: Sequence["TrialTable"]) -> "TrialTable":
        names: list[str] = []
        for t in tables:
            names.extend(k for k in t.columns if k not in names)
        return cls({n: np.concatenate([t.columns.get(n, np.full(len(t), "", dtype=object)) for t in tables])
                    if tables else [] for n in names})

    # access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.columns["utt_id"])

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.columns[key]
        idx = np.asarray(key)
        if idx.dtype == bool and len(idx) != len(self):
            raise IndexError(f"boolean mask of length {len(idx)} for a table of {len(self)} trials")
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
               fraction: float | None = None, max_count: int | None = None, seed: int = 0) -> "TrialTable":
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

    def with_column(self, name: str, values) -> "TrialTable":
        cols = dict(self.columns)
        cols[name] = values
        return TrialTable(cols)


def _as_str_array(values) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = [str(v) for v in values]
    return arr
