"""Score files in the official ASVspoof formats: read (format auto-detected), write, and check against a protocol.

CM score files (higher score = more bona fide):

=================  =========================================  ==========================================
format             one line per trial                          used by
=================  =========================================  ==========================================
``asvspoof2019``   ``UTT ATTACK KEY SCORE`` (``-`` attack for    2019 t-DCF script, RawNet2 / GMM baselines
                   bona fide)
``asvspoof2021``   ``TRIAL SCORE``                              2021 submissions
``asvspoof5``      TSV with header ``filename<TAB>cm-score``    ASVspoof 5 evaluation package
``path-csv``       CSV with header ``path,score[,flags]``; the  ``bench score`` (read only)
                   trial id is the file name without extension
=================  =========================================  ==========================================

ASV score files: 2019 ``CM_KEY ASV_KEY SCORE`` (``bonafide target 7.98``, ``A07 spoof -3.2``); 2021
``SPEAKER TRIAL SCORE`` whose keys (target/nontarget/spoof, attack) are in the ``trial_metadata.txt`` next to it.
"""
from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from spoofbench.protocols.errors import BenchError, ProtocolError
from spoofbench.protocols.files import write_text_atomic
from spoofbench.protocols.parsing import decode_text
from spoofbench.protocols.trials import NO_ATTACK, TrialTable

from .metrics import AsvOperatingPoint, asv_operating_point

CM_FORMATS = ("asvspoof2019", "asvspoof2021", "asvspoof5")
ASV_KEYS = ("target", "nontarget", "spoof")
_ASV5_HEADER = ("filename", "cm-score")
_PATH_CSV_HEADER = "path,score"
#: How many trial ids an error or warning lists before "and N more".
_SHOW = 5


class ScoreWarning(UserWarning):
    """Something in a score file that is probably a mistake but does not stop the evaluation."""


# --------------------------------------------------------------------------------------------------------
# reading CM scores


def read_scores(path: os.PathLike | str) -> dict[str, float]:
    """Trial id -> score from a CM score file in any of :data:`CM_FORMATS` or ``bench score``'s
    ``path,score[,flags]`` CSV (auto-detected).

    Raises a one-line :class:`ProtocolError` naming ``file:line`` for a malformed line, a score that is not a
    finite number, or a trial listed twice.
    """
    path = str(path)
    lines = list(_lines(path))
    if not lines:
        raise ProtocolError(path, "score file is empty")
    first_no, first = lines[0]
    if first.lower().replace(" ", "").startswith(_PATH_CSV_HEADER):
        return _read_path_csv(path, lines)
    tokens = _split(first)
    if "cm-score" in tokens:  # ASVspoof 5 TSV with a header naming the columns
        return _read_columns(path, lines[1:], tokens.index(_ASV5_HEADER[0]) if _ASV5_HEADER[0] in tokens else 0,
                             tokens.index("cm-score"), len(tokens), "FILENAME ... CM-SCORE (ASVspoof 5 TSV)")
    if len(tokens) == 2:
        return _read_columns(path, lines, 0, 1, 2, "TRIAL SCORE (ASVspoof 2021)")
    if len(tokens) == 4:
        return _read_columns(path, lines, 0, 3, 4, "UTT ATTACK KEY SCORE (ASVspoof 2019)")
    hint = (" (this looks like an ASV score file: pass it with --asv-scores)"
            if len(tokens) == 3 and tokens[1] in ASV_KEYS else "")
    raise ProtocolError(path, f"{len(tokens)} columns; a CM score file has 'TRIAL SCORE', 'UTT ATTACK KEY SCORE' or "
                              f"a 'filename<TAB>cm-score' header{hint}", first_no)


def _lines(path: str) -> Iterator[tuple[int, str]]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise ProtocolError(path, "score file not found") from None
    except IsADirectoryError:
        raise ProtocolError(path, "is a folder, not a score file") from None
    text = decode_text(path, raw)
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield number, line


def _split(line: str) -> list[str]:
    return line.split("\t") if "\t" in line else line.split()


