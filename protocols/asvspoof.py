"""Readers of the ASVspoof corpora: 2019 LA, 2021 LA and DF (eval data + keys), ASVspoof 5.

Every reader takes its list of trials from the protocol / key files, never from the audio folder (the 2019
dev/eval folders also hold the ASV enrolment files, which are not CM trials). Paths in the tables are
absolute; the audio files themselves are opened only by ``bench data describe`` and by the detectors.
"""
from __future__ import annotations

import glob
import os

from .errors import ProtocolError
from .parsing import Findings, Row, build_table, check_attack, check_label, find_first, read_lines, report, split_fields
from .registry import register_protocol
from .trials import NO_ATTACK, TrialTable

# --------------------------------------------------------------------------------------------------------------
# ASVspoof 2019 LA
# --------------------------------------------------------------------------------------------------------------
LA2019_CM_DIR = "ASVspoof2019_LA_cm_protocols"
LA2019_ASV_SCORE_DIR = "ASVspoof2019_LA_asv_scores"
LA2019_ASV_SCORE_FILE = "ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt"
#: split -> (CM protocol file, audio folder)
LA2019_SPLITS = {
    "train": ("ASVspoof2019.LA.cm.train.trn.txt", "ASVspoof2019_LA_train"),
    "dev": ("ASVspoof2019.LA.cm.dev.trl.txt", "ASVspoof2019_LA_dev"),
    "eval": ("ASVspoof2019.LA.cm.eval.trl.txt", "ASVspoof2019_LA_eval"),
}
LA2019_LAYOUT = "SPEAKER UTT - SYSTEM KEY"


def la2019_base(root: str) -> str:
    """The folder holding ``ASVspoof2019_LA_cm_protocols``: ``root/LA`` (the release layout) or ``root``."""
    inner = os.path.join(root, "LA")
    return inner if os.path.isdir(os.path.join(inner, LA2019_CM_DIR)) else root


def _detect_la2019(root: str) -> bool:
    return os.path.isdir(os.path.join(la2019_base(root), LA2019_CM_DIR))


def read_la2019_layout(root: str, findings: Findings | None = None) -> list[Row]:
    """Parse the three CM protocols of a 2019-LA-layout corpus into rows (shared with the demo reader)."""
    base = os.path.abspath(la2019_base(root))
    proto_dir = os.path.join(base, LA2019_CM_DIR)
    present = {split: os.path.join(proto_dir, name) for split, (name, _) in LA2019_SPLITS.items()
               if os.path.exists(os.path.join(proto_dir, name))}
    if not present:
        names = ", ".join(name for name, _ in LA2019_SPLITS.values())
        report(findings, ProtocolError(proto_dir, f"no CM protocol file found (expected {names})"))
        return []
    rows: list[Row] = []
    for split, path in present.items():
        audio_dir = os.path.join(base, LA2019_SPLITS[split][1], "flac")
        for number, line in read_lines(path, findings):
            fields = split_fields(path, number, line, 5, LA2019_LAYOUT, findings)
            if fields is None:
                continue
            speaker, utt, _unused, system, key = fields
            label = check_label(path, number, key, findings)
            if label is None or not check_attack(path, number, label, system, findings):
                continue
            rows.append(Row({"utt_id": utt, "path": os.path.join(audio_dir, utt + ".flac"), "label": label,
                             "attack": system if label == "spoof" else NO_ATTACK, "speaker": speaker,
                             "split": split}, path, number))
    return rows


def la2019_asv_scores(root: str, split: str, keys: str | None = None) -> str | None:
    """``ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt`` (format
    ``CM_KEY ASV_KEY SCORE``, e.g. ``bonafide target 7.98``, ``A07 spoof -3.2``); ``None`` for train or when absent."""
    path = os.path.join(os.path.abspath(la2019_base(root)), LA2019_ASV_SCORE_DIR,
                        LA2019_ASV_SCORE_FILE.format(split=split))
    return path if os.path.isfile(path) else None


@register_protocol("asvspoof2019-la", detect=_detect_la2019, priority=10, asv_scores=la2019_asv_scores,
                   sample_rate=16000,
                   description="ASVspoof 2019 LA: LA/ASVspoof2019_LA_cm_protocols + "
                               "ASVspoof2019_LA_{train,dev,eval}/flac")
def read_asvspoof2019_la(root: str, *, keys: str | None = None, findings: Findings | None = None) -> TrialTable:
    """ASVspoof 2019 LA (``root`` is the folder holding ``LA/``, or ``LA/`` itself); splits train/dev/eval."""
    return build_table(read_la2019_layout(root, findings), findings)


