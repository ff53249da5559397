"""AASIST model: parameter counts, official key names, the shipped weights, outputs equal to the official
code's (recorded fixtures), freq_aug only in training, ``from_official`` and its errors."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from spoofbench.detectors.aasist import VARIANTS, AASISTModel, from_official, mel_sinc_filters
from spoofbench.detectors.aasist.model import AASISTConfig, GraphPool, frames_after_encoder
from spoofbench.detectors.aasist.official import SHIPPED
from spoofbench.detectors.neural.pretrained import weights_path
from spoofbench.protocols.errors import BenchError

FIXTURES = Path(__file__).parent / "fixtures"
OFFICIAL = json.loads((FIXTURES / "aasist_official_outputs.json").read_text())
_spec = importlib.util.spec_from_file_location("aasist_inputs", FIXTURES / "aasist_make_official_outputs.py")
inputs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(inputs)

#: file in the package -> (variant, weights name)
FILES = {"AASIST.pth": ("aasist", "aasist-la19"), "AASIST-L.pth": ("aasist-l", "aasist-l-la19"),
         "AASIST-ASVspoof5.pth": ("asvspoof5", "aasist-asv5")}

#: The official state_dict keys of AASIST (per module prefix: how many tensors), from the official file.
OFFICIAL_PREFIXES = {"first_bn": 5, "pos_S": 1, "master1": 1, "master2": 1, "GAT_layer_S": 12, "GAT_layer_T": 12,
                     "HtrgGAT_layer_ST11": 25, "HtrgGAT_layer_ST12": 25, "HtrgGAT_layer_ST21": 25,
                     "HtrgGAT_layer_ST22": 25, "pool_S": 2, "pool_T": 2, "pool_hS1": 2, "pool_hT1": 2,
                     "pool_hS2": 2, "pool_hT2": 2, "out_layer": 2, "encoder": 83}


def shipped(filename: str) -> Path:
    return weights_path(FILES[filename][1])


def test_parameter_counts_of_the_published_networks():
    counts = {name: sum(p.numel() for p in AASISTModel(cfg).parameters()) for name, cfg in VARIANTS.items()}
    assert counts == {"aasist": 297_866, "aasist-l": 85_306, "asvspoof5": 297_866}


def test_official_key_names_and_the_fixed_filters_are_not_in_the_state_dict():
    keys = list(AASISTModel().state_dict())
    prefixes = {}
    for k in keys:
        prefixes[k.split(".")[0]] = prefixes.get(k.split(".")[0], 0) + 1
    assert prefixes == OFFICIAL_PREFIXES
    assert "encoder.0.0.conv1.weight" in keys and "encoder.0.0.bn1.weight" not in keys  # first block: no bn1
    assert [i for i in range(6) if f"encoder.{i}.0.conv_downsample.weight" in keys] == [0, 2]  # 1->32, 32->64
    assert "HtrgGAT_layer_ST11.att_weightM" in keys and not any("band_pass" in k for k in keys)


@pytest.mark.parametrize("filename", FILES)
def test_each_shipped_file_loads_as_saved(filename):
    state = torch.load(shipped(filename), map_location="cpu", weights_only=True)
    model = AASISTModel(VARIANTS[FILES[filename][0]])
    expected = model.state_dict()
    assert set(state) == set(expected)
    assert all(tuple(state[k].shape) == tuple(v.shape) for k, v in expected.items())
    model.load_state_dict(state)  # strict


def test_sinc_filters_are_mel_spaced_band_passes():
    filters = mel_sinc_filters(70, 129, 16000).double()
    assert filters.shape == (70, 129) and filters.dtype == torch.float64
    assert torch.allclose(filters, filters.flip(1))  # symmetric (linear phase)
    response = torch.fft.rfft(filters, n=4096).abs()  # 16000 / 4096 Hz per bin
    peaks = response.argmax(dim=1).double() * 16000 / 4096
    assert bool((peaks[1:] >= peaks[:-1]).all()) and 4000 < float(peaks[-1]) <= 8000
    assert float(peaks[35]) < 2500  # Mel spacing: half the filters below ~2.5 kHz
    assert torch.equal(AASISTModel().conv_time.band_pass, mel_sinc_filters(70, 129, 16000))


@pytest.mark.parametrize("filename", FILES)
def test_outputs_equal_the_official_code_within_1e5(filename):
    record = OFFICIAL["outputs"][filename]
    assert record["variant"] == FILES[filename][0]
    batch = torch.from_numpy(np.stack([inputs.make_input(r) for r in OFFICIAL["inputs"]]))
    assert batch.shape == (4, 64600) and batch.dtype == torch.float32
    model = from_official(shipped(filename), variant=record["variant"]).model_
    assert not model.training
    with torch.no_grad():
        got = model(batch).double().numpy()
    want = np.array(record["logits"])
    assert got.shape == want.shape == (4, 2)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    # one utterance alone gives its row of the batch (eval mode: utterances are independent)
    with torch.no_grad():
        alone = model(batch[2:3]).double().numpy()
    np.testing.assert_allclose(alone[0], want[2], rtol=0, atol=1e-5)


def test_the_short_input_is_tiled_by_the_official_rule():
    recipe = next(r for r in OFFICIAL["inputs"] if r["name"] == "short_tiled")
    raw = inputs.raw_input(recipe)
    padded = inputs.make_input(recipe)
    assert len(raw) < 64600 and len(padded) == 64600
    np.testing.assert_array_equal(padded[len(raw):2 * len(raw)], raw)
    from spoofbench.detectors.neural.data import fit_length  # the engine's rule is the same
    np.testing.assert_array_equal(fit_length(raw, 64600), padded)


def test_freq_aug_masks_a_band_only_in_training():
    torch.manual_seed(0)
    model = AASISTModel(AASISTConfig(freq_aug=True))
    x = torch.randn(1, 1, 2000)
    front = model.conv_time
    plain = front(x)
    masked = [front(x, mask_band=True) for _ in range(20)]
    zeroed = [int((m.abs().sum(dim=2) == 0).sum()) for m in masked]
    assert max(zeroed) > 0 and max(zeroed) < 20 and all(z <= 19 for z in zeroed)
    for m in masked:  # the bands not masked are untouched
        kept = m.abs().sum(dim=2) != 0
        assert torch.equal(m[kept], plain[kept])

    waves = torch.randn(2, 16000) * 0.1
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(waves), model(waves))  # eval: no masking, no dropout
    calls = []
    original = front.forward
    front.forward = lambda x, mask_band=False: calls.append(mask_band) or original(x, mask_band)
    model.train()
    model(waves)
    model.eval()
    with torch.no_grad():
        model(waves)
    off = AASISTModel(AASISTConfig(freq_aug=False))
    off.conv_time.forward = lambda x, mask_band=False: calls.append(mask_band) or original(x, mask_band)
    off.train()
    off(waves)
    assert calls == [True, False, False]


def test_graph_pool_keeps_the_top_nodes_in_descending_order():
    pool = GraphPool(0.5, 3, dropout=0.0)
    with torch.no_grad():
        pool.proj.weight.copy_(torch.tensor([[1.0, 0.0, 0.0]]))
        pool.proj.bias.zero_()
    h = torch.tensor([[[0.0, 1, 1], [3.0, 1, 1], [1.0, 1, 1], [2.0, 1, 1]]])
    out = pool(h)
    assert out.shape == (1, 2, 3)
    expected = torch.tensor([[3.0, 1, 1], [2.0, 1, 1]]) * torch.sigmoid(torch.tensor([[3.0], [2.0]]))
    assert torch.allclose(out[0], expected)


def test_temporal_node_count():
    assert frames_after_encoder(64600) == 29  # the official input: 29 temporal nodes
    model = AASISTModel().eval()
    with torch.no_grad():
        assert model.encode(torch.zeros(1, 64600)).shape == (1, 64, 23, 29)


def test_from_official_errors(tmp_path):
    with pytest.raises(BenchError, match="unknown AASIST variant 'huge'"):
        from_official(shipped("AASIST.pth"), variant="huge")
    with pytest.raises(BenchError, match=r"not an AASIST aasist-l checkpoint.*shape mismatches.*look like "
                                         r"variant 'aasist'"):
        from_official(shipped("AASIST.pth"), variant="aasist-l")
    other = tmp_path / "other.pth"
    torch.save({"gru.weight_ih_l0": torch.zeros(3, 3), "fc.bias": torch.zeros(2)}, other)
    with pytest.raises(BenchError, match=r"other\.pth: not an AASIST checkpoint"):
        from_official(other)
    partial = tmp_path / "partial.pth"
    state = torch.load(shipped("AASIST.pth"), map_location="cpu", weights_only=True)
    del state["out_layer.bias"]
    torch.save(state, partial)
    with pytest.raises(BenchError, match=r"1 missing keys \(e\.g\. out_layer\.bias\)"):
        from_official(partial)
    pickled = tmp_path / "pickled.pth"
    torch.save({"note": _NotATensor()}, pickled)
    with pytest.raises(BenchError, match="refused"):
        from_official(pickled)
    with pytest.raises(BenchError, match="not found"):
        from_official(tmp_path / "missing.pth")


class _NotATensor:
    pass


def test_from_official_gives_a_fitted_detector_of_the_variant():
    det = from_official(shipped("AASIST-L.pth"), variant="AASIST-L", device="cpu")
    assert det.is_fitted and det.gat_dims == [24, 32] and det.n_parameters() == 85_306
    assert det.get_params()["device"] == "cpu"
    assert set(SHIPPED) == {"aasist-la19", "aasist-l-la19", "aasist-asv5"}


def test_a_training_step_equals_the_official_one():
    """Training mode (dropout off so that it is deterministic, BatchNorm on batch statistics): the same
    logits, loss and gradient of every parameter as the official code (bn1 gets none in either)."""
    record = OFFICIAL["training_step"]
    batch = torch.from_numpy(np.stack([inputs.make_input(r) for r in OFFICIAL["inputs"]]))
    model = from_official(shipped("AASIST.pth")).model_
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.train()
    logits = model(batch)
    loss = torch.nn.CrossEntropyLoss(weight=torch.tensor([0.1, 0.9]))(logits, torch.tensor(record["labels"]))
    loss.backward()
    np.testing.assert_allclose(logits.detach().double().numpy(), np.array(record["logits"]), rtol=0, atol=1e-4)
    assert float(loss.detach()) == pytest.approx(record["loss"], rel=1e-5)
    got = {k: (None if p.grad is None else float(p.grad.double().norm())) for k, p in model.named_parameters()}
    assert got.keys() == record["grad_norms"].keys()
    assert [k for k, v in got.items() if v is None] == [k for k, v in record["grad_norms"].items() if v is None]
    for key, want in record["grad_norms"].items():
        if want is None:
            continue
        if _feeds_batch_norm(key):  # mathematically zero (BatchNorm removes any shift): rounding noise on both
            assert got[key] < 1e-3 and want < 1e-3, key
        else:
            assert got[key] == pytest.approx(want, rel=1e-3, abs=1e-9), key


def _feeds_batch_norm(key: str) -> bool:
    """A bias added right before a BatchNorm that runs on batch statistics."""
    return key.endswith(("conv1.bias", "proj_with_att.bias", "proj_without_att.bias"))


def test_every_shipped_file_is_declared_package_data():
    """A wheel holds the weights, configs, licences and README only if pyproject's package-data names them
    (checked once by hand: pip wheel . lists all 10 files under spoofbench/detectors/aasist/weights/)."""
    import fnmatch

    import tomllib

    root = Path(__file__).resolve().parent.parent
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "spoofbench.detectors.aasist.weights"]
    folder = root / "detectors" / "aasist" / "weights"
    data = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix != ".py")
    assert {"AASIST.pth", "AASIST-L.pth", "AASIST-ASVspoof5.pth", "LICENSE.clovaai-aasist", "NOTICE.clovaai-aasist",
            "LICENSE.asvspoof5-baseline-aasist", "README.md"} <= set(data)
    assert [n for n in data if not any(fnmatch.fnmatch(n, g) for g in globs)] == []
    for weights in SHIPPED.values():
        assert (folder / weights.filename).is_file()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_first_block_in_evaluation_equals_its_layers_applied_one_by_one(dtype):
    """Evaluation runs the first block's shortcut as a 33rd input channel of conv2 (fast_ops.first_block_eval)."""
    import torch.nn.functional as F

    from spoofbench.detectors.aasist.model import ResidualBlock

    torch.manual_seed(0)
    block = ResidualBlock(1, 32, first=True).to(dtype)
    with torch.no_grad():
        block.bn2.running_mean.normal_(0, 0.3)
        block.bn2.running_var.uniform_(0.5, 1.5)
        block.bn2.weight.uniform_(0.5, 1.5)
        block.bn2.bias.normal_(0, 0.3)
    x = torch.randn(2, 1, 5, 31, dtype=dtype)
    with torch.no_grad():
        want = block.conv2(F.selu(block.bn2.eval()(block.conv1(x))))
        want = F.max_pool2d(want + block.conv_downsample(x), (1, 3))
        got = block.eval()(x)
    assert got.shape == want.shape == (2, 32, 5, 10)
    assert got.is_contiguous(memory_format=torch.channels_last)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    assert (got - want).abs().max() <= tolerance * want.abs().max()


@pytest.mark.parametrize("samples", [129, 1000, 64600])
def test_the_sinc_correlation_by_fft_equals_conv1d(samples):
    """Evaluation runs the sinc front end by overlap-save FFTs (fast_ops.correlate_fft), training by conv1d."""
    import torch.nn.functional as F

    from spoofbench.detectors.aasist.fast_ops import correlate_fft

    torch.manual_seed(samples)
    x = torch.randn(2, 1, samples)
    filters = mel_sinc_filters(70, 129, 16000)[:69]
    want = F.conv1d(x, filters.unsqueeze(1))
    got = correlate_fft(x, filters)
    assert got.shape == want.shape == (2, 69, samples - 128)
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()
    front_end = AASISTModel().conv_time
    assert torch.equal(front_end.eval()(x), got[:, :front_end.computed_filters])  # the eval path
    assert torch.equal(front_end.train()(x), F.conv1d(x, filters[:front_end.computed_filters].unsqueeze(1)))
