"""Explanations of single recordings: for each file the score over time, every available attribution map, the
regions they point at and the model's internals, as figures (PNG + PDF) and as numbers (JSON)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spoofbench.protocols.audio import load_audio

from . import figures, internals
from .attribution import available_methods, compute
from .regions import top_regions
from .tf import CellGrid, TFGrid
from .timeline import frame_llr_trace, window_scores


@dataclass
class Settings:
    """How files are explained (the ``bench explain`` options)."""

    methods: tuple[str, ...] | None = None   # None: every method the detector has
    patch_s: float = 0.25                     # occlusion / deletion cells: time patch ...
    n_bands: int = 8                          # ... x equal-width bands
    window_s: float = 1.0                     # score over time: window and hop
    hop_s: float = 0.25
    ig_steps: int = 16
    threshold: float = 0.0                    # decision threshold drawn on the score plot
    progress: bool = True


def methods_for(detector, settings: Settings) -> tuple[str, ...]:
    have = available_methods(detector)
    if settings.methods is None:
        return have
    return tuple(m for m in settings.methods if m in have)


def _file_stem(path: str, used: set[str]) -> str:
    stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(path).stem) or "file"
    name, i = stem, 1
    while name in used:
        i += 1
        name = f"{stem}-{i}"
    used.add(name)
    return name


def explain_wave(detector, wave: np.ndarray, name: str, settings: Settings, path: str | None = None) -> dict:
    """Everything about one file (arrays included; ``to_json`` keeps the numbers a reader needs)."""
    sr = int(detector.sample_rate)
    tf = TFGrid(sr)
    cells = CellGrid(tf, len(wave), settings.patch_s, settings.n_bands)
    score = float(detector.score_waves([wave], sr)[0])
    attributions = {m: compute(m, detector, wave, cells, ig_steps=settings.ig_steps, base_score=score)
                    for m in methods_for(detector, settings)}
    expl = {"name": name, "path": path, "detector": detector.name, "sample_rate": sr, "wave": wave,
            "score": score, "threshold": settings.threshold, "power_db": tf.power_db(wave),
            "frequencies_hz": tf.frequencies(), "frame_times_s": tf.frame_times(len(wave)),
            "window_scores": window_scores(detector, wave, sr, settings.window_s, settings.hop_s),
            "frame_llr": frame_llr_trace(detector, path, len(wave), sr) if path else None,
            "attributions": attributions,
            "regions": {m: top_regions(a.tf_map, cells) for m, a in attributions.items()}}
    fam = internals.family(detector)
    if fam == "rawnet2":
        expl["fms"] = [block[0] for block in internals.fms_weights(detector, [wave])]
    elif fam == "aasist":
        expl["graph_attention"] = internals.graph_attention(detector, wave)
    return expl


def explain_files(detector, paths: list[str], out: Path, settings: Settings, labels: list[int | None] | None = None,
                  tag: str | None = None, groups: tuple[list[str], list[int]] | None = None) -> dict:
    """Explain ``paths`` with ``detector``, writing figures into ``out``. Returns the JSON-able result with
    ``figures`` (titles and PNG paths) for the page. RawNet2's FMS weights are averaged over the bona fide and
    the spoof files of ``groups`` (paths, labels: e.g. a corpus sample), else of ``paths`` by ``labels``, else by
    the class the detector called."""
    from tqdm.auto import tqdm

    out.mkdir(parents=True, exist_ok=True)
    tag = tag or detector.name
    used: set[str] = set()
    results, pictures = [], []
    explained = []
    for path in tqdm(paths, desc=f"{tag} explain", unit="file", disable=not settings.progress, leave=False):
        wave = load_audio(path, int(detector.sample_rate))
        expl = explain_wave(detector, wave, Path(path).name, settings, path=os.fspath(path))
        stem = out / f"{_safe(tag)}.{_file_stem(path, used)}"
        expl["stem"] = stem
        png = figures.file_figure(expl, stem)
        pictures.append((f"{Path(path).name} — {tag}", png, _captions(expl)))
        explained.append(expl)
        results.append(to_json(expl))
    result = {"detector": detector.name, "system": tag, "methods": list(methods_for(detector, settings)),
              "files": results}
    fam = internals.family(detector)
    if fam == "rawnet2" and explained:
        responses = internals.sinc_responses(detector.model_)
        result["sinc_filters"] = {k: np.round(responses[k], 2).tolist()
                                  for k in ("low_hz", "high_hz", "centre_hz", "peak_hz")}
        if groups is not None:
            waves = [load_audio(p, int(detector.sample_rate)) for p in groups[0]]
            weights = internals.fms_weights(detector, waves)  # per block: (files, channels)
            pool = [{"fms": [block[f] for block in weights]} for f in range(len(waves))]
            groups = _fms_groups(pool, list(groups[1]))
        else:
            groups = _fms_groups(explained, labels)
        result["fms_groups"] = {g: None if v is None else [b.tolist() for b in v] for g, v in groups.items()}
        for expl in explained:
            png = figures.rawnet2_figure(responses, expl["fms"], groups, f"{tag} — {expl['name']}",
                                         Path(f"{expl['stem']}.internals"))
            pictures.append((f"{expl['name']} — {tag} internals (sinc filters, FMS attention)", png, []))
    elif fam == "aasist":
        for expl in explained:
            png = figures.aasist_figure(expl["graph_attention"], f"{tag} — {expl['name']}",
                                        Path(f"{expl['stem']}.attention"))
            pictures.append((f"{expl['name']} — {tag} graph attention", png, []))
    result["figures"] = [{"title": t, "png": str(p), "pdf": str(p.with_suffix(".pdf")), "captions": c}
                         for t, p, c in pictures]
    return result


def _fms_groups(explained: list[dict], labels) -> dict[str, list[np.ndarray] | None]:
    """Mean FMS weights per block over the bona fide and the spoof files (by label, else by decision)."""
    if labels is not None:
        bona = [lab == 1 for lab in labels]
        names = ("bona fide files", "spoof files")
    else:
        bona = [e["score"] >= e["threshold"] for e in explained]
        names = ("files called bona fide", "files called spoof")
    out = {}
    for name, want in zip(names, (True, False)):
        chosen = [e["fms"] for e, b in zip(explained, bona) if b == want]
        out[name] = [np.mean([c[i] for c in chosen], axis=0) for i in range(6)] if chosen else None
    return out


def _captions(expl: dict) -> list[str]:
    from .attribution import METHOD_TITLES

    return [f"**{METHOD_TITLES[m]}**: {a.caption}" for m, a in expl["attributions"].items()]


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-+" else "_" for c in text)


def to_json(expl: dict) -> dict:
    ws = expl["window_scores"]
    out = {"file": expl["name"], "path": expl["path"], "duration_s": round(len(expl["wave"]) / expl["sample_rate"], 4),
           "score": expl["score"],
           "window_scores": {"window_s": ws["window_s"], "hop_s": ws["hop_s"],
                             "centre_s": np.round(ws["centre_s"], 4).tolist(), "scores": ws["scores"].tolist()},
           "top_regions": expl["regions"],
           "attribution_totals": {m: float(a.tf_map.sum()) for m, a in expl["attributions"].items()}}
    if expl.get("frame_llr") is not None:
        trace = expl["frame_llr"]
        out["frame_llr"] = {"times_s": np.round(trace["times_s"], 4).tolist(),
                            "llr": np.round(trace["llr"], 4).tolist()}
    if "fms" in expl:
        out["fms_weights"] = [np.round(b, 4).tolist() for b in expl["fms"]]
    if "graph_attention" in expl:
        att = expl["graph_attention"]
        out["graph_attention"] = {"band_edges_hz": np.round(att["band_edges_hz"], 1).tolist(),
                                  "spectral_received": np.round(att["spectral_received"], 5).tolist(),
                                  "frame_seconds": att["frame_seconds"],
                                  "temporal_received": np.round(att["temporal_received"], 5).tolist()}
    return out
