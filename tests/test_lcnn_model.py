"""The LFCC-LCNN network against the official NII code (asvspoof-challenge/2021 LA baseline), through numbers
recorded from it once (tests/fixtures/lcnn_official_structure.json, made by lcnn_official_record.py):
parameter count, every layer's output shape, the LFCC front end on a fixed signal, and the outputs under
fixed weights loaded by name mapping."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from spoofbench.detectors.frontends import deltas as numpy_deltas
from spoofbench.detectors.lcnn.model import LCNNConfig, LCNNModel, deltas
from spoofbench.detectors.lcnn.official import load_official_state, official_to_ours, ours_to_official
from spoofbench.protocols.errors import BenchError

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = json.loads((FIXTURES / "lcnn_official_structure.json").read_text())
# the test signal and the deterministic weights are the recording script's own (one definition of the inputs)
_spec = importlib.util.spec_from_file_location("lcnn_official_record", FIXTURES / "lcnn_official_record.py")
_record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_record)
signal, pattern = _record.signal, _record.pattern


def official_pattern_state():
    """The fixture's weights under the official key names (plus the BN counters the official file holds)."""
    shapes = FIXTURE["parameters"]["per_tensor"]
    state = {}
    for k, key in enumerate(sorted(shapes)):
        if key in FIXTURE["outputs"]["keys"]:
            kind = key.rsplit(".", 1)[1]
            state[key] = torch.from_numpy(pattern(tuple(shapes[key]), k, "bias" if kind.startswith("bias") else kind))
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
    return state


def test_learned_parameter_count_equals_the_official():
    model = LCNNModel()
    assert sum(p.numel() for p in model.parameters()) == FIXTURE["parameters"]["trainable"] == 269729
    assert all(p.requires_grad for p in model.parameters())


def test_every_learned_official_tensor_has_our_counterpart_with_its_shape():
    ours = LCNNModel().state_dict()
    official = FIXTURE["parameters"]["per_tensor"]
    mapped = {official_to_ours(k): shape for k, shape in official.items() if official_to_ours(k) is not None}
    assert set(mapped) == set(ours)
    for key, shape in mapped.items():
        assert list(ours[key].shape) == shape, key
        assert ours_to_official(key) in official
    frozen = {k for k, flag in FIXTURE["parameters"]["requires_grad"].items() if not flag}
    assert {k for k in official if official_to_ours(k) is None} >= frozen  # front end and scalars only


def test_layer_by_layer_output_shapes_equal_the_official():
    model = LCNNModel().eval()
    seen = []

    def hook(name):
        def record(_module, _inputs, output):
            seen.append({"layer": name, "type": type(_module).__name__,
                         "shape": list((output[0] if isinstance(output, tuple) else output).shape)})
        return record

    layers = [("m_frontend.0", model.frontend)] + [(f"m_transform.0.{i}", m) for i, m in enumerate(model.lcnn)]
    layers += [(f"m_before_pooling.0.{i}", m) for i, m in enumerate(model.blstm)] + [("m_output_act.0", model.out)]
    for name, module in layers:
        module.register_forward_hook(hook(name))
    x = torch.from_numpy(np.stack([signal(16000), signal(16000, 1.0)]))
    with torch.no_grad():
        assert model(x).shape == (2,)
    expected = FIXTURE["layer_shapes"]["layers"]
    assert [s["layer"] for s in seen] == [e["layer"] for e in expected]
    assert [s["shape"] for s in seen] == [e["shape"] for e in expected]
    # the same kinds of layer (our names for the official block classes)
    kinds = {"MaxFeatureMap": "MaxFeatureMap2D", "BLSTM": "BLSTMLayer", "LCNNModel": "Model"}
    assert [kinds.get(s["type"], s["type"]) for s in seen] == [e["type"] for e in expected]