def _read_columns(path: str, lines, id_col: int, score_col: int, n_cols: int, layout: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    first_line: dict[str, int] = {}
    for number, line in lines:
        tokens = _split(line)
        if len(tokens) != n_cols:
            raise ProtocolError(path, f"{len(tokens)} columns, expected {n_cols}: {layout}", number)
        utt, score = tokens[id_col].strip(), _parse_score(path, number, tokens[score_col])
        if utt in scores:
            again = " with the same score (a re-run appended to the file?)" if scores[utt] == score else ""
            raise ProtocolError(path, f"trial {utt} is listed twice (lines {first_line[utt]} and {number}){again}",
                                number)
        scores[utt] = score
        first_line[utt] = number
    if not scores:
        raise ProtocolError(path, "score file has a header but no scores")
    return scores


def _read_path_csv(path: str, lines) -> dict[str, float]:
    """``bench score`` output: one row per audio file; the utterance id is the file's stem, as every protocol
    names its files ``<utt_id>.<ext>``."""
    import csv

    header = [c.strip().lower() for c in next(csv.reader([lines[0][1]]))]
    path_col, score_col = header.index("path"), header.index("score")
    scores: dict[str, float] = {}
    first: dict[str, tuple[int, str]] = {}
    for number, line in lines[1:]:
        row = next(csv.reader([line]))
        if len(row) != len(header):
            raise ProtocolError(path, f"{len(row)} columns, expected {len(header)}: {','.join(header)}", number)
        audio = row[path_col]
        utt = os.path.splitext(os.path.basename(audio))[0]
        if utt in first:
            raise ProtocolError(path, f"trial {utt} is scored twice (lines {first[utt][0]} and {number}: "
                                      f"{first[utt][1]} and {audio}); the file name without extension is the "
                                      "trial id", number)
        scores[utt] = _parse_score(path, number, row[score_col])
        first[utt] = (number, audio)
    if not scores:
        raise ProtocolError(path, "score file has a header but no scores")
    return scores


def _parse_score(path: str, number: int, token: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise ProtocolError(path, f"score {token!r} is not a number", number) from None
    if not math.isfinite(value):
        raise ProtocolError(path, f"score is {token}; every score must be a finite number", number)
    return value


# --------------------------------------------------------------------------------------------------------
# writing CM scores


def write_cm_scores(path: os.PathLike | str, trials: TrialTable, scores, fmt: str = "asvspoof2019") -> str:
    """Write ``scores`` (one per trial of ``trials``, same order) atomically in one of :data:`CM_FORMATS`.

    Scores are written with ``repr`` precision, so reading the file back gives exactly the same numbers.
    """
    path = str(path)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(trials),):
        raise BenchError(f"{path}: {scores.size} scores for {len(trials)} trials")
    bad = ~np.isfinite(scores)
    if bad.any():
        raise BenchError(f"{path}: refusing to write {int(bad.sum())} NaN/Inf scores "
                         f"(first: trial {trials['utt_id'][np.flatnonzero(bad)[0]]})")
    values = [repr(float(s)) for s in scores]
    if fmt == "asvspoof2019":
        attacks = [a if lab == "spoof" else NO_ATTACK for a, lab in zip(trials["attack"], trials["label"])]
        body = [f"{u} {a} {k} {s}\n" for u, a, k, s in zip(trials["utt_id"], attacks, trials["label"], values)]
    elif fmt == "asvspoof2021":
        body = [f"{u} {s}\n" for u, s in zip(trials["utt_id"], values)]
    elif fmt == "asvspoof5":
        body = ["filename\tcm-score\n"] + [f"{u}\t{s}\n" for u, s in zip(trials["utt_id"], values)]
    else:
        raise BenchError(f"unknown score file format {fmt!r}; choose one of {', '.join(CM_FORMATS)}")
    write_text_atomic(path, "".join(body))
    return path


# --------------------------------------------------------------------------------------------------------
# checking scores against the protocol


def align_scores(trials: TrialTable, score_map: dict[str, float], path: os.PathLike | str = "scores", *,
                 check_polarity: bool = True) -> np.ndarray:
    """Scores of ``trials`` in table order, checked against the protocol.

    Every protocol trial must have a finite score (an error lists the missing ones). Scores of trials that are
    not in the protocol are ignored with a :class:`ScoreWarning` listing them (a score file of the whole eval
    set evaluated on a selection is normal). A second warning fires when negating the scores would lower the
    EER by more than 20 points: the file probably holds spoof scores (higher = spoof).
    """
    path = str(path)
    ids = trials["utt_id"]
    missing = [u for u in ids if u not in score_map]
    if missing:
        raise ProtocolError(path, f"{len(missing)} of {len(ids)} protocol trials have no score: {_listing(missing)}")
    scores = np.fromiter((score_map[u] for u in ids), dtype=np.float64, count=len(ids))
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ProtocolError(path, f"{int(bad.sum())} scores are NaN or Inf: {_listing(ids[bad])}")
    if len(score_map) > len(set(ids)):
        wanted = set(ids)
        extra = [u for u in score_map if u not in wanted]
        warnings.warn(f"{path}: {len(extra)} scored trials are not in the protocol selection and are ignored: "
                      f"{_listing(extra)}", ScoreWarning, stacklevel=2)
    if check_polarity:
        _check_polarity(path, scores, trials.is_bonafide)
    return scores


def _check_polarity(path: str, scores: np.ndarray, is_bona: np.ndarray) -> None:
    from .metrics import eer

    if is_bona.all() or not is_bona.any():
        return
    as_given, negated = eer(scores[is_bona], scores[~is_bona]), eer(-scores[is_bona], -scores[~is_bona])
    if negated < as_given - 0.2:
        warnings.warn(f"{path}: scores look inverted (EER {100 * as_given:.1f} % as given, {100 * negated:.1f} % "
                      "negated); the toolkit expects higher = bona fide, e.g. log P(bona fide), not P(spoof)",
                      ScoreWarning, stacklevel=3)


def _listing(ids) -> str:
    ids = list(ids)
    more = f" and {len(ids) - _SHOW} more" if len(ids) > _SHOW else ""
    return ", ".join(map(str, ids[:_SHOW])) + more


# --------------------------------------------------------------------------------------------------------
# ASV scores (for the t-DCF)


#: Column names of the 8-column ASVspoof 2021 LA ASV ``trial_metadata.txt`` (SPEAKER TRIAL first).
_ASV2021_LA_COLUMNS = {2: "codec", 3: "transmission", 6: "trim", 7: "subset"}


@dataclass
class AsvScores:
    """ASV scores of target, nontarget (zero-effort impostor) and spoof trials.

    ``spoof_attack`` names the attack of each spoof trial when the file says it (2019 files and 2021 keys do);
    ``meta`` maps a metadata column (2021 LA keys: codec, transmission, trim, subset) to its values for the
    (target, nontarget, spoof) trials, so conditions can have their own ASV operating point, as in the 2021
    evaluation package.
    """

    target: np.ndarray
    nontarget: np.ndarray
    spoof: np.ndarray
    spoof_attack: np.ndarray | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    def operating_point(self) -> AsvOperatingPoint:
        """Error rates at the ASV EER threshold, spoof rates over all spoof trials."""
        return asv_operating_point(self.target, self.nontarget, self.spoof)

    def attack_point(self, attack: str, pooled: AsvOperatingPoint | None = None) -> AsvOperatingPoint | None:
        """The pooled operating point with the spoof rates of one attack (the threshold stays the pooled one), or
        None when the file has no spoof trials of that attack."""
        if self.spoof_attack is None:
            return None
        mask = self.spoof_attack == attack
        if not mask.any():
            return None
        return (pooled or self.operating_point()).for_spoof(self.spoof[mask])

    def condition_point(self, column: str, value: str) -> AsvOperatingPoint | None:
        """Operating point of the target, nontarget and spoof trials of one condition (e.g. codec = alaw), its
        threshold recomputed on them as the 2021 package does; None when the file has no such condition."""
        if column not in self.meta:
            return None
        sub = self.where(column, value)
        if not (sub.target.size and sub.nontarget.size and sub.spoof.size):
            return None
        return sub.operating_point()

    def where(self, column: str, value: str) -> AsvScores:
        """The trials whose ``column`` equals ``value`` (all trials when the file has no such column)."""
        if column not in self.meta:
            return self
        t, n, s = (np.asarray(v) == value for v in self.meta[column])
        return AsvScores(self.target[t], self.nontarget[n], self.spoof[s],
                         None if self.spoof_attack is None else self.spoof_attack[s], self.source,
                         {c: (v[0][t], v[1][n], v[2][s]) for c, v in self.meta.items()})

    @property
    def attacks(self) -> list[str]:
        return [] if self.spoof_attack is None else sorted(set(self.spoof_attack))


def read_asv_scores(path: os.PathLike | str, metadata: os.PathLike | str | None = None) -> AsvScores:
    """ASV scores from a 2019 ``CM_KEY ASV_KEY SCORE`` file or a 2021 ``SPEAKER TRIAL SCORE`` file.

    A 2021 file carries no keys: they come from ``metadata`` (default: the ``trial_metadata.txt`` in the
    folder above the score file, as in the 2021 key archive), matched by speaker and trial id.
    """
    path = str(path)
    lines = list(_lines(path))
    if not lines:
        raise ProtocolError(path, "ASV score file is empty")
    tokens = _split(lines[0][1])
    meta: dict[str, list] = {}
    if len(tokens) == 3 and tokens[1] in ASV_KEYS:
        keys, attacks, scores = _read_asv2019(path, lines)
    elif len(tokens) == 3:
        keys, attacks, scores, meta = _read_asv2021(path, lines, metadata)
    else:
        raise ProtocolError(path, f"{len(tokens)} columns; an ASV score file has 'CM_KEY ASV_KEY SCORE' (2019) or "
                                  "'SPEAKER TRIAL SCORE' (2021)", lines[0][0])
    keys, attacks, scores = np.asarray(keys), np.asarray(attacks, dtype=object), np.asarray(scores)
    for key in ASV_KEYS:
        if not (keys == key).any():
            raise ProtocolError(path, f"no {key} trials: the t-DCF needs target, nontarget and spoof ASV scores")
    masks = [keys == key for key in ASV_KEYS]
    spoof = masks[2]
    columns = {c: tuple(np.asarray(v, dtype=object)[m] for m in masks) for c, v in meta.items()}
    return AsvScores(scores[masks[0]], scores[masks[1]], scores[spoof],
                     attacks[spoof] if all(a not in ("", "-") for a in attacks[spoof]) else None, path, columns)


def _read_asv2019(path: str, lines):
    keys, attacks, scores = [], [], []
    for number, line in lines:
        tokens = _split(line)
        if len(tokens) != 3:
            raise ProtocolError(path, f"{len(tokens)} columns, expected 3: CM_KEY ASV_KEY SCORE", number)
        if tokens[1] not in ASV_KEYS:
            raise ProtocolError(path, f"ASV key {tokens[1]!r} is not one of {', '.join(ASV_KEYS)}", number)
        keys.append(tokens[1])
        attacks.append(tokens[0])
        scores.append(_parse_score(path, number, tokens[2]))
    return keys, attacks, scores


def _read_asv2021(path: str, lines, metadata):
    if metadata is None:
        guess = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(path))), "trial_metadata.txt")
        if not os.path.isfile(guess):
            raise ProtocolError(path, "a 'SPEAKER TRIAL SCORE' ASV file needs its keys: trial_metadata.txt was not "
                                      f"found at {guess}")
        metadata = guess
    metadata = str(metadata)
    meta = {}
    for number, line in _lines(metadata):
        tokens = _split(line)
        key_cols = [i for i, t in enumerate(tokens) if t in ASV_KEYS]
        if len(tokens) < 3 or not key_cols:
            raise ProtocolError(metadata, "expected 'SPEAKER TRIAL ... ATTACK KEY ...' with KEY in "
                                          f"{', '.join(ASV_KEYS)}", number)
        k = key_cols[0]
        pair = (tokens[0], tokens[1])
        if pair in meta:
            raise ProtocolError(metadata, f"speaker/trial pair {pair[0]} {pair[1]} is listed twice", number)
        extra = {name: tokens[i] for i, name in _ASV2021_LA_COLUMNS.items()} if len(tokens) == 8 and k == 5 else {}
        meta[pair] = (tokens[k], tokens[k - 1] if k >= 3 else "", extra)
    keys, attacks, scores = [], [], []
    columns: dict[str, list] = {}
    for number, line in lines:
        tokens = _split(line)
        if len(tokens) != 3:
            raise ProtocolError(path, f"{len(tokens)} columns, expected 3: SPEAKER TRIAL SCORE", number)
        found = meta.get((tokens[0], tokens[1]))
        if found is None:
            raise ProtocolError(path, f"speaker/trial {tokens[0]} {tokens[1]} is not in {metadata}", number)
        keys.append(found[0])
        attacks.append(found[1])
        for name, value in found[2].items():
            columns.setdefault(name, []).append(value)
        scores.append(_parse_score(path, number, tokens[2]))
    columns = {name: values for name, values in columns.items() if len(values) == len(keys)}
    return keys, attacks, scores, columns


def write_asv_scores(path: os.PathLike | str, asv: AsvScores) -> str:
    """Write ASV scores atomically in the 2019 ``CM_KEY ASV_KEY SCORE`` format."""
    spoof_keys = asv.spoof_attack if asv.spoof_attack is not None else np.full(asv.spoof.size, "spoof", object)
    rows = ([f"bonafide target {float(s)!r}\n" for s in asv.target]
            + [f"bonafide nontarget {float(s)!r}\n" for s in asv.nontarget]
            + [f"{a} spoof {float(s)!r}\n" for a, s in zip(spoof_keys, asv.spoof)])
    write_text_atomic(str(path), "".join(rows))
    return str(path)
