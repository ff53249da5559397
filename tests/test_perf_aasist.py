"""`bench perf aasist`: its reference is the official forward (recorded official outputs), ours computes the same
function, and a tiny run gives the table, the stage breakdown and the JSON (no timing is asserted)."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from spoofbench.benchmark.cli import cli
from spoofbench.benchmark.perf.aasist import _models, stage_profile
from spoofbench.benchmark.perf.aasist_reference import CONFIGS, ReferenceAASIST
from spoofbench.detectors.neural.pretrained import weights_path

FIXTURES = Path(__file__).parent / "fixtures"
STAGES = ["sinc conv", "|x|, 3x3 pool, BN, SELU"] + [f"encoder block {i}" for i in range(6)] + [
    "graph attention, HS-GAL, readout"]


def _official_inputs():
    spec = importlib.util.spec_from_file_location("aasist_inputs", FIXTURES / "aasist_make_official_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    recorded = json.loads((FIXTURES / "aasist_official_outputs.json").read_text())
    return torch.from_numpy(np.stack([module.make_input(r) for r in recorded["inputs"]])), recorded["outputs"]


@pytest.mark.parametrize("filename, variant, weights", [("AASIST.pth", "aasist", "aasist-la19"),
                                                        ("AASIST-L.pth", "aasist-l", "aasist-l-la19")])
def test_the_reference_gives_the_official_outputs(filename, variant, weights):
    batch, outputs = _official_inputs()
    ref = ReferenceAASIST(CONFIGS[variant])
    ref.load_state_dict(torch.load(weights_path(weights), map_location="cpu", weights_only=True))
    with torch.no_grad():
        hidden, logits = ref.eval()(batch)
    assert hidden.shape == (4, 160)
    np.testing.assert_allclose(logits.double().numpy(), np.array(outputs[filename]["logits"]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("variant", ["aasist", "aasist-l"])
def test_ours_and_the_reference_compute_the_same_function(variant):
    ours, ref, x, _ = _models(variant, batch=3, samples=6000, seed=1)
    with torch.no_grad():
        want = ref.eval()(x)[1]
        got = ours.eval()(x)
    assert got.shape == want.shape == (3, 2)
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()
    # the stage breakdown chains the stages of each implementation to the same encoder map
    for model in (ours, ref):
        stages = stage_profile(model, x, reps=1)
        assert [s["stage"] for s in stages] == STAGES
        assert all(s["s"] >= 0 for s in stages) and stages[2]["flops"] > stages[7]["flops"] > 0


def test_bench_perf_aasist_tiny_run(tmp_path):
    out = tmp_path / "perf.json"
    result = CliRunner().invoke(cli, ["perf", "aasist", "--batches", "2", "--samples", "2400", "--reps", "1",
                                      "--fast", "int8", "--threads", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    table = [line for line in result.output.splitlines() if line.startswith("| aasist ")]
    assert len(table) == 1 and table[0].count("|") == 14
    assert "where the time goes: aasist, batch 2" in result.output
    data = json.loads(out.read_text())
    (row,) = data["rows"]
    assert (row["variant"], row["batch"], row["samples"]) == ("aasist", 2, 2400)
    for key in ("ref_train_s", "ref_heap_train_s", "ours_train_s", "ref_infer_s", "ref_heap_infer_s",
                "ours_infer_s", "ours_int8_infer_s"):
        assert row[key] > 0 and row[key.replace("_s", "_med")] >= row[key]
    assert row["max_rel_diff"] < 1e-5  # float32: ours equals the reference
    assert row["ref_phases_max_rel_diff"] < 1e-5  # the child's reference took the same (seeded) steps
    assert 0 < row["int8_max_rel_diff"] < 0.5
    assert [s["stage"] for s in row["stages"]["ours"]] == STAGES
    assert row["ours_flops"] == sum(s["flops"] for s in row["stages"]["ours"])
    assert data["limits"]["fp32_gflops"] > 0 and data["fast_modes"] == ["int8"]


def test_bench_perf_aasist_rejects_an_unknown_variant():
    result = CliRunner().invoke(cli, ["perf", "aasist", "--variants", "aasist-xl"])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == "error: unknown AASIST variant 'aasist-xl'; choose aasist, aasist-l"


def test_the_fast_mode_eer_check_compares_one_fitted_model_in_each_mode(corpus):
    from spoofbench.benchmark.perf.aasist_eer import eer_check, format_eer
    from spoofbench.detectors.checks import QUICK_OVERRIDES

    result = eer_check(("int8",), "aasist.small", echo=lambda m: None, root=corpus, **QUICK_OVERRIDES["aasist"])
    float32, int8 = result["rows"]
    assert (float32["mode"], int8["mode"]) == ("float32", "int8")
    assert float32["eer_change"] == 0 and float32["max_abs_score_diff"] is None
    assert 0 <= int8["eval_eer"] <= 100 and int8["eer_change"] == pytest.approx(int8["eval_eer"] - float32["eval_eer"])
    assert int8["max_abs_score_diff"] > 0  # the quantised layers change the scores a little
    assert int8["within_target"] == (abs(int8["eer_change"]) <= 0.5)
    # the resolution: one bona fide eval trial of the tiny corpus, in EER points; the preset's own seed, as bench run
    from spoofbench.benchmark.pipeline.corpus import load_corpus
    bona = int((np.asarray(load_corpus(corpus, None, log=lambda m: None).tables["eval"]["label"]) == "bonafide").sum())
    assert result["bonafide_trials"] == bona > 0 and result["one_trial_points"] == pytest.approx(100 / bona)
    assert result["seed"] == 1234
    lines = format_eer(result).splitlines()
    assert lines[0].startswith("fast modes on ") and "aasist.small" in lines[0]
    assert f"{bona} bona fide (one of them moves the EER by about {100 / bona:.2f} points)" in lines[0]
    assert [line.split("|")[1].strip() for line in lines[3:]] == ["float32", "int8"]


def test_the_eer_check_builds_its_own_demo_corpus_with_the_eval_trials_asked(private_cache, monkeypatch):
    import spoofbench.protocols.demo as demo
    from spoofbench.benchmark.perf.aasist_eer import EVAL_TRIALS, check_corpus
    from spoofbench.protocols.files import cache_root

    calls = []
    monkeypatch.setattr(demo, "make_demo_corpus", lambda root, **kw: calls.append((root, kw)))
    root = check_corpus(echo=lambda m: None)
    assert root == str(cache_root() / f"demo-corpus-eval{EVAL_TRIALS}")
    assert calls[0][1]["n_eval"] == EVAL_TRIALS >= 4 * 400  # 400+ bona fide: one moves the EER by < 0.25 points
    assert check_corpus(600, echo=lambda m: None).endswith("demo-corpus-eval600") and calls[1][1]["n_eval"] == 600