def test_lfcc_inside_the_model_equals_the_official_front_end():
    ref = np.array(FIXTURE["lfcc"]["values"])
    with torch.no_grad():
        ours = LCNNModel().frontend(torch.from_numpy(signal(4000))[None])[0].numpy()
    assert ours.shape == ref.shape == (26, 60)  # 1 + 4000 // 160 centred frames, 20 x (static, delta, delta-delta)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-5 * np.abs(ref).max())
    np.testing.assert_allclose(ours[:, :20], ref[:, :20], rtol=1e-4, atol=1e-5)


def test_outputs_under_fixed_weights_equal_the_official():
    model = LCNNModel().eval()
    load_official_state(model, official_pattern_state(), source="fixture")
    w1, w2 = signal(12000), signal(9000, 0.5)
    padded = np.zeros(12000, np.float32)
    padded[:9000] = w2
    with torch.no_grad():
        batch = model(torch.from_numpy(np.stack([w1, padded]))).numpy()
        single = model(torch.from_numpy(w2)[None]).numpy()
    np.testing.assert_allclose(batch, FIXTURE["outputs"]["batch_signal_12000_and_signal_9000_zero_padded"],
                               rtol=0, atol=1e-5)
    np.testing.assert_allclose(single, FIXTURE["outputs"]["single_signal_9000"], rtol=0, atol=1e-5)
    assert abs(batch[1] - single[0]) > 1e-3  # zero padding changes the score, in the official code too


def test_official_state_with_another_filter_bank_or_shape_is_a_one_line_error():
    model = LCNNModel()
    state = official_pattern_state()
    state["m_frontend.0.lfcc_fb"] = torch.zeros(256, 20)
    with pytest.raises(BenchError, match="filter bank differs"):
        load_official_state(model, state, source="x.pt")
    state = official_pattern_state()
    del state["m_output_act.0.bias"]
    with pytest.raises(BenchError, match=r"x.pt: .*1 missing keys \(e.g. m_output_act.0.bias\)"):
        load_official_state(model, state, source="x.pt")
    with pytest.raises(BenchError, match="shape mismatches"):
        load_official_state(LCNNModel(LCNNConfig(channels=(8,) * 9)), official_pattern_state(), source="x.pt")


def test_torch_deltas_equal_the_project_unnormalised_deltas():
    x = np.random.default_rng(0).standard_normal((2, 7, 5)).astype(np.float32)
    ours = deltas(torch.from_numpy(x)).numpy()
    for b in range(2):
        np.testing.assert_allclose(ours[b], numpy_deltas(x[b], 1, normalize=False), rtol=0, atol=1e-6)


def test_variable_lengths_frames_and_short_inputs():
    model = LCNNModel(LCNNConfig(channels=(4,) * 9)).eval()
    with torch.no_grad():
        for n in (2400, 4000, 7777):
            assert model.frontend(torch.zeros(1, n)).shape == (1, 1 + n // 160, 60)
            assert model(torch.from_numpy(signal(n))[None]).shape == (1,)
        short = model(torch.from_numpy(signal(300))[None])  # zero-padded to the 16 frames four poolings need
        padded = np.zeros(2400, np.float32)
        padded[:300] = signal(300)
        np.testing.assert_allclose(short.numpy(), model(torch.from_numpy(padded)[None]).numpy(), atol=1e-6)


def test_from_official_reads_an_official_state_dict_file(tmp_path):
    from spoofbench.detectors.lcnn import from_official
    from spoofbench.detectors.lcnn.detector import LFCCLCNN

    path = tmp_path / "trained_network.pt"
    state = official_pattern_state()
    state["m_frontend.0.lfcc_fb"] = LCNNModel().frontend.filterbank.clone()  # as the official file holds it
    torch.save(state, path)
    w2 = signal(9000, 0.5)
    with torch.no_grad():
        out = from_official(path)(torch.from_numpy(w2)[None]).numpy()
    np.testing.assert_allclose(out, FIXTURE["outputs"]["single_signal_9000"], rtol=0, atol=1e-5)
    det = LFCCLCNN.from_official(path, progress=False)
    assert det.is_fitted and det.n_parameters() == 269729
