"""The corpus a run reads: the built-in demo corpus or a folder, split into train/dev/eval tables, with the
hashes of the protocol (and ASV score) files it was read from."""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

from spoofbench.protocols.errors import BenchError
from spoofbench.protocols.files import cache_root, file_sha256
from spoofbench.protocols.trials import TrialTable

from .log import Log, log_to_stderr

SPLITS = ("train", "dev", "eval")
DEMO_SEED = 0


@dataclass
class Corpus:
    root: str
    protocol: str
    tables: dict[str, TrialTable]                 # split -> trials (bad audio already left out when skipping)
    sources: dict[str, str]                       # protocol file (relative to root) -> sha256
    asv_files: dict[str, str | None]              # split -> ASV score file used for the t-DCF
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (audio path, problem)
    durations: dict[str, float] = field(default_factory=dict)      # split -> seconds of audio
    trials_hash: str = ""
    audio_sha256: dict[str, str | None] = field(default_factory=dict)  # audio path -> content hash (the scan's)


def corpus_name(root: str) -> str:
    """How reports name a corpus: its folder's name."""
    return os.path.basename(os.path.normpath(root)) or root


def ensure_demo_corpus(seed: int = DEMO_SEED, log: Log = log_to_stderr) -> str:
    """The built-in demo corpus in the cache folder: built on first use (atomically, by the generator),
    reused as it is afterwards, rebuilt only when the generator's version changed."""
    from spoofbench.protocols.demo import make_demo_corpus, read_demo_marker

    root = cache_root() / "demo-corpus"
    marker = read_demo_marker(root)
    if marker is None or marker.get("params", {}).get("seed") != seed:
        log(f"building the demo corpus in {root} (once) ...")
    t0 = time.perf_counter()
    make_demo_corpus(root, seed=seed, jobs=os.cpu_count() or 1, force=True)
    if time.perf_counter() - t0 > 1:
        log(f"demo corpus ready in {time.perf_counter() - t0:.1f} s")
    return str(root)


def load_corpus(root: str, protocol: str | None, *, asv_override: str | None = None, fraction: float | None = None,
                max_trials: int | None = None, subset_seed: int = 0, splits: tuple[str, ...] = SPLITS,
                log: Log = log_to_stderr) -> Corpus:
    """Read the corpus into train/dev/eval tables and hash the protocol files it was read from.
    ``fraction``/``max_trials``: a random subset of each split (seeded), for a first run on a big corpus.
    ``splits``: the splits the run uses (others are left out, e.g. the train split of a corpus only scored)."""
    from spoofbench.protocols import detect_protocol, get_protocol

    if not os.path.isdir(root):
        raise BenchError(f"{root}: corpus folder not found")
    name = protocol or detect_protocol(root)
    reader = get_protocol(name)
    table, sources = _read_with_sources(reader, root)
    tables = {}
    for split in (s for s in SPLITS if s in splits):
        part = table[table["split"] == split]
        if fraction is not None or max_trials is not None:
            part = part.select(fraction=fraction, max_count=max_trials, seed=subset_seed)
        if len(part) == 0:
            raise BenchError(f"{root}: the {name} corpus has no {split!r} trials; bench run needs "
                             f"{_listing(splits)} here (found splits: "
                             f"{', '.join(sorted(set(table['split']))) or 'none'})")
        labels = set(part["label"])
        if split != "train" and labels != {"bonafide", "spoof"}:
            raise BenchError(f"{root}: the {split} split needs both bona fide and spoof trials "
                             f"(found: {', '.join(sorted(labels))})")
        tables[split] = part
    if "train" in tables and set(tables["train"]["label"]) != {"bonafide", "spoof"}:
        raise BenchError(f"{root}: the train split needs both bona fide and spoof trials")
    hashes = {}
    for path in sources:
        rel = os.path.relpath(path, root)
        hashes[rel] = file_sha256(path)
    asv_files = {}
    for split in ("dev", "eval"):
        asv_files[split] = _asv_file(root, name, split)
    if asv_override:
        if not os.path.isfile(asv_override):
            raise BenchError(f"{asv_override}: ASV score file not found")
        asv_files["eval"] = os.path.abspath(asv_override)
    for path in asv_files.values():
        if path:
            hashes.setdefault(os.path.relpath(path, root), file_sha256(path))
    corpus = Corpus(root=os.path.abspath(root), protocol=name, tables=tables, sources=hashes, asv_files=asv_files)
    corpus.trials_hash = trials_hash(corpus)
    counts = ", ".join(f"{s} {len(t)}" for s, t in tables.items())
    log(f"corpus {corpus.root} ({name}): {counts} trials")
    return corpus


def _listing(splits: tuple[str, ...]) -> str:
    names = [s for s in SPLITS if s in splits]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _read_with_sources(reader, root: str) -> tuple[TrialTable, list[str]]:
    """Read strictly, but learn which protocol files were read (readers that collect findings list them)."""
    if reader.collects_findings:
        from spoofbench.protocols.parsing import Findings

        findings = Findings()
        table = reader.read(root, keys=None, findings=findings)
        if findings.errors:
            raise findings.errors[0]
        return table, [p for p in dict.fromkeys(findings.sources) if os.path.isfile(p)]
    return reader.read(root, keys=None), []


def _asv_file(root: str, protocol: str, split: str) -> str | None:
    from spoofbench.protocols.registry import asv_score_file

    path = asv_score_file(root, split, protocol)
    return os.path.abspath(path) if path else None


def trials_hash(corpus: Corpus, splits: tuple[str, ...] = SPLITS) -> str:
    """Hash of what the detectors see: every trial's id, label, attack, split and audio path (relative to the
    corpus root, so a moved corpus keeps its cache), plus the protocol files' own hashes. The ASV score files
    are left out: they change the t-DCF, never a detector's scores, so fixing one retrains nothing.
    ``splits``: only these splits' trials (e.g. dev and eval, all that a system that is only scored sees)."""
    asv = {os.path.relpath(p, corpus.root) for p in corpus.asv_files.values() if p}
    protocol_files = {rel: sha for rel, sha in corpus.sources.items() if rel not in asv}
    h = hashlib.sha256()
    for split in (s for s in SPLITS if s in corpus.tables and s in splits):
        t = corpus.tables[split]
        for cols in zip(t["utt_id"], t["label"], t["attack"], t["split"], t["path"]):
            rel = os.path.relpath(cols[4], corpus.root) if os.path.isabs(cols[4]) else cols[4]
            h.update("\t".join((*cols[:4], rel)).encode())
            h.update(b"\n")
    h.update(json.dumps(protocol_files, sort_keys=True).encode())
    return h.hexdigest()
