"""Describe and validate a corpus in one pass: counts, speakers, duration, and every problem found.

``describe_corpus`` reads the protocol in collecting mode (every malformed line is reported, not just the
first) and then checks the audio of every trial: missing, empty, unreadable, corrupt or truncated files,
a sample rate other than the one the format fixes, files with no samples. Nothing stops at the first
problem. Harmless oddities (CRLF line endings, multi-channel or silent files, two trials sharing one file)
are warnings.
"""
from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from .audio import AudioInfo
from .errors import AudioError, BenchError
from .parsing import Findings
from .registry import detect_protocol, get_protocol
from .trials import TrialTable

CHECKS = ("full", "header", "none")
#: 16-bit full scale as float (libsndfile maps 32767 to 32767/32768): samples at or above it are clipped.
FULL_SCALE = 32767 / 32768


@dataclass(frozen=True)
class AudioLevels:
    """Sample statistics of a decoded file (all channels): what tells silence and clipping apart."""

    peak: float               # largest |sample|
    rms: float                # root mean square of the mono mixdown (what a detector hears)
    full_scale_fraction: float  # share of samples at 16-bit full scale (|x| >= 32767/32768)


@dataclass(frozen=True)
class AudioCheck:
    duration: float | None
    problem: str | None = None
    warning: str | None = None
    info: AudioInfo | None = None        # the header, when it could be read
    levels: AudioLevels | None = None    # when the file was decoded without a problem


def check_audio_file(path: str, sample_rate: int | None, decode: bool) -> AudioCheck:
    """Check one file: header always, every sample when ``decode`` (catches truncated and corrupt data)."""
    from .audio import _short, audio_info

    try:
        info = audio_info(path)
    except AudioError as exc:
        return AudioCheck(None, exc.problem)
    if info.frames == 0:
        return AudioCheck(0.0, "audio file holds no samples", info=info)
    if sample_rate is not None and info.sample_rate != sample_rate:
        return AudioCheck(info.duration, f"sample rate is {info.sample_rate} Hz, the format fixes {sample_rate} Hz",
                          info=info)
    truncated = _wav_truncation(info.extra)
    if truncated:
        return AudioCheck(info.duration, truncated, info=info)
    warning = f"{info.channels} channels (mixed down to mono when loaded)" if info.channels > 1 else None
    if decode:
        try:
            data, _ = sf.read(path, dtype="float32", always_2d=True)
        except (RuntimeError, sf.LibsndfileError) as exc:
            return AudioCheck(info.duration,
                              f"cannot decode audio, the file is corrupt or truncated ({_short(exc, 120)})", info=info)
        if data.shape[0] < info.frames:
            return AudioCheck(info.duration, f"truncated: the header announces {info.frames} samples, "
                                             f"only {data.shape[0]} decode", info=info)
        if not np.all(np.isfinite(data)):
            return AudioCheck(info.duration, "audio holds NaN or Inf samples", info=info)
        if not np.any(data):
            warning = "digital silence (every sample is 0)"
        return AudioCheck(info.duration, None, warning, info, _levels(data))
    return AudioCheck(info.duration, None, warning, info)


def _levels(data: np.ndarray) -> AudioLevels:
    mono = data.mean(axis=1, dtype=np.float64) if data.shape[1] > 1 else data[:, 0].astype(np.float64)
    magnitude = np.abs(data)
    return AudioLevels(peak=float(magnitude.max()), rms=float(np.sqrt(np.mean(mono * mono))),
                       full_scale_fraction=float(np.mean(magnitude >= FULL_SCALE)))



def _wav_truncation(extra: str) -> str | None:
    """A truncated WAV decodes without error (libsndfile reads what is there); its header still says more.
    ``extra``: the header's ``extra_info`` text (:attr:`AudioInfo.extra`)."""
    match = re.search(r"^data\s*:\s*(\d+) \(should be (\d+)\)", extra, re.MULTILINE)
    if match and int(match.group(2)) < int(match.group(1)):
        return f"truncated: the header announces {match.group(1)} bytes of audio, the file holds {match.group(2)}"
    return None


def describe_corpus(root: os.PathLike | str, protocol: str | None = None, *, keys: os.PathLike | str | None = None,
                    check: str = "full", selection: dict | None = None, threads: int | None = None,
                    progress: bool = False) -> dict:
    """Counts, speakers, duration and all problems of the corpus at ``root`` (see the module docstring).

    ``check``: ``full`` decodes every file, ``header`` reads headers only (fast; no truncation check),
    ``none`` skips audio. ``selection``: keyword arguments of :meth:`TrialTable.select`; only the selected
    trials are counted and checked. Returns a JSON-ready dict; ``problems`` lists every error as
    ``{"file", "line", "problem"}``.
    """
    if check not in CHECKS:
        raise BenchError(f"check must be one of {', '.join(CHECKS)}, got {check!r}")
    root = str(root)
    name = protocol or detect_protocol(root)
    reader = get_protocol(name)
    findings = Findings()
    if reader.collects_findings:
        table = reader.read(root, keys=None if keys is None else str(keys), findings=findings)
    else:  # a plugin reader that cannot collect: its first problem is the only one we can report
        try:
            table = reader.read(root, keys=None if keys is None else str(keys))
        except BenchError as exc:
            findings.errors.append(exc)
            table = TrialTable({})
    n_read = len(table)
    if selection:
        table = table.select(**selection)
    problems = [_problem(e) for e in findings.errors]
    warnings = [_problem(w) for w in findings.warnings]
    durations = np.full(len(table), np.nan)
    if check != "none" and len(table):
        audio = check_audio_files(list(table["path"]), reader.sample_rate, check == "full", threads, progress)
        for i, (utt, path, result) in enumerate(zip(table["utt_id"], table["path"], audio)):
            if result.duration is not None:
                durations[i] = result.duration
            # audio problems name the protocol line that refers to the file (plugin readers may not say)
            source, line = findings.origins.get(utt, (None, None))
            if result.problem:
                problems.append({"file": path, "line": line, "source": source, "problem": result.problem})
            if result.warning:
                warnings.append({"file": path, "line": line, "source": source, "problem": result.warning})
    shared = [p for p, c in Counter(table["path"]).items() if c > 1]
    for path in shared:
        warnings.append({"file": path, "line": None, "source": None,
                         "problem": "more than one trial points to this file"})
    return _summary(root, name, reader.sample_rate, table, n_read, durations, check, problems, warnings,
                    findings.sources)


