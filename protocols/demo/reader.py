"""The ``demo`` protocol: the ASVspoof 2019 LA reader plus the metadata columns of ``metadata/utterances.tsv``."""
from __future__ import annotations

import os

from ..asvspoof import la2019_asv_scores, read_la2019_layout
from ..errors import ProtocolError
from ..parsing import Findings, build_table, read_lines, report
from ..registry import register_protocol
from ..trials import TrialTable
from .layout import DEMO_EXTRA_COLUMNS, METADATA, read_demo_marker
from .speech import SAMPLE_RATE as SR


def _detect_demo(root: str) -> bool:
    return read_demo_marker(root) is not None


def _read_metadata(root: str, findings: Findings | None) -> dict[str, dict[str, str]]:
    path = os.path.join(os.path.abspath(root), METADATA)
    out: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    for number, line in read_lines(path, findings):
        fields = line.split("\t")
        if header is None:
            header = fields
            missing = [c for c in ("utt_id",) + DEMO_EXTRA_COLUMNS if c not in header]
            if missing:
                report(findings, ProtocolError(path, f"missing column(s) {', '.join(missing)} in the header",
                                               number))
                return out
            continue
        if len(fields) != len(header):
            report(findings, ProtocolError(path, f"expected {len(header)} tab-separated columns, found "
                                                 f"{len(fields)}", number))
            continue
        out[fields[header.index("utt_id")]] = dict(zip(header, fields))
    return out


@register_protocol("demo", detect=_detect_demo, priority=20, asv_scores=la2019_asv_scores, sample_rate=SR,
                   description="built-in demo corpus (bench data demo): 2019 LA layout + metadata/utterances.tsv")
def read_demo(root: str, *, keys: str | None = None, findings: Findings | None = None) -> TrialTable:
    """The demo corpus: the ASVspoof 2019 LA protocols plus gender, attack_type, family, vocoder and
    source_speaker from ``metadata/utterances.tsv``."""
    rows = read_la2019_layout(root, findings)
    meta = _read_metadata(root, findings)
    for row in rows:
        extra = meta.get(row.record["utt_id"])
        if extra is None:
            report(findings, ProtocolError(os.path.join(os.path.abspath(root), METADATA),
                                           f"no row for utterance {row.record['utt_id']!r}"))
            extra = {}
        row.record.update((c, extra.get(c, "")) for c in DEMO_EXTRA_COLUMNS)
    return build_table(rows, findings)
