"""The neural engine serves a network family that supplies only its nn.Module and hyperparameters (what the CPU
runs natively: test_cpu_isa.py)."""
import numpy as np
import torch
import torch.nn as nn
from test_rawnet2_training import synthetic_trials

from spoofbench.detectors.neural import NeuralDetector


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
