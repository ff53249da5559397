"""The neural engine serves a network family that supplies only its nn.Module and hyperparameters (what the CPU
runs natively: test_cpu_isa.py)."""

import numpy as np
import pytest
import torch
import torch.nn as nn
from test_rawnet2_training import synthetic_trials

from spoofbench.detectors.neural import NeuralDetector
from spoofbench.detectors.neural.data import fit_length
from spoofbench.protocols.audio import load_audio


class TinyNet(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv1d(1, channels, kernel_size=64, stride=16)
        self.out = nn.Linear(channels, 2)

    def forward(self, x):
        return self.out(torch.relu(self.conv(x.unsqueeze(1))).mean(-1))


class TinyDetector(NeuralDetector):
    name = "tiny-net"

    def __init__(self, channels: int = 8, n_samples: int = 4000, epochs: int = 2, batch_size: int = 4,
                 lr: float = 1e-2, seed: int = 1, device: str = "cpu", checkpoint_dir=None, threads: int = 1,
                 cache_audio="auto", num_workers: int = 0, eval_batch_size: int = 8, score_mode: str = "first",
                 window_hop=None, fast_inference: str = "off", progress: bool = False, sample_rate: int = 16000):
        self.channels, self.n_samples, self.epochs = channels, n_samples, epochs
        self.batch_size, self.lr = batch_size, lr
        self.seed, self.device, self.checkpoint_dir, self.threads = seed, device, checkpoint_dir, threads
        self.cache_audio, self.num_workers, self.eval_batch_size, self.score_mode = cache_audio, num_workers, \
            eval_batch_size, score_mode
        self.window_hop, self.fast_inference, self.progress, self.sample_rate = window_hop, fast_inference, \
            progress, sample_rate

    def build_model(self):
        return TinyNet(self.channels)


def test_a_second_family_trains_resumes_scores_and_round_trips(tmp_path):
    trials = synthetic_trials(tmp_path / "audio", n=8)
    det = TinyDetector(checkpoint_dir=str(tmp_path / "ckpt"))
    recipe = det.recipe()
    assert (recipe.epochs, recipe.batch_size, recipe.lr, recipe.n_samples) == (2, 4, 1e-2, 4000)
    assert recipe.weight_decay == 1e-4  # not declared: the recipe's default
    det.fit(trials, trials)
    assert len(det.history_) == 2 and 1 <= det.best_epoch_ <= 2
    scores = det.score(trials)
    assert scores.shape == (len(trials),) and np.all(np.isfinite(scores))
    assert det.n_parameters() == 8 * 64 + 8 + 8 * 2 + 2

    # a longer run in the same folder resumes from epoch 2 and matches an uninterrupted 3-epoch run
    longer = TinyDetector(epochs=3, checkpoint_dir=str(tmp_path / "ckpt")).fit(trials, trials)
    straight = TinyDetector(epochs=3).fit(trials, trials)
    assert [h["loss"] for h in longer.history_] == [h["loss"] for h in straight.history_]
    np.testing.assert_array_equal(longer.score(trials), straight.score(trials))

    again = TinyDetector()
    again.set_state(det.get_state())
    np.testing.assert_array_equal(again.score(trials), scores)


def test_sync_batchnorm_reverts_to_each_layers_own_class():
    """DDP training on GPUs converts BatchNorm to SyncBatchNorm; the fitted model gets its 1d and 2d layers back."""
    from spoofbench.detectors.neural.training import batch_norm_kinds, revert_sync_batchnorm

    model = nn.Sequential(nn.BatchNorm1d(3), nn.Sequential(nn.BatchNorm2d(4)))
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_()
    kinds = batch_norm_kinds(model)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(synced[0], nn.SyncBatchNorm) and isinstance(synced[1][0], nn.SyncBatchNorm)
    back = revert_sync_batchnorm(synced, kinds)
    assert type(back[0]) is nn.BatchNorm1d and type(back[1][0]) is nn.BatchNorm2d
    assert back.state_dict().keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(back.state_dict()[key], value)
    assert back[0].eval()(torch.randn(2, 3)).shape == (2, 3)  # a 1d layer again: takes (batch, features)


# ---- score rules ------------------------------------------------------------------------------------------------
def test_score_rules_turn_outputs_into_scores():
    from spoofbench.detectors.neural.inference import scores_from_logits
    from spoofbench.protocols.errors import ConfigError

    logits = torch.tensor([[0.5, 2.0], [1.0, -1.0]])
    assert scores_from_logits(logits).tolist() == [1.5, -2.0]
    assert scores_from_logits(logits, "bonafide").tolist() == [2.0, -1.0]
    assert scores_from_logits(torch.tensor([[0.25], [-3.0]]), "single").tolist() == [0.25, -3.0]
    assert scores_from_logits(torch.tensor([0.25, -3.0]), "single").tolist() == [0.25, -3.0]
    with pytest.raises(ConfigError, match="score rule"):
        scores_from_logits(logits, "mean")


class OneLogitNet(TinyNet):
    def __init__(self, channels: int):
        super().__init__(channels)
        self.out = nn.Linear(channels, 1)


class OneLogitDetector(TinyDetector):
    name = "one-logit"
    score_rule = "single"

    def build_model(self):
        return OneLogitNet(self.channels)


def test_a_one_logit_family_trains_with_binary_cross_entropy_and_scores_its_logit(tmp_path):
    trials = synthetic_trials(tmp_path / "audio", n=8)
    det = OneLogitDetector(epochs=3).fit(trials, trials)
    assert all(np.isfinite(h["loss"]) for h in det.history_)
    assert det.history_[-1]["loss"] < det.history_[0]["loss"]  # BCE on one logit does learn
    scores = det.score(trials)
    # the score is the network's logit itself
    x = torch.from_numpy(np.stack([fit_length(load_audio(p, 16000), 4000) for p in trials["path"]]))
    with torch.no_grad():
        expected = det.model_(x).reshape(-1).double().numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


# ---- shipped pre-trained weights ------------------------------------------------------------------------------
class PretrainedTiny(TinyDetector):
    name = "pretrained-tiny"

    def __init__(self, pretrained=None, finetune_epochs: int = 0, finetune_lr=None, **kwargs):
        super().__init__(**kwargs)
        self.pretrained, self.finetune_epochs, self.finetune_lr = pretrained, finetune_epochs, finetune_lr


@pytest.fixture
def shipped_weights(tmp_path, monkeypatch):
    """Weights of a TinyNet as package data of a throwaway package, registered as 'tiny-test'."""
    import sys

    from spoofbench.detectors.neural import pretrained as pre
    from spoofbench.protocols.files import file_sha256
    monkeypatch.delitem(sys.modules, "tinyweights_pkg", raising=False)  # imported by an earlier test's folder
    package = tmp_path / "site" / "tinyweights_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    torch.manual_seed(7)
    state = TinyNet(8).state_dict()
    torch.save(state, package / "tiny.pth")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    weights = pre.PretrainedWeights("tiny-test", "tinyweights_pkg", "tiny.pth", file_sha256(package / "tiny.pth"),
                                    trained_on="nothing", source="this test", licence="none")
    monkeypatch.setitem(pre._WEIGHTS, "tiny-test", weights)
    return package / "tiny.pth", state


def test_a_pretrained_detector_scores_without_fit_and_fit_ignores_the_data(tmp_path, shipped_weights):
    path, state = shipped_weights
    trials = synthetic_trials(tmp_path / "audio", n=6)
    det = PretrainedTiny(pretrained="tiny-test")
    assert not det.needs_training and not det.is_fitted
    info = det.pretrained_info()
    assert info["sha256"] == file_sha256_of(path) and info["finetune_epochs"] == 0
    scores = det.score(trials)  # no fit: the shipped weights load on first use
    assert all(torch.equal(det.model_.state_dict()[k], v) for k, v in state.items())
    empty = trials[np.zeros(len(trials), dtype=bool)]
    np.testing.assert_array_equal(PretrainedTiny(pretrained="tiny-test").fit(empty).score(trials), scores)
    assert PretrainedTiny().pretrained_info() is None and PretrainedTiny().needs_training


def test_pretrained_weights_altered_after_installation_are_refused(tmp_path, shipped_weights):
    from spoofbench.protocols.errors import BenchError, ConfigError

    path, _ = shipped_weights
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BenchError, match="sha256"):
        PretrainedTiny(pretrained="tiny-test").score(synthetic_trials(tmp_path / "audio", n=2))
    with pytest.raises(ConfigError, match="unknown pre-trained weights 'tiny-tset'.*did you mean 'tiny-test'"):
        PretrainedTiny(pretrained="tiny-tset").pretrained_info()


