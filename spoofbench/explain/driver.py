"""One ``bench explain`` job: load the detectors and the audio, run the per-file, corpus and faithfulness
explanations asked for, and write the figures, ``explain.json``, ``explain.md`` and ``explain.html``."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tabulate import tabulate

from spoofbench.protocols.files import write_text_atomic

from . import figures, page
from .corpus import corpus_explanation
from .faithfulness import deletion_test
from .per_file import Settings, explain_files, methods_for
from .sources import load_model, run_folder, sample_trials


@dataclass
class Job:
    inputs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    run_dir: str | None = None
    data: str | None = None
    protocol: str | None = None
    split: str = "eval"
    max_files: int = 20
    examples: int = 2
    faithfulness: bool = False
    methods: tuple[str, ...] = ("ig", "gradcam", "occlusion")
    n_bands: int = 8
    patch_s: float = 0.25
    window_s: float = 1.0
    hop_s: float = 0.25
    ig_steps: int = 16
    time_importance: bool = True
    threshold: float = 0.0
    seed: int = 0
    device: str | None = None
    out: Path = Path("results/explain")
    progress: bool = True

    def settings(self) -> Settings:
        return Settings(methods=self.methods, patch_s=self.patch_s, n_bands=self.n_bands, window_s=self.window_s,
                        hop_s=self.hop_s, ig_steps=self.ig_steps, threshold=self.threshold, progress=self.progress)


def _detectors(job: Job, log) -> dict:
    """System name -> detector: the --model entries (named by file stem or preset), else the run's models."""
    specs: dict[str, str] = {}
    root = protocol = None
    if job.run_dir:
        run_models, root, protocol = run_folder(job.run_dir)
        specs = run_models if not job.models else {}
    for spec in job.models:
        name = Path(spec).stem if spec.lower().endswith(".det") else spec
        specs[name] = spec
    detectors = {}
    for name, spec in specs.items():
        log(f"loading {name} ({spec})")
        detectors[name] = load_model(spec, job.device)
    return {"detectors": detectors, "root": root, "protocol": protocol}


def run_job(job: Job, log=lambda message: None) -> dict:
    from spoofbench.explain.network import is_neural

    out = job.out
    early_paths = None
    if job.inputs:  # unreadable input is named before any model loads
        from spoofbench.benchmark.commands.score import collect_audio

        early_paths = collect_audio(job.inputs)
    found = _detectors(job, log)
    out.mkdir(parents=True, exist_ok=True)
    detectors = found["detectors"]
    settings = job.settings()
    payload: dict = {"settings": {k: v for k, v in vars(job).items() if k not in ("out", "progress")},
                     "systems": {}}
    payload["settings"]["methods"] = list(job.methods)
    blocks: list = []
    trials = None
    if early_paths is not None:
        paths, labels = early_paths, None
    else:
        root = job.data or found["root"]
        trials = sample_trials(root, job.protocol or (found["protocol"] if not job.data else None), job.split,
                               job.max_files, job.seed)
        order = np.concatenate([np.flatnonzero(trials.y == 1)[:1], np.flatnonzero(trials.y == 0)[:1],
                                np.flatnonzero(trials.y == 1)[1:], np.flatnonzero(trials.y == 0)[1:]])
        chosen = order[:job.examples]
        paths, labels = [trials["path"][i] for i in chosen], [int(trials.y[i]) for i in chosen]
        payload["corpus"] = {"root": str(root), "split": job.split, "n_files": len(trials),
                             "utt_ids": list(map(str, trials["utt_id"]))}

    corpus_results, faith, failed = [], {}, []
    for name, det in detectors.items():
        entry: dict = {"detector": det.name, "methods": list(methods_for(det, settings)),
                       "neural": bool(is_neural(det))}
        try:
            _explain_one(job, name, det, entry, paths, labels, trials, settings, corpus_results, faith, blocks, log)
        except Exception as exc:  # noqa: BLE001 - one detector's failure is named; the others are explained
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            log(f"error: {name}: {first}")
            entry["error"] = first
            failed.append(name)
        payload["systems"][name] = entry

    images = figures.corpus_figures(corpus_results, out)
    blocks = page.corpus_blocks(corpus_results, images, out) + page.faithfulness_blocks(faith) + blocks
    html_path, md_path = page.write_page(out, "Explanations", blocks)
    payload_json = _jsonable(payload)
    write_text_atomic(out / "explain.json", json.dumps(payload_json, indent=1))
    return {"json": payload_json, "text": summary_text(corpus_results, faith, detectors, out, html_path),
            "failed": failed}


def _explain_one(job, name, det, entry, paths, labels, trials, settings, corpus_results, faith, blocks, log) -> None:
    """Everything the job asks of one detector, added to ``entry``, ``corpus_results``, ``faith``, ``blocks``."""
    if paths:
        log(f"{name}: explaining {len(paths)} file(s)")
        pool = (list(trials["path"]), [int(v) for v in trials.y]) if trials is not None else None
        per_file = explain_files(det, paths, job.out, settings, labels=labels, tag=name, groups=pool)
        entry["files"] = per_file
        blocks += page.file_blocks(per_file, job.out)
    if trials is not None:
        log(f"{name}: band{' and time' if job.time_importance else ''} importance on {len(trials)} files")
        res = corpus_explanation(det, trials, n_bands=job.n_bands, time=job.time_importance,
                                 progress=job.progress)
        res["detector"] = name
        entry["corpus"] = res
        corpus_results.append(res)
    if job.faithfulness:
        from spoofbench.protocols.audio import load_audio

        if trials is not None:
            waves = [load_audio(p, int(det.sample_rate)) for p in trials["path"]]
            file_labels = [int(v) for v in trials.y]
        else:
            waves, file_labels = [load_audio(p, int(det.sample_rate)) for p in paths], [None] * len(paths)
        log(f"{name}: deletion test on {len(waves)} files")
        faith[name] = deletion_test(det, waves, file_labels, methods_for(det, settings), patch_s=job.patch_s,
                                    n_bands=job.n_bands, threshold=job.threshold, ig_steps=job.ig_steps,
                                    seed=job.seed, progress=job.progress)
        entry["faithfulness"] = faith[name]


def summary_text(corpus_results, faith, detectors, out: Path, html_path: Path) -> str:
    lines = []
    if corpus_results:
        headers, rows = page.band_table(corpus_results)
        lines += ["Band importance (EER % with one band removed; score shift bona fide / spoof):",
                  tabulate(rows, headers, tablefmt="simple", disable_numparse=True), ""]
    if faith:
        headers, rows = page.faithfulness_table(faith)
        lines += ["Faithfulness (mean score change towards the opposite class, top-k vs random deletion):",
                  tabulate(rows, headers, tablefmt="simple", disable_numparse=True), ""]
    lines += [f"explained: {', '.join(detectors)}", f"page: {html_path}", f"numbers: {out / 'explain.json'}"]
    return "\n".join(lines)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value
