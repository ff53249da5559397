"""Shared helpers of the protocol readers: line reading, problem collection, table assembly.

A reader runs in one of two modes. Strict (``findings=None``, what :func:`spoofbench.protocols.load_trials` uses): the
first malformed line raises a one-line :class:`ProtocolError`. Collecting (a :class:`Findings` given, what
``bench data describe`` uses): every problem is recorded, the bad line is skipped and reading goes on, so one
pass reports all problems.

Line endings: Windows (CRLF) line endings are accepted everywhere (they are common after a copy through
another OS and carry no ambiguity); ``describe`` notes them as a warning, never as an error.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from .errors import BenchError, ProtocolError
from .trials import LABELS, NO_ATTACK, TrialTable


@dataclass
class Findings:
    """Problems (``errors``) and harmless oddities (``warnings``) found while reading a corpus."""

    errors: list[BenchError] = field(default_factory=list)
    warnings: list[BenchError] = field(default_factory=list)
    #: Protocol / key / manifest files the reader used, in reading order.
    sources: list[str] = field(default_factory=list)
    #: Utterance id -> (protocol file, line number) of the line that declared the trial, so that a problem
    #: with its audio can name the line that refers to it.
    origins: dict[str, tuple[str, int]] = field(default_factory=dict)


def report(findings: Findings | None, error: BenchError) -> None:
    """Raise ``error`` in strict mode, record it in collecting mode. A problem of one protocol line quotes
    that line, so the message shows what is wrong without opening the file."""
    if isinstance(error, ProtocolError) and error.line is not None and error.text is None:
        error = ProtocolError(error.path, error.problem, error.line, text=quoted_line(error.path, error.line))
    if findings is None:
        raise error
    findings.errors.append(error)


def quoted_line(path: str, number: int, limit: int = 120) -> str | None:
    """Line ``number`` (1-based) of a text file, stripped and cut to ``limit`` characters; None if unreadable."""
    lines = _text_lines(path, *_stamp(path))
    if lines is None or not 0 < number <= len(lines):
        return None
    text = lines[number - 1].strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _text_lines(path: str, size: int, mtime_ns: int) -> list[str] | None:
    # cached per file version: describe may quote thousands of lines of one protocol file
    try:
        with open(path, "rb") as fh:
            return decode_text(path, fh.read()).split("\n")
    except (OSError, BenchError):
        return None


def warn(findings: Findings | None, warning: BenchError) -> None:
    if findings is not None:
        findings.warnings.append(warning)


def decode_text(path: str, raw: bytes) -> str:
    """UTF-8 text of a protocol or score file (a BOM is dropped); ProtocolError for binary data or bad UTF-8."""
    if b"\x00" in raw[:4096]:
        raise ProtocolError(path, "not a text file (binary data)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProtocolError(path, "not valid UTF-8 text", raw[:exc.start].count(b"\n") + 1) from None


def read_lines(path: str, findings: Findings | None) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every non-blank line of a text file (1-based numbers).

    CRLF endings and a UTF-8 byte-order mark are accepted (noted as a warning); a missing, unreadable,
    binary or empty file is reported as a problem of that file.
    """
    if findings is not None:
        findings.sources.append(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        report(findings, ProtocolError(path, "protocol file not found"))
        return
    except OSError as exc:
        report(findings, ProtocolError(path, f"cannot read protocol file ({exc.strerror})"))
        return
    try:
        text = decode_text(path, raw)
    except ProtocolError as exc:
        report(findings, exc)
        return
    if "\r\n" in text:
        warn(findings, ProtocolError(path, "Windows (CRLF) line endings; accepted"))
    lines = text.split("\n")
    if not any(ln.strip() for ln in lines):
        report(findings, ProtocolError(path, "protocol file is empty"))
        return
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if line.strip():
            yield number, line


def split_fields(path: str, number: int, line: str, expected: int | Sequence[int], layout: str,
                 findings: Findings | None) -> list[str] | None:
    """Whitespace-split ``line``; report and return ``None`` when the column count is not ``expected``."""
    fields = line.split()
    allowed = (expected,) if isinstance(expected, int) else tuple(expected)
    if len(fields) not in allowed:
        want = " or ".join(str(n) for n in allowed)
        report(findings, ProtocolError(path, f"expected {want} columns ({layout}), found {len(fields)}", number))
        return None
    return fields


def check_label(path: str, number: int, label: str, findings: Findings | None,
                aliases: dict[str, str] | None = None) -> str | None:
    """Map a key to ``bonafide``/``spoof`` (through ``aliases``); report an unknown one."""
    label = (aliases or {}).get(label, label)
    if label not in LABELS:
        known = sorted(set(LABELS) | set(aliases or {}))
        report(findings, ProtocolError(path, f"unknown label {label!r} (expected one of: {', '.join(known)})",
                                       number))
        return None
    return label


def check_attack(path: str, number: int, label: str, attack: str, findings: Findings | None) -> bool:
    """Bona fide trials carry no attack id, spoofs must carry one."""
    if label == "bonafide" and attack not in (NO_ATTACK, "bonafide"):
        report(findings, ProtocolError(path, f"bona fide trial with attack id {attack!r} (expected '-')", number))
        return False
    if label == "spoof" and attack in (NO_ATTACK, "", "bonafide"):
        report(findings, ProtocolError(path, "spoof trial without an attack id", number))
        return False
    return True


@dataclass
class Row:
    """One parsed trial plus where it came from (for duplicate-id messages)."""

    record: dict[str, str]
    source: str
    line: int


def build_table(rows: list[Row], findings: Findings | None) -> TrialTable:
    """Assemble the table; a duplicate utterance id is a problem (the later line is dropped)."""
    seen: dict[str, Row] = {}
    kept: list[dict[str, str]] = []
    for row in rows:
        utt = row.record["utt_id"]
        first = seen.get(utt)
        if first is not None:
            where = f"line {first.line}" if first.source == row.source else f"{first.source}:{first.line}"
            report(findings, ProtocolError(row.source, f"duplicate utterance id {utt!r} (first at {where})",
                                           row.line))
            continue
        seen[utt] = row
        kept.append(row.record)
        if findings is not None:
            findings.origins[utt] = (row.source, row.line)
    return TrialTable.from_records(kept)


def find_first(candidates: Sequence[str]) -> str | None:
    """First existing path among ``candidates``."""
    for path in candidates:
        if os.path.exists(path):
            return path
    return None
