"""Readers of CSV-described corpora: In-the-Wild (``meta.csv``) and a generic manifest (``csv``)."""
from __future__ import annotations

import csv
import io
import os

from .errors import ProtocolError
from .parsing import Findings, Row, build_table, check_attack, check_label, read_lines, report, warn
from .registry import register_protocol
from .trials import NO_ATTACK, TrialTable

# --------------------------------------------------------------------------------------------------------------
# In-the-Wild (Müller et al., Interspeech 2022): release_in_the_wild/{meta.csv, 0.wav, 1.wav, ...}
# --------------------------------------------------------------------------------------------------------------
ITW_HEADER = ["file", "speaker", "label"]
ITW_LABELS = {"bona-fide": "bonafide", "spoof": "spoof"}
#: In-the-Wild names no spoofing systems; every spoof gets this attack id.
ITW_ATTACK = "unknown"


def _itw_dir(root: str) -> str:
    inner = os.path.join(root, "release_in_the_wild")
    return inner if os.path.isfile(os.path.join(inner, "meta.csv")) else root


def _detect_itw(root: str) -> bool:
    path = os.path.join(_itw_dir(root), "meta.csv")
    try:
        with open(path, encoding="utf-8-sig") as fh:
            first = fh.readline()
    except OSError:
        return False
    return [c.strip() for c in first.strip().split(",")] == ITW_HEADER


def _csv_rows(path: str, findings: Findings | None):
    """(line number, fields) of a comma-separated file, quotes honoured, blank lines skipped."""
    for number, line in read_lines(path, findings):
        try:
            fields = next(csv.reader(io.StringIO(line)))
        except (csv.Error, StopIteration) as exc:
            report(findings, ProtocolError(path, f"malformed CSV line ({exc})", number))
            continue
        yield number, [f.strip() for f in fields]


@register_protocol("in-the-wild", detect=_detect_itw, priority=10, sample_rate=16000,
                   description="In-the-Wild: meta.csv (file,speaker,label with bona-fide/spoof) + wav files beside it")
def read_in_the_wild(root: str, *, keys: str | None = None, findings: Findings | None = None) -> TrialTable:
    """In-the-Wild audio deepfake data (eval only): ``meta.csv`` with header ``file,speaker,label``, labels
    ``bona-fide``/``spoof``; every spoof has attack id ``unknown`` (the corpus names no systems)."""
    folder = os.path.abspath(_itw_dir(root))
    path = os.path.join(folder, "meta.csv")
    rows: list[Row] = []
    header_seen = False
    for number, fields in _csv_rows(path, findings):
        if not header_seen:
            header_seen = True
            if fields != ITW_HEADER:
                report(findings, ProtocolError(path, f"expected the header {','.join(ITW_HEADER)}, "
                                                     f"found {','.join(fields)}", number))
                return build_table([], findings)
            continue
        if len(fields) != 3:
            report(findings, ProtocolError(path, f"expected 3 columns (file,speaker,label), found {len(fields)}",
                                           number))
            continue
        name, speaker, key = fields
        label = check_label(path, number, key, findings, aliases=ITW_LABELS)
        if label is None:
            continue
        rows.append(Row({"utt_id": os.path.splitext(name)[0], "path": os.path.join(folder, name), "label": label,
                         "attack": NO_ATTACK if label == "bonafide" else ITW_ATTACK, "speaker": speaker,
                         "split": "eval"}, path, number))
    return build_table(rows, findings)


# --------------------------------------------------------------------------------------------------------------
# Generic manifest: path,label[,attack,speaker,split,...]
# --------------------------------------------------------------------------------------------------------------
MANIFEST_NAMES = ("manifest.csv", "trials.csv")
MANIFEST_OPTIONAL = ("utt_id", "attack", "speaker", "split")
#: Accepted spellings of the two labels (case-insensitive).
MANIFEST_LABELS = {"bonafide": "bonafide", "bona-fide": "bonafide", "bona_fide": "bonafide", "genuine": "bonafide",
                   "real": "bonafide", "human": "bonafide", "spoof": "spoof", "fake": "spoof", "deepfake": "spoof"}


