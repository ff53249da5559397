"""``bench run --explain``: the report gets an Explanations section (band and time importance per saved model),
kept across re-runs, and ``bench explain --run DIR`` reads the finished run."""
from __future__ import annotations

import json

import numpy as np
from _tiny_corpus import bench
from _tone_corpus import TONE_BAND, tone_split


def _tone_corpus(root):
    lines = ["path,label,attack,split"]
    for split, n, seed in (("train", 12, 1), ("dev", 4, 2), ("eval", 6, 3)):
        table = tone_split(root / split, n, seed, split=split)
        lines += [f"{split}/{p.split('/')[-1]},{lab},{att},{split}"
                  for p, lab, att in zip(table["path"], table["label"], table["attack"])]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


def test_run_explain_section_is_written_and_reused(tmp_path, monkeypatch, private_cache):
    corpus = _tone_corpus(tmp_path / "tone")
    out = tmp_path / "run"
    args = ["run", "--data", corpus, "--protocol", "csv", "--detectors", "lfcc-gmm.small", "--fusion", "none",
            "--set", "lfcc-gmm.small.n_components=8", "--bootstrap", "10", "--no-plots", "--explain",
            "--explain-files", "12", "--out", out]
    result = bench(*args)
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "## Explanations: what each detector listens to" in report and "### Band importance" in report
    assert report.index("Explanations") < report.index("## Files")
    cached = json.loads((out / "explain" / "corpus.json").read_text())["lfcc-gmm.small"]["result"]
    eers = [b["eer"] for b in cached["bands"]]
    assert int(np.argmax(eers)) == TONE_BAND
    assert (out / "explain" / "band_importance.png").is_file()
    assert "data:image/png;base64" in (out / "report.html").read_text()

    def must_not_run(*a, **k):
        raise AssertionError("the explanation of an unchanged model was recomputed")

    monkeypatch.setattr("spoofbench.explain.corpus.corpus_explanation", must_not_run)
    result = bench(*args)
    assert result.exit_code == 0, result.output
    assert "### Band importance" in (out / "report.md").read_text()
    monkeypatch.undo()

    result = bench("explain", "--run", out, "--max-files", "6", "--examples", "0", "--no-time",
                   "--out", tmp_path / "explained")
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "explained" / "explain.json").read_text())
    assert list(saved["systems"]) == ["lfcc-gmm.small"] and saved["corpus"]["n_files"] == 6