def test_finetuning_starts_from_the_pretrained_weights(tmp_path, shipped_weights):
    _, state = shipped_weights
    trials = synthetic_trials(tmp_path / "audio", n=8)
    det = PretrainedTiny(pretrained="tiny-test", finetune_epochs=2, finetune_lr=1e-3)
    assert det.needs_training
    det.fit(trials, trials)
    assert len(det.history_) == 2 and all(h["lr"] == pytest.approx(1e-3) for h in det.history_)
    moved = max(float((det.model_.state_dict()[k] - v).abs().max()) for k, v in state.items())
    assert 0 < moved < 0.1  # trained, but from the shipped weights (a fresh init differs by far more)


def file_sha256_of(path):
    from spoofbench.protocols.files import file_sha256
    return file_sha256(path)


def test_a_dev_set_of_one_class_keeps_the_last_epoch_with_a_warning(tmp_path):
    trials = synthetic_trials(tmp_path / "audio", n=8)
    bona_only = trials[trials.y == 1]
    with pytest.warns(UserWarning, match="only one class"):
        det = TinyDetector(epochs=2).fit(trials, bona_only)
    assert det.best_epoch_ == 2 and np.all(np.isfinite(det.score(trials)))


def test_the_shipped_weights_table_is_complete_before_any_family_is_imported():
    # a fresh process: asking the table first must not depend on the AASIST module having been imported
    import subprocess
    import sys
    code = ("from spoofbench.detectors.neural.pretrained import known_weights, weights_path\n"
            "print(','.join(known_weights())); weights_path('aasist-la19')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert {"aasist-la19", "aasist-l-la19", "aasist-asv5"} <= set(out.strip().split(","))



class _WorkerState(torch.utils.data.Dataset):
    """What a loader worker sees: numpy's BLAS thread count."""

    def __len__(self):
        return 1

    def __getitem__(self, index):
        from threadpoolctl import threadpool_info

        return max((p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"), default=1)


def test_loader_workers_run_one_blas_thread():
    from spoofbench.detectors.neural.training import _worker_init

    loader = torch.utils.data.DataLoader(_WorkerState(), batch_size=None, num_workers=1, worker_init_fn=_worker_init)
    assert next(iter(loader)) == 1