# --------------------------------------------------------------------------------------------------------------
# ASVspoof 2021 LA and DF: eval audio + keys (LA-keys-full.tar.gz / DF-keys-full.tar.gz)
# --------------------------------------------------------------------------------------------------------------
#: track -> (column names after speaker and trial, in file order)
ASV2021_COLUMNS = {
    "LA": ("codec", "transmission", "attack", "key", "trim", "subset"),
    "DF": ("codec", "source", "attack", "key", "trim", "subset", "vocoder", "task", "team", "gender_pair",
           "language"),
}


def _asv2021_audio_dir(root: str, track: str) -> str | None:
    return find_first([os.path.join(root, f"ASVspoof2021_{track}_eval", "flac"),
                       *(d for d in sorted(glob.glob(os.path.join(root, f"ASVspoof2021_{track}_eval*", "flac")))),
                       os.path.join(root, "flac")])


def _asv2021_keys_file(root: str, track: str, keys: str | None, kind: str = "CM") -> str | None:
    """Find ``<track>/<kind>/trial_metadata.txt`` under the keys folder (or, without one, near the root)."""
    if keys is not None:
        bases = [keys]
        if os.path.isfile(keys):
            return keys if kind == "CM" else None
    else:
        parent = os.path.dirname(os.path.abspath(root))
        bases = [root, os.path.join(root, f"{track}-keys-full"), parent, os.path.join(parent, f"{track}-keys-full")]
    candidates = []
    for base in bases:
        candidates += [os.path.join(base, "keys", track, kind, "trial_metadata.txt"),
                       os.path.join(base, track, kind, "trial_metadata.txt"),
                       os.path.join(base, kind, "trial_metadata.txt")]
        if kind == "CM":
            candidates.append(os.path.join(base, "trial_metadata.txt"))
    return find_first(candidates)


def _detect_2021(track: str):
    def detect(root: str) -> bool:
        if os.path.isdir(os.path.join(root, f"ASVspoof2021_{track}_eval")):
            return True
        return os.path.isfile(os.path.join(root, f"ASVspoof2021.{track}.cm.eval.trl.txt"))

    return detect


def _read_2021(root: str, track: str, keys: str | None, findings: Findings | None) -> TrialTable:
    root = os.path.abspath(root)
    keys = None if keys is None else os.path.abspath(keys)
    key_file = _asv2021_keys_file(root, track, keys)
    if key_file is None:
        where = keys or root
        report(findings, ProtocolError(where, f"ASVspoof 2021 {track} keys not found: pass --keys with the folder "
                                              f"of {track}-keys-full.tar.gz (holding "
                                              f"keys/{track}/CM/trial_metadata.txt)"))
        return build_table([], findings)
    audio_dir = _asv2021_audio_dir(root, track) or os.path.join(root, f"ASVspoof2021_{track}_eval", "flac")
    names = ASV2021_COLUMNS[track]
    layout = "SPEAKER TRIAL " + " ".join(n.upper() for n in names)
    rows: list[Row] = []
    for number, line in read_lines(key_file, findings):
        fields = split_fields(key_file, number, line, 2 + len(names), layout, findings)
        if fields is None:
            continue
        values = dict(zip(names, fields[2:]))
        label = check_label(key_file, number, values["key"], findings)
        if label is None or not check_attack(key_file, number, label, values["attack"], findings):
            continue
        record = {"utt_id": fields[1], "path": os.path.join(audio_dir, fields[1] + ".flac"), "label": label,
                  "attack": values["attack"] if label == "spoof" else NO_ATTACK, "speaker": fields[0],
                  "split": "eval"}
        record.update((n, v) for n, v in values.items() if n not in ("attack", "key"))
        rows.append(Row(record, key_file, number))
    return build_table(rows, findings)


def _asv2021_la_scores(root: str, split: str, keys: str | None = None) -> str | None:
    """The organisers' ASV scores ``keys/LA/ASV/ASVTorch_Kaldi/score.txt`` (format ``SPEAKER TRIAL SCORE``; the
    target/nontarget/spoof keys are in ``keys/LA/ASV/trial_metadata.txt``, same row order)."""
    if split != "eval":
        return None
    meta = _asv2021_keys_file(os.path.abspath(root), "LA", None if keys is None else os.path.abspath(keys), "ASV")
    if meta is None:
        return None
    asv_dir = os.path.dirname(meta)
    return find_first([os.path.join(asv_dir, name, "score.txt") for name in ("ASVTorch_Kaldi", "ASVtorch_kaldi")])


