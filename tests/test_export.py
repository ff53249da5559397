"""ONNX export (spoofbench.deploy.export, `bench export`, `bench perf export`) on tiny networks."""
import json

import numpy as np
import pytest
from _tiny_corpus import bench
from _untrained import untrained

from spoofbench.benchmark.decisions import fit_decision_policy
from spoofbench.deploy.export import ExportError, export_onnx, read_metadata, session
from spoofbench.detectors import create_detector

pytestmark = pytest.mark.usefixtures("private_cache")


def _policy(seed=0):
    rng = np.random.default_rng(seed)
    return fit_decision_policy(np.r_[rng.normal(1, 1, 40), rng.normal(-1, 1, 60)], np.r_[np.ones(40), np.zeros(60)])


@pytest.mark.parametrize("spec", ["rawnet2.small", "aasist.small", "lfcc-lcnn.small"])
def test_onnx_scores_equal_bench_score_within_1e4(spec, tmp_path):
    det = untrained(spec)
    policy = _policy()
    result = export_onnx(det, tmp_path / "m.onnx", policy=policy)
    assert result.max_abs_diff <= 1e-4
    sess = session(str(tmp_path / "m.onnx"))
    assert [i.name for i in sess.get_inputs()] == ["waveform"]
    assert [o.name for o in sess.get_outputs()] == ["score", "llr"]
    rng = np.random.default_rng(1)
    n = det.n_samples or 16000
    # longer than the input (cropped), shorter (tiled): the scores bench score gives for these waveforms
    lengths = [n + 3001, n // 2 + 11] if det.score_mode == "first" else [12000, 12000]
    waves = [(0.1 * rng.standard_normal(k)).astype(np.float32) for k in lengths]
    expected = det.score_waves(waves, det.sample_rate)
    for wave, want in zip(waves, expected):
        score, llr = sess.run(None, {"waveform": wave[None]})
        assert score.shape == (1,) and llr.shape == (1,)
        assert score[0] == pytest.approx(want, abs=1e-4)
        assert llr[0] == pytest.approx(policy.llr([want])[0], abs=1e-4 * max(1.0, abs(policy.weight)))
    if det.score_mode == "first":  # dynamic batch and length: a batch of 3 of another length
        batch = np.stack([(0.1 * rng.standard_normal(n - 5)).astype(np.float32) for _ in range(3)])
        np.testing.assert_allclose(sess.run(["score"], {"waveform": batch})[0],
                                   det.score_waves(list(batch), det.sample_rate), atol=1e-4)


def test_metadata_describes_the_model(tmp_path):
    det = untrained("rawnet2.small")
    policy = _policy()
    export_onnx(det, tmp_path / "m.onnx", policy=policy, description={"spec": "rawnet2.small", "system": "x"})
    meta = read_metadata(tmp_path / "m.onnx")
    assert meta["detector"] == "rawnet2" and meta["preset"] == "rawnet2.small"
    assert meta["sample_rate"] == "16000" and meta["input_length"] == str(det.n_samples)
    assert meta["score_rule"] == "difference"
    calibration = json.loads(meta["calibration"])
    assert calibration["weight"] == policy.weight and calibration["bias"] == policy.bias
    assert json.loads(meta["decisions"]) == json.loads(json.dumps(policy.to_dict()))
    # without a policy: only the score output and no calibration entries
    export_onnx(det, tmp_path / "plain.onnx")
    assert "calibration" not in read_metadata(tmp_path / "plain.onnx")
    assert [o.name for o in session(str(tmp_path / "plain.onnx")).get_outputs()] == ["score"]


def test_int8_model_runs_and_holds_int8_weights(tmp_path):
    import onnx

    det = untrained("rawnet2.small")
    result = export_onnx(det, tmp_path / "m.onnx", quantize="int8")
    assert result.int8_path == str(tmp_path / "m.int8.onnx")
    model = onnx.load(result.int8_path)
    int8 = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert int8, "no int8 weights in the quantised model"
    assert read_metadata(result.int8_path)["quantization"].startswith("int8")
    batch = (0.1 * np.random.default_rng(2).standard_normal((2, 30000))).astype(np.float32)
    scores = session(result.int8_path).run(["score"], {"waveform": batch})[0]
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    assert np.isfinite(result.int8_max_abs_diff)


def test_export_errors_are_one_line(tmp_path, corpus):
    from spoofbench import load_trials

    gmm = create_detector("lfcc-gmm.small", n_components=2, n_iter=1, n_jobs=1)
    gmm.fit(load_trials(corpus, split="train"))
    with pytest.raises(ExportError, match="not a neural detector"):
        export_onnx(gmm, tmp_path / "g.onnx")
    with pytest.raises(ExportError, match="score_mode='sliding' cannot be exported"):
        export_onnx(untrained("rawnet2.small", score_mode="sliding"), tmp_path / "s.onnx")
    # the check after export: a tolerance nothing meets fails and writes nothing
    with pytest.raises(ExportError, match="differ from PyTorch"):
        export_onnx(untrained("rawnet2.small"), tmp_path / "t.onnx", tolerance=-1.0)
    assert not (tmp_path / "t.onnx").exists()
    gmm.save(tmp_path / "g.det")
    r = bench("export", tmp_path / "g.det", "--out", tmp_path / "g.onnx")
    assert r.exit_code == 2 and r.output.strip().count("\n") == 0 and "not a neural detector" in r.output
    r = bench("export", tmp_path / "missing.det")
    assert r.exit_code == 2 and "not found" in r.output
    r = bench("export", "lfcc-gmm.small")
    assert r.exit_code == 2 and "not a pre-trained preset" in r.output


def test_bench_export_and_perf_export_of_a_saved_model(tmp_path, corpus):
    det = untrained("rawnet2.small")
    det.save(tmp_path / "r.det", decisions=_policy())
    r = bench("export", tmp_path / "r.det", "--quantize", "int8", "--out", tmp_path / "r.onnx")
    assert r.exit_code == 0, r.output
    assert "outputs score, llr" in r.output and "onnxruntime equals PyTorch" in r.output
    assert (tmp_path / "r.onnx").is_file() and (tmp_path / "r.int8.onnx").is_file()

    out = tmp_path / "perf.json"
    r = bench("perf", "export", tmp_path / "r.det", "--data", corpus, "--max-trials", 16, "--reps", 1,
              "--batches", "1,2", "--fast", "int8", "--json", out)
    assert r.exit_code == 0, r.output
    rows = json.loads(out.read_text())
    assert [row["format"] for row in rows] == ["pytorch float32", "pytorch int8", "onnx float32", "onnx int8"]
    for row in rows:
        assert set(row["latency_ms"]) == {"1", "2"} and all(v > 0 for v in row["latency_ms"].values())
        assert 0 <= row["eer"] <= 1 and row["rtf"] > 0 and row["bytes"] > 0
    by_format = {row["format"]: row for row in rows}
    # float32 ONNX scores the eval trials as PyTorch does: the same EER
    assert by_format["onnx float32"]["eer"] == pytest.approx(by_format["pytorch float32"]["eer"], abs=1e-9)
    assert by_format["pytorch float32"]["bytes"] == (tmp_path / "r.det").stat().st_size
