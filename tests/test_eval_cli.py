"""`bench eval` end to end on a tiny corpus of a test-only protocol (no dependence on any real corpus)."""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from spoofbench.benchmark import metrics as M
from spoofbench.benchmark.cli import cli
from spoofbench.benchmark.scorefiles import write_cm_scores
from spoofbench.protocols import TrialTable, register_protocol

PROTOCOL_FILE = "evaltest_protocol.tsv"


def _detect(root):
    return os.path.isfile(os.path.join(root, PROTOCOL_FILE))


def _asv_file(root, split, keys=None):
    path = os.path.join(root, f"asv_{split}.txt")
    return path if os.path.isfile(path) else None


def _read(root, *, keys=None):
    rows = [line.split("\t") for line in open(os.path.join(root, PROTOCOL_FILE)).read().splitlines()]
    return TrialTable({"utt_id": [r[0] for r in rows], "path": [""] * len(rows), "label": [r[1] for r in rows],
                       "attack": [r[2] for r in rows], "speaker": ["spk"] * len(rows), "split": [r[3] for r in rows],
                       "codec": [r[4] for r in rows]})


@pytest.fixture(autouse=True, scope="module")
def _test_protocol():
    """Register the test-only protocol for this module, and take it away again so no other test sees it."""
    from spoofbench.protocols import registry

    register_protocol("evaltest-tsv", detect=_detect, asv_scores=_asv_file, priority=-100,
                      description="test-only protocol of tests/test_eval_cli.py")(_read)
    yield
    registry._PROTOCOLS.pop("evaltest-tsv", None)


@pytest.fixture()
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    n_bona, n_spoof = 60, 150
    n = n_bona + n_spoof
    label = ["bonafide"] * n_bona + ["spoof"] * n_spoof
    attack = ["-"] * n_bona + [("A01", "A02", "A03")[i % 3] for i in range(n_spoof)]
    codec = [("none", "gsm")[i % 2] for i in range(n)]
    split = ["eval"] * (n - 10) + ["dev"] * 10
    root = tmp_path / "corpus"
    root.mkdir()
    (root / PROTOCOL_FILE).write_text("".join(f"u{i:04d}\t{label[i]}\t{attack[i]}\t{split[i]}\t{codec[i]}\n"
                                              for i in range(n)))
    asv = (["bonafide target %.4f" % v for v in rng.normal(3, 1, 80)]
           + ["bonafide nontarget %.4f" % v for v in rng.normal(0, 1, 120)]
           + ["A0%d spoof %.4f" % (1 + i % 3, v) for i, v in enumerate(rng.normal(2, 1.5, 150))])
    (root / "asv_eval.txt").write_text("\n".join(asv) + "\n")
    table = _read(str(root))
    table = table[table["split"] == "eval"]
    scores = np.round(rng.normal(0, 1, len(table)) + 1.5 * table.y, 2)
    write_cm_scores(tmp_path / "sysA.txt", table, scores)
    write_cm_scores(tmp_path / "sysB.tsv", table, scores * 0.5 - rng.normal(0, 1, len(table)), fmt="asvspoof5")
    return root, table, scores


def _run(*args):
    return CliRunner().invoke(cli, ["eval", *map(str, args)], catch_exceptions=False)


def test_json_output_is_the_stable_structure_with_official_numbers(corpus, tmp_path):
    root, table, scores = corpus
    res = _run("--scores", tmp_path / "sysA.txt", "--scores", f"B={tmp_path / 'sysB.tsv'}", "--data", root,
               "--format", "json", "--bootstrap", "200")
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert {"systems", "costs"} <= set(result) and list(result["systems"]) == ["sysA", "B"]
    sys_a = result["systems"]["sysA"]
    assert set(sys_a) == {"pooled", "per_attack", "per_codec"} and list(sys_a["per_attack"]) == ["A01", "A02", "A03"]
    bona, spoof = scores[table.is_bonafide], scores[~table.is_bonafide]
    pooled = sys_a["pooled"]
    assert pooled["eer"] == pytest.approx(100 * M.eer(bona, spoof), abs=1e-12)
    assert pooled["eer_ci"][0] <= pooled["eer"] <= pooled["eer_ci"][1]
    # the corpus's ASV file was found through the protocol and used for both t-DCF forms
    assert result["inputs"]["asv_scores"] == str(root / "asv_eval.txt")
    from spoofbench.benchmark.scorefiles import read_asv_scores

    point = read_asv_scores(root / "asv_eval.txt").operating_point()
    assert pooled["min_tdcf_2019"] == M.min_tdcf_2019(bona, spoof, point)
    assert pooled["min_tdcf_2021"] == M.min_tdcf_2021(bona, spoof, point)
    assert result["costs"]["tdcf_2019"]["C1"] == M.tdcf_costs_2019(point)[0]
    assert (pooled["n_bonafide"], pooled["n_spoof"]) == (60, 140)