@register_protocol("asvspoof2021-la", detect=_detect_2021("LA"), priority=10, asv_scores=_asv2021_la_scores,
                   sample_rate=16000,
                   description="ASVspoof 2021 LA eval: ASVspoof2021_LA_eval/flac + keys/LA/CM/trial_metadata.txt")
def read_asvspoof2021_la(root: str, *, keys: str | None = None, findings: Findings | None = None) -> TrialTable:
    """ASVspoof 2021 LA (eval only); columns codec, transmission, trim, subset from the keys."""
    return _read_2021(root, "LA", keys, findings)


@register_protocol("asvspoof2021-df", detect=_detect_2021("DF"), priority=10, sample_rate=16000,
                   description="ASVspoof 2021 DF eval: ASVspoof2021_DF_eval/flac + keys/DF/CM/trial_metadata.txt")
def read_asvspoof2021_df(root: str, *, keys: str | None = None, findings: Findings | None = None) -> TrialTable:
    """ASVspoof 2021 DF (eval only); columns codec, source, trim, subset, vocoder, task, team, gender_pair,
    language from the keys. The DF track has no ASV scores (no t-DCF)."""
    return _read_2021(root, "DF", keys, findings)


# --------------------------------------------------------------------------------------------------------------
# ASVspoof 5
# --------------------------------------------------------------------------------------------------------------
#: split -> (protocol file, audio folder)
ASV5_SPLITS = {
    "train": ("ASVspoof5.train.tsv", "flac_T"),
    "dev": ("ASVspoof5.dev.track_1.tsv", "flac_D"),
    "eval": ("ASVspoof5.eval.track_1.tsv", "flac_E_eval"),
}
ASV5_COLUMNS = ("speaker", "utt_id", "gender", "codec", "codec_q", "codec_seed", "attack_tag", "attack", "key",
                "tmp")
ASV5_LAYOUT = "SPEAKER FLAC_FILE_NAME GENDER CODEC CODEC_Q CODEC_SEED ATTACK_TAG ATTACK_LABEL KEY TMP"


def _asv5_find(root: str, name: str, want_dir: bool) -> str | None:
    """``name`` in ``root``, in ``root/ASVspoof5_protocols`` or one folder below ``root``."""
    test = os.path.isdir if want_dir else os.path.isfile
    for cand in [os.path.join(root, name), os.path.join(root, "ASVspoof5_protocols", name),
                 *sorted(glob.glob(os.path.join(root, "*", name)))]:
        if test(cand):
            return cand
    return None


def _detect_asv5(root: str) -> bool:
    return any(_asv5_find(root, proto, False) for proto, _ in ASV5_SPLITS.values())


@register_protocol("asvspoof5", detect=_detect_asv5, priority=10, sample_rate=16000,
                   description="ASVspoof 5 track 1: ASVspoof5.{train,dev.track_1,eval.track_1}.tsv + "
                               "flac_T/flac_D/flac_E_eval")
def read_asvspoof5(root: str, *, keys: str | None = None, findings: Findings | None = None) -> TrialTable:
    """ASVspoof 5 (10-column protocols); columns gender, codec, codec_q, codec_seed, attack_tag, tmp."""
    root = os.path.abspath(root)
    found = {split: _asv5_find(root, proto, False) for split, (proto, _) in ASV5_SPLITS.items()}
    if not any(found.values()):
        names = ", ".join(p for p, _ in ASV5_SPLITS.values())
        report(findings, ProtocolError(root, f"no ASVspoof 5 protocol found (expected {names})"))
        return build_table([], findings)
    rows: list[Row] = []
    for split, path in found.items():
        if path is None:
            continue
        folder = ASV5_SPLITS[split][1]
        audio_dir = _asv5_find(root, folder, True) or os.path.join(root, folder)
        for number, line in read_lines(path, findings):
            fields = split_fields(path, number, line, len(ASV5_COLUMNS), ASV5_LAYOUT, findings)
            if fields is None:
                continue
            values = dict(zip(ASV5_COLUMNS, fields))
            label = check_label(path, number, values["key"], findings)
            if label is None or not check_attack(path, number, label, values["attack"], findings):
                continue
            record = {"utt_id": values["utt_id"], "path": os.path.join(audio_dir, values["utt_id"] + ".flac"),
                      "label": label, "attack": values["attack"] if label == "spoof" else NO_ATTACK,
                      "speaker": values["speaker"], "split": split}
            record.update((n, values[n]) for n in ("gender", "codec", "codec_q", "codec_seed", "attack_tag", "tmp"))
            rows.append(Row(record, path, number))
    return build_table(rows, findings)