def manifest_path(root: str) -> str | None:
    """The manifest: ``root`` itself when it is a ``.csv`` file, else ``root/manifest.csv`` or ``root/trials.csv``."""
    if os.path.isfile(root):
        return root if root.lower().endswith(".csv") else None
    for name in MANIFEST_NAMES:
        if os.path.isfile(os.path.join(root, name)):
            return os.path.join(root, name)
    return None


@register_protocol("csv", detect=lambda root: manifest_path(root) is not None, priority=0,
                   description="generic manifest: CSV with header path,label[,attack,speaker,split,utt_id,...]")
def read_manifest(root: str, *, keys: str | None = None, findings: Findings | None = None) -> TrialTable:
    """A CSV manifest with a header row. Required columns ``path`` (absolute, or relative to the manifest's
    folder) and ``label`` (bonafide/spoof; also bona-fide, genuine, real, human / fake, deepfake). Optional
    ``utt_id`` (default: the file name without extension, or the relative path when names repeat),
    ``attack`` (default ``-`` for bona fide, ``unknown`` for spoofs), ``speaker`` (default ``-``),
    ``split`` (default ``eval``). Every other column is kept as an extra column."""
    path = manifest_path(root)
    if path is None:
        report(findings, ProtocolError(root, f"no manifest found (a .csv file, or {' / '.join(MANIFEST_NAMES)} "
                                             f"in the folder)"))
        return build_table([], findings)
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    header: list[str] | None = None
    rows: list[Row] = []
    for number, fields in _csv_rows(path, findings):
        if header is None:
            header = [h.lower() for h in fields]
            missing = [c for c in ("path", "label") if c not in header]
            if missing:
                report(findings, ProtocolError(path, f"header lacks the column(s) {', '.join(missing)} "
                                                     f"(need path,label[,attack,speaker,split])", number))
                return build_table([], findings)
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes:
                report(findings, ProtocolError(path, f"header repeats the column(s) {', '.join(dupes)}", number))
                return build_table([], findings)
            continue
        if len(fields) != len(header):
            report(findings, ProtocolError(path, f"expected {len(header)} columns ({','.join(header)}), "
                                                 f"found {len(fields)}", number))
            continue
        values = dict(zip(header, fields))
        label = check_label(path, number, values["label"].lower(), findings, aliases=MANIFEST_LABELS)
        if label is None:
            continue
        if not values["path"]:
            report(findings, ProtocolError(path, "empty path", number))
            continue
        attack = values.get("attack") or NO_ATTACK
        if label == "spoof" and attack in (NO_ATTACK, "bonafide"):
            attack = "unknown"
        if not check_attack(path, number, label, attack, findings):  # spoofs were given an id just above
            continue
        audio = values["path"] if os.path.isabs(values["path"]) else os.path.join(folder, values["path"])
        record = {"utt_id": values.get("utt_id", ""), "path": os.path.normpath(audio), "label": label,
                  "attack": NO_ATTACK if label == "bonafide" else attack, "speaker": values.get("speaker") or "-",
                  "split": values.get("split") or "eval", "_rel": values["path"]}
        record.update((k, v) for k, v in values.items() if k not in ("path", "label") + MANIFEST_OPTIONAL)
        rows.append(Row(record, path, number))
    _default_utt_ids(rows, path, findings)
    return build_table(rows, findings)


def _default_utt_ids(rows: list[Row], path: str, findings: Findings | None) -> None:
    """Utterance ids for rows without one: the file stem, or the relative path when stems repeat."""
    missing = [r for r in rows if not r.record["utt_id"]]
    stems = [os.path.splitext(os.path.basename(r.record["_rel"]))[0] for r in missing]
    unique = len(set(stems)) == len(stems)
    if missing and not unique:
        warn(findings, ProtocolError(path, "file names repeat across folders; utterance ids are relative paths"))
    for row, stem in zip(missing, stems):
        row.record["utt_id"] = stem if unique else os.path.splitext(row.record["_rel"])[0].replace(os.sep, "/")
    for row in rows:
        del row.record["_rel"]