def test_table_output_and_out_folder(corpus, tmp_path):
    root, _, _ = corpus
    out = tmp_path / "out"
    res = _run("--scores", tmp_path / "sysA.txt", "--data", root, "--bootstrap", "50", "--out", out)
    assert res.exit_code == 0, res.output
    assert "pooled" in res.stdout and "A02" in res.stdout and "EER %" in res.stdout
    names = sorted(os.listdir(out))
    assert names == sorted(["metrics.json", "metrics.txt", "det.png", "det.pdf", "det_per_attack.png",
                            "det_per_attack.pdf", "hist_sysA.png", "hist_sysA.pdf"])
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["systems"]["sysA"]["pooled"]["eer_ci"] is not None
    assert (out / "metrics.txt").read_text() == res.stdout


def test_explicit_asv_file_and_no_ci(corpus, tmp_path):
    root, _, _ = corpus
    asv = tmp_path / "other_asv.txt"
    asv.write_text("bonafide target 5\nbonafide target 4\nbonafide nontarget 1\nbonafide nontarget 4.5\n"
                   "A01 spoof 4.8\nA02 spoof 0\n")
    res = _run("--scores", tmp_path / "sysA.txt", "--data", root, "--asv-scores", asv, "--format", "json",
               "--bootstrap", "0")
    result = json.loads(res.stdout)
    assert result["inputs"]["asv_scores"] == str(asv)
    assert result["systems"]["sysA"]["pooled"]["eer_ci"] is None
    assert result["costs"]["asv"]["n_target"] == 2


def test_split_and_breakdown_selection(corpus, tmp_path):
    root, table, _ = corpus
    res = _run("--scores", tmp_path / "sysA.txt", "--data", root, "--split", "test")
    assert res.exit_code == 2 and "no 'test' trials" in res.output and "dev, eval" in res.output
    res = _run("--scores", tmp_path / "sysA.txt", "--data", root, "--by", "gender")
    assert res.exit_code == 2 and "--by gender: the protocol has no such column" in res.output
    res = _run("--scores", tmp_path / "sysA.txt", "--data", root, "--by", "codec", "--format", "csv",
               "--bootstrap", "0")
    assert res.exit_code == 0 and ",codec,gsm," in res.stdout


def test_bad_score_files_give_one_line_errors(corpus, tmp_path):
    root, table, scores = corpus
    short = tmp_path / "short.txt"
    write_cm_scores(short, table[np.arange(len(table)) > 2], scores[3:])
    res = _run("--scores", short, "--data", root)
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1].startswith(f"error: {short}: 3 of 200 protocol trials have no score")
    bad = tmp_path / "bad.txt"
    bad.write_text("u0000 0.5\nu0001 zero\n")
    res = _run("--scores", bad, "--data", root)
    assert res.exit_code == 2 and f"error: {bad}:2: score 'zero' is not a number" in res.output
    res = _run("--scores", tmp_path / "sysA.txt", "--scores", tmp_path / "sysA.txt", "--data", root)
    assert res.exit_code == 2 and "NAME=FILE" in res.output


def test_inverted_scores_warn(corpus, tmp_path):
    root, table, scores = corpus
    flipped = tmp_path / "flipped.txt"
    write_cm_scores(flipped, table, -scores)
    res = _run("--scores", flipped, "--data", root, "--bootstrap", "0")
    assert res.exit_code == 0
    assert "warning:" in res.stderr and "scores look inverted" in res.stderr


def test_where_selects_trials(corpus, tmp_path):
    root, table, scores = corpus
    res = _run("--scores", tmp_path / "sysA.txt", "--data", root, "--where", "codec=gsm", "--format", "json",
               "--bootstrap", "0")
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    bona, spoof = (table["codec"] == "gsm") & table.is_bonafide, (table["codec"] == "gsm") & ~table.is_bonafide
    pooled = result["systems"]["sysA"]["pooled"]
    assert (pooled["n_bonafide"], pooled["n_spoof"]) == (bona.sum(), spoof.sum())
    assert pooled["eer"] == pytest.approx(100 * M.eer(scores[bona], scores[spoof]))
    assert result["inputs"]["where"] == {"codec": "gsm"}
    res = _run("--scores", tmp_path / "sysA.txt", "--data", root, "--where", "codec=opus")
    assert res.exit_code == 2 and "no trial has codec = 'opus'" in res.output
    res = _run("--scores", tmp_path / "sysA.txt", "--data", root, "--where", "subset")
    assert res.exit_code == 2 and "expected COLUMN=VALUE" in res.output


def test_bench_list_shows_the_metrics():
    res = CliRunner().invoke(cli, ["list", "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 0
    assert json.loads(res.stdout)["metrics"] == list(M.METRICS)