def find_audio_problems(trials: TrialTable, sample_rate: int | None = None, *, check: str = "header",
                        threads: int | None = None) -> list[AudioError]:
    """Every unusable audio file of ``trials`` as :class:`AudioError` (one line each, naming the file), for a
    command that wants to refuse a broken corpus before hours of work. ``sample_rate``: the rate the format
    fixes (``get_protocol(name).sample_rate``); ``check``: ``header`` (fast) or ``full`` (decodes)."""
    if check not in ("header", "full"):
        raise BenchError(f"check must be 'header' or 'full', got {check!r}")
    results = check_audio_files(list(trials["path"]), sample_rate, check == "full", threads, progress=False)
    return [AudioError(path, r.problem) for path, r in zip(trials["path"], results) if r.problem]


def check_audio_files(paths: list[str], sample_rate: int | None, decode: bool, threads: int | None = None,
                      progress: bool = False) -> list[AudioCheck]:
    """:func:`check_audio_file` of every path, in order, on a few threads."""
    from tqdm import tqdm

    # libsndfile decodes outside the GIL, so threads overlap decoding and disk reads.
    threads = threads or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = pool.map(lambda p: check_audio_file(p, sample_rate, decode), paths, chunksize=32)
        return list(tqdm(results, total=len(paths), desc="checking audio", unit="file",
                         disable=None if progress else True, leave=False))


def _problem(error: BenchError) -> dict:
    """A problem as JSON: ``file`` and ``line`` say where; ``source`` is the protocol file whose ``line`` refers
    to an audio ``file`` (None for problems of the protocol file itself); ``text`` quotes a malformed line."""
    problem = {"file": getattr(error, "path", None), "line": getattr(error, "line", None), "source": None,
               "problem": getattr(error, "problem", str(error))}
    if getattr(error, "text", None):
        problem["text"] = error.text
    return problem


def _summary(root, name, sample_rate, table: TrialTable, n_read, durations, check, problems, warnings,
             sources) -> dict:
    counts: dict[tuple, int] = Counter()
    speakers: dict[tuple, set] = defaultdict(set)
    seconds: dict[tuple, float] = defaultdict(float)
    for split, label, attack, speaker, dur in zip(table["split"], table["label"], table["attack"],
                                                  table["speaker"], durations):
        key = (split, label, attack)
        counts[key] += 1
        speakers[key].add(speaker)
        if not np.isnan(dur):
            seconds[key] += float(dur)
    rows = [{"split": s, "label": lab, "attack": a, "trials": counts[s, lab, a],
             "speakers": len(speakers[s, lab, a]),
             "duration_s": round(seconds[s, lab, a], 2) if check != "none" else None}
            for s, lab, a in sorted(counts, key=_order)]
    splits = {}
    for split in sorted(set(table["split"]), key=lambda s: _order((s, "", ""))):
        m = table["split"] == split
        splits[split] = {"trials": int(m.sum()), "bonafide": int((m & table.is_bonafide).sum()),
                         "spoof": int((m & ~table.is_bonafide).sum()),
                         "speakers": len(set(table["speaker"][m])),
                         "attacks": sorted(set(table["attack"][m]) - {"-"}),
                         "duration_s": round(float(np.nansum(durations[m])), 2) if check != "none" else None}
    extra = {}
    for col in table.extra_columns:
        values = Counter(table[col])
        extra[col] = dict(sorted(values.items())) if len(values) <= 20 else {"distinct": len(values)}
    total = float(np.nansum(durations)) if check != "none" else None
    return {
        "root": os.path.abspath(root), "protocol": name, "sample_rate": sample_rate, "audio_check": check,
        "sources": sources, "trials_read": n_read, "trials": len(table),
        "bonafide": int(table.is_bonafide.sum()), "spoof": int((~table.is_bonafide).sum()),
        "speakers": len(set(table["speaker"])),
        "duration_s": round(total, 2) if total is not None else None,
        "hours": round(total / 3600, 4) if total is not None else None,
        "splits": splits, "counts": rows, "extra_columns": extra,
        "problems": problems, "warnings": warnings,
    }


_SPLIT_ORDER = {"train": 0, "dev": 1, "eval": 2}


def _order(key):
    split, label, attack = key
    return (_SPLIT_ORDER.get(split, 3), split, label != "bonafide", attack)
