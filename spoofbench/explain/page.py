"""The explanations as one self-contained HTML page (and Markdown): per-file figures with their captions and
top regions, corpus tables (band and time importance, per-attack attribution), the deletion test. Blocks are those
of the run report (``spoofbench.benchmark.report``), so both pages read alike; :func:`corpus_blocks` and
:func:`faithfulness_blocks` also make the ``bench run --explain`` section."""
from __future__ import annotations

import os
from pathlib import Path

from .attribution import METHOD_TITLES
from .corpus import TIME_CONDITIONS


def _f(value, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _band_labels(edges) -> list[str]:
    return [f"{a / 1000:g}–{b / 1000:g}" for a, b in zip(edges[:-1], edges[1:])]


def file_blocks(result: dict, base: Path) -> list:
    blocks: list = [("h2", f"Files — {result['system']}")]
    regions_by_file = {f["file"]: f for f in result["files"]}
    for fig in result["figures"]:
        blocks.append(("h3", fig["title"]))
        blocks.append(("img", os.path.relpath(fig["png"], base), fig["title"]))
        for caption in fig["captions"]:
            blocks.append(("p", caption))
        name = fig["title"].split(" — ")[0]
        info = regions_by_file.get(name)
        if info is not None and fig["captions"]:
            rows = []
            for method, regions in info["top_regions"].items():
                for side in ("bonafide", "spoof"):
                    for r in regions[side][:2]:
                        rows.append([METHOD_TITLES[method], "bona fide" if side == "bonafide" else "spoof",
                                     f"{r['start_s']:.2f}–{r['end_s']:.2f}", f"{r['low_hz']:.0f}–{r['high_hz']:.0f}",
                                     f"{r['value']:+.3g}"])
            if rows:
                blocks.append(("table", ["method", "pushes towards", "time (s)", "frequency (Hz)", "attribution"],
                               rows))
    return blocks


def band_table(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Pooled EER (%) with each band removed, and the mean score shift of bona fide and of spoof files, rows per
    detector."""
    headers = ["detector", "", "none removed"] + [f"{x} kHz" for x in _band_labels(results[0]["band_edges_hz"])]
    rows = []
    for r in results:
        rows.append([r["detector"], "EER %", _f(r["original"]["eer"])] + [_f(b["eer"]) for b in r["bands"]])
        rows.append(["", "shift bona fide", ""] + [_f(b["shift_bonafide"]) for b in r["bands"]])
        rows.append(["", "shift spoof", ""] + [_f(b["shift_spoof"]) for b in r["bands"]])
    return headers, rows


def corpus_blocks(results: list[dict], images: dict, base: Path, level: str = "h2") -> list:
    if not results:
        return []
    sub = "h3"
    first = results[0]
    blocks: list = [(level, "Band importance"),
                    ("p", f"{first['n_files']} eval files ({first['n_bonafide']} bona fide, {first['n_spoof']} "
                          "spoof); each band removed from every file over its whole duration (STFT band-stop), the "
                          "files re-scored. EER in percent; shift = mean score change (removed − original). A band "
                          "whose removal raises the EER most is one the detector relies on.")]
    blocks.append(("table", *band_table(results)))
    if "bands" in images:
        blocks.append(("img", os.path.relpath(images["bands"], base), "band importance"))
    blocks.append((sub, "Band importance per attack (EER %, that attack's spoofs against all bona fide)"))
    for r in results:
        attacks = list(r["original"]["per_attack"])
        edges = r["band_edges_hz"]
        headers = [r["detector"], "none removed"] + _band_labels(edges)
        rows = [[a, _f(r["original"]["per_attack"][a]["eer"])] + [_f(b["per_attack"][a]["eer"]) for b in r["bands"]]
                for a in attacks]
        blocks.append(("table", headers, rows))
    if any("time" in r for r in results):
        blocks.append((level, "Time importance"))
        blocks.append(("p", "EER (%) and mean score shift bona fide / spoof when leading and trailing silence is "
                            "trimmed, or voiced / unvoiced frames (periodicity at 60–400 Hz; silence = frames 40 dB "
                            "below the loudest) are silenced."))
        headers = ["detector", "original"] + list(TIME_CONDITIONS)
        rows = []
        for r in results:
            if "time" not in r:
                continue
            rows.append([r["detector"], _f(r["original"]["eer"])] + [
                f"{_f(r['time'][c]['eer'])} ({_f(r['time'][c]['shift_bonafide'])} / {_f(r['time'][c]['shift_spoof'])})"
                for c in TIME_CONDITIONS])
        blocks.append(("table", headers, rows))
    blocks.append((level, "What distinguishes each attack (mean band attribution)"))
    blocks.append(("p", "Per band: the mean of (score − score without the band) over the bona fide files and over "
                        "each attack's spoofs. Positive = the band pushes those files towards bona fide. The "
                        "chart's right panel is each attack minus bona fide: the bands that set that attack apart "
                        "for the detector."))
    for r in results:
        groups = r["band_attribution"]
        edges = r["band_edges_hz"]
        headers = [r["detector"]] + _band_labels(edges)
        blocks.append(("table", headers, [[g] + [f"{v:+.3f}" for v in vals] for g, vals in groups.items()]))
        key = f"attacks:{r['detector']}"
        if key in images:
            blocks.append(("img", os.path.relpath(images[key], base), f"{r['detector']} per-attack attribution"))
    return blocks


def faithfulness_table(results: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    """One row per detector and method: the mean change towards the other class after top-k and after random
    deletion for each k, and whether top-k beats random (95 % bootstrap interval of the difference above 0)."""
    ks: list = []
    rows = []
    for system, res in results.items():
        for method, per_k in res["methods"].items():
            ks = ks or list(per_k)
            cells = [f"{per_k[k]['top']:.3f} / {per_k[k]['random']:.3f}" for k in per_k]
            verdict = " / ".join("yes" if per_k[k]["beats_random"] else "NO" for k in per_k)
            rows.append([system, METHOD_TITLES.get(method, method), *cells, verdict])
    headers = ["detector", "method"] + [f"k = {k} %: top / random" for k in ks] + [
        "beats random (k = " + ", ".join(str(k) for k in ks) + ")"]
    return headers, rows


def faithfulness_blocks(results: dict[str, dict], level: str = "h2") -> list:
    if not results:
        return []
    n = next(iter(results.values()))["n_files"]
    return [(level, "Faithfulness (deletion test)"),
            ("p", f"Mean score change towards the opposite class over {n} files when the k % time-frequency cells "
                  "the method ranks highest for the file's class are removed, against k % random cells (same "
                  "masking: STFT cells zeroed). NO: the 95 % bootstrap interval of the advantage over random does "
                  "not lie above zero, so the method is not shown to be faithful to that detector at that k."),
            ("table", *faithfulness_table(results))]


def write_page(out: Path, title: str, blocks: list) -> tuple[Path, Path]:
    """``out/explain.html`` (self-contained) and ``out/explain.md``."""
    from spoofbench.benchmark.report import render_html, render_markdown
    from spoofbench.protocols.files import write_text_atomic

    html_path, md_path = out / "explain.html", out / "explain.md"
    write_text_atomic(md_path, render_markdown([("h1", title), *blocks]))
    write_text_atomic(html_path, render_html([("h1", title), *blocks], out, title=title))
    return html_path, md_path
