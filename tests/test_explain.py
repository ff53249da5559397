"""Explanations: map shapes and invariants, model internals, the time-frequency masking, and a constructed case
where the detectors are known to rely on one band (spoofs carry a tone at 6.3-6.7 kHz): band importance,
attributions and the deletion test must point there."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _tiny_corpus import bench
from _tone_corpus import FS, TONE_BAND, tone_split

from spoofbench import create_detector
from spoofbench.explain import attribution, internals
from spoofbench.explain.corpus import corpus_explanation
from spoofbench.explain.faithfulness import deletion_test
from spoofbench.explain.regions import top_regions
from spoofbench.explain.tf import CellGrid, TFGrid
from spoofbench.protocols.audio import load_audio

TF = TFGrid(FS)


def _untrained(name: str, **params):
    torch.manual_seed(0)
    det = create_detector(name, progress=False, **params)
    det.model_, det.history_ = det.build_model().eval(), []
    return det


@pytest.fixture(scope="module")
def tone(tmp_path_factory):
    root = tmp_path_factory.mktemp("tone")
    return {"root": root, "train": tone_split(root / "train", 20, seed=1, split="train"),
            "eval": tone_split(root / "eval", 8, seed=2)}


@pytest.fixture(scope="module")
def tone_gmm(tone):
    det = create_detector("lfcc-gmm.small", n_components=8, cache_dir=False, n_jobs=1, progress=False)
    return det.fit(tone["train"])


@pytest.fixture(scope="module")
def tone_rawnet2(tone):
    """A very small RawNet2, 4 epochs (about 15 s on a loaded 2-core machine)."""
    return create_detector("rawnet2.small", epochs=4, block_channels=[8, 16], gru_hidden=16, fc_hidden=16,
                           n_samples=16000, batch_size=8, progress=False).fit(tone["train"], tone["eval"])


# ---- the time-frequency plane ---------------------------------------------------------------------------------
def test_removing_nothing_keeps_the_wave_and_band_stop_removes_a_tone():
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(FS)).astype(np.float32)
    same = TF.remove(wave, np.zeros((TF.n_bins, TF.n_frames(len(wave))), dtype=bool))
    np.testing.assert_allclose(same, wave, atol=1e-6)
    t = np.arange(FS) / FS
    tone = (0.5 * np.sin(2 * np.pi * 6500 * t)).astype(np.float32)
    kept, cut = TF.band_stop(tone, 1000, 2000), TF.band_stop(tone, 6000, 7000)
    assert np.sqrt(np.mean(kept ** 2)) == pytest.approx(np.sqrt(np.mean(tone ** 2)), rel=1e-3)
    assert np.sqrt(np.mean(cut[800:-800] ** 2)) < 1e-3 * np.sqrt(np.mean(tone ** 2))


def test_cell_grid_masks_exactly_its_cells():
    cells = CellGrid(TF, FS, patch_s=0.25, n_bands=8)
    assert cells.shape == (8, 4)
    chosen = np.zeros(cells.shape, dtype=bool)
    chosen[TONE_BAND, 1] = True
    mask = cells.cell_mask(chosen)
    assert mask.shape == (TF.n_bins, TF.n_frames(FS))
    freqs = TF.frequencies()[mask.any(axis=1)]
    assert freqs.min() >= 6000 and freqs.max() < 7000
    np.testing.assert_allclose(cells.cell_means(cells.expand(np.arange(32.0).reshape(8, 4))),
                               np.arange(32.0).reshape(8, 4))


# ---- maps: shape, finiteness, completeness ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["rawnet2.small", "aasist.small", "lfcc-lcnn.small"])
def test_maps_have_the_inputs_shape_and_are_finite(name):
    det = _untrained(name)
    wave = (0.1 * np.random.default_rng(1).standard_normal(int(1.3 * FS))).astype(np.float32)
    cells = CellGrid(TF, len(wave))
    assert attribution.available_methods(det) == ("ig", "gradcam", "occlusion")
    for method in attribution.available_methods(det):
        att = attribution.compute(method, det, wave, cells, ig_steps=4)
        assert att.tf_map.shape == (TF.n_bins, TF.n_frames(len(wave))), method
        assert np.all(np.isfinite(att.tf_map)), method
        assert att.caption
    ig = attribution.integrated_gradients(det, wave, TF, n_steps=4)
    assert ig.wave.shape == wave.shape and np.all(np.isfinite(ig.wave))
    # the projection onto the STFT keeps the waveform attribution's total (Parseval)
    assert ig.tf_map.sum() == pytest.approx(ig.wave.sum(), rel=1e-4, abs=1e-9)


def test_occlusion_works_for_a_detector_without_gradients(tone, tone_gmm):
    assert attribution.available_methods(tone_gmm) == ("occlusion",)
    wave = load_audio(tone["eval"]["path"][1], FS)
    cells = CellGrid(TF, len(wave))
    att = attribution.occlusion(tone_gmm, wave, cells)
    assert att.tf_map.shape == (TF.n_bins, TF.n_frames(len(wave))) and np.all(np.isfinite(att.tf_map))
    assert att.extra["base_score"] == pytest.approx(tone_gmm.score_files([tone["eval"]["path"][1]])[0], rel=1e-6)


def test_gmm_frame_llr_mean_is_the_score(tone, tone_gmm):
    paths = list(tone["eval"]["path"][:3])
    traces = tone_gmm.frame_llr(paths)
    np.testing.assert_allclose([t.mean() for t in traces], tone_gmm.score_files(paths), rtol=1e-9, atol=1e-9)


# ---- model internals ---------------------------------------------------------------------------------------
def test_sinc_responses_peak_at_the_configured_bands():
    det = _untrained("rawnet2.small", sinc_filters=20, sinc_taps=1025)
    r = internals.sinc_responses(det.model_)
    resolution = FS / 1025
    assert np.all(r["peak_hz"] >= r["low_hz"] - resolution) and np.all(r["peak_hz"] <= r["high_hz"] + resolution)
    wide = (r["high_hz"] - r["low_hz"]) > 4 * resolution
    assert wide.sum() >= 10
    half_width = (r["high_hz"] - r["low_hz"]) / 2
    assert np.all(np.abs(r["peak_hz"] - r["centre_hz"])[wide] <= half_width[wide])


def test_fms_hooks_read_weights_without_changing_outputs():
    det = _untrained("rawnet2.small")
    wave = (0.1 * np.random.default_rng(2).standard_normal(FS)).astype(np.float32)
    x = torch.from_numpy(np.tile(wave, 2)[:det.n_samples][None])
    with torch.no_grad():
        before = det.model_(x)
    weights = internals.fms_weights(det, [wave, wave[::-1].copy()])
    assert [w.shape for w in weights] == [(2, 16), (2, 16), (2, 32), (2, 32), (2, 32), (2, 32)]
    assert all(np.all((w > 0) & (w < 1)) for w in weights)
    assert all(not getattr(det.model_, f"fc_attention{i}")[0]._forward_hooks for i in range(6))
    with torch.no_grad():
        assert torch.equal(det.model_(x), before)


def test_aasist_graph_attention_is_opt_in_and_changes_nothing():
    det = _untrained("aasist.small")
    wave = (0.1 * np.random.default_rng(3).standard_normal(FS)).astype(np.float32)
    x = torch.from_numpy(wave[None])
    with torch.no_grad():
        before = det.model_(x)
    att = internals.graph_attention(det, wave)
    n_bands = det.model_.config.spectral_nodes
    assert att["spectral"].shape == (n_bands, n_bands) and len(att["band_edges_hz"]) == n_bands + 1
    np.testing.assert_allclose(att["spectral"].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(att["temporal"].sum(axis=1), 1.0, rtol=1e-5)
    assert not det.model_.GAT_layer_S.record_attention and det.model_.GAT_layer_S.last_attention is None
    with torch.no_grad():
        assert torch.equal(det.model_(x), before)


# ---- the constructed case: spoofs carry a tone in band 6 ---------------------------------------------------------
def test_band_importance_finds_the_tone_band(tone, tone_gmm):
    res = corpus_explanation(tone_gmm, tone["eval"], n_bands=8, time=True, progress=False)
    assert res["original"]["eer"] < 10
    eers = [b["eer"] for b in res["bands"]]
    assert int(np.argmax(eers)) == TONE_BAND and eers[TONE_BAND] >= 40
    spoof_shift = [b["shift_spoof"] for b in res["bands"]]
    assert int(np.argmax(spoof_shift)) == TONE_BAND  # without the tone, spoofs look bona fide
    assert int(np.argmin(res["band_attribution"]["T1"])) == TONE_BAND
    assert set(res["time"]) == {"trim leading/trailing silence", "silence voiced frames", "silence unvoiced frames"}


def test_occlusion_and_integrated_gradients_point_at_the_tone_band(tone, tone_gmm, tone_rawnet2):
    spoofs = [p for p, y in zip(tone["eval"]["path"], tone["eval"].y) if y == 0][:4]
    for det, methods in ((tone_gmm, ("occlusion",)), (tone_rawnet2, ("ig", "occlusion"))):
        for path in spoofs:
            wave = load_audio(path, FS)
            cells = CellGrid(TF, len(wave))
            for method in methods:
                att = attribution.compute(method, det, wave, cells, ig_steps=8)
                band_weight = np.abs(cells.cell_means(att.tf_map)).sum(axis=1)
                assert int(np.argmax(band_weight)) == TONE_BAND, (det.name, method, path)
            spoof_regions = top_regions(att.tf_map, cells)["spoof"]
            assert spoof_regions and spoof_regions[0]["low_hz"] == 6000.0


def test_deletion_beats_random_on_the_tone_case(tone, tone_gmm, tone_rawnet2):
    waves = [load_audio(p, FS) for p in tone["eval"]["path"][:10]]
    labels = [int(y) for y in tone["eval"].y[:10]]
    gmm = deletion_test(tone_gmm, waves, labels, ("occlusion",), progress=False)
    assert all(gmm["methods"]["occlusion"][k]["beats_random"] for k in (10, 20))
    net = deletion_test(tone_rawnet2, waves, labels, ("ig",), ig_steps=8, progress=False)
    assert net["methods"]["ig"][20]["top"] > net["methods"]["ig"][20]["random"]
    assert net["methods"]["ig"][20]["beats_random"]


# ---- the command --------------------------------------------------------------------------------------------
def test_bench_explain_files_and_corpus(tone, tone_gmm, tmp_path):
    model = tmp_path / "gmm.det"
    tone_gmm.save(model)
    files = [str(p) for p in tone["eval"]["path"][:2]]
    out = tmp_path / "per-file"
    result = bench("explain", "--model", model, *files, "--out", out, "--format", "json")
    assert result.exit_code == 0, result.output
    numbers = json.loads(result.stdout)
    entry = numbers["systems"]["gmm"]
    assert entry["methods"] == ["occlusion"]
    first = entry["files"]["files"][0]
    assert len(first["window_scores"]["scores"]) == len(first["window_scores"]["centre_s"]) >= 1
    assert "frame_llr" in first and first["top_regions"]["occlusion"]
    for fig in entry["files"]["figures"]:
        assert (out / fig["png"].split("/")[-1]).is_file() and fig["pdf"].endswith(".pdf")
    html = (out / "explain.html").read_text()
    assert html.count("data:image/png;base64") == 2 and "Occlusion" in html

    out = tmp_path / "corpus"
    result = bench("explain", "--model", model, "--data", tone["root"] / "eval", "--protocol", "csv",
                   "--max-files", "6", "--examples", "1", "--faithfulness", "--no-time", "--out", out)
    assert result.exit_code == 0, result.output
    assert "Band importance" in result.output and "Faithfulness" in result.output
    saved = json.loads((out / "explain.json").read_text())["systems"]["gmm"]
    eers = [b["eer"] for b in saved["corpus"]["bands"]]
    assert int(np.argmax(eers)) == TONE_BAND
    assert (out / "band_importance.png").is_file() and (out / "band_importance.pdf").is_file()


def test_bench_explain_refuses_bad_input_in_one_line(tmp_path):
    cases = [(["--model", "aasist.pretrained-la19", str(tmp_path / "missing.wav")], "missing.wav"),
             (["--model", "lfcc-gmm.small", str(tmp_path)], "needs training"),
             (["--model", "aasist.pretrained-la19", "--methods", "saliency", "x.wav"], "saliency"),
             (["--run", str(tmp_path)], "run.json")]
    for args, words in cases:
        if "needs training" in words:
            (tmp_path / "a.wav").write_bytes(b"")
        result = bench("explain", *args, "--out", tmp_path / "out")
        assert result.exit_code == 2, (args, result.output)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and words in errors[0], (args, result.stderr)
        assert "Traceback" not in result.output


def test_a_detector_that_fails_is_named_and_the_others_are_explained(tone, tone_gmm, tmp_path, monkeypatch):
    from spoofbench.explain import driver

    for name in ("gmm", "broken"):
        tone_gmm.save(tmp_path / f"{name}.det")
    real = driver.explain_files

    def flaky(det, paths, out, settings, **kw):
        if kw.get("tag") == "broken":
            raise RuntimeError("simulated failure\nsecond line")
        return real(det, paths, out, settings, **kw)

    monkeypatch.setattr(driver, "explain_files", flaky)
    out = tmp_path / "out"
    result = bench("explain", "--model", tmp_path / "gmm.det", "--model", tmp_path / "broken.det",
                   tone["eval"]["path"][0], "--out", out)
    assert result.exit_code == 3, result.output
    assert "error: broken: simulated failure" in result.stderr and "second line" not in result.stderr
    saved = json.loads((out / "explain.json").read_text())["systems"]
    assert saved["broken"]["error"] == "simulated failure" and saved["gmm"]["files"]["files"]
