"""AASIST training and scoring on the engine: the official recipe's hyperparameters and per-step cosine
schedule, a tiny end-to-end run of ``aasist.small`` on the tiny demo corpus with a saved/loaded ``.det``,
and the shipped pre-trained presets (ready to score, checksum verified, a corrupted copy refused)."""
import dataclasses
import math
import shutil
import sys

import numpy as np
import pytest
import torch

from spoofbench.detectors import create_detector, load_detector
from spoofbench.detectors.neural import pretrained as pre
from spoofbench.detectors.neural.training import TrainingRecipe, make_scheduler, step_cosine_factor
from spoofbench.protocols import load_trials
from spoofbench.protocols.errors import BenchError, ConfigError

PRETRAINED = {"pretrained-la19": ("aasist-la19", 297_866), "l.pretrained-la19": ("aasist-l-la19", 85_306),
              "pretrained-asv5": ("aasist-asv5", 297_866)}


def test_the_default_preset_is_the_official_recipe():
    det = create_detector("aasist")
    cfg = det.recipe()
    assert (cfg.lr, cfg.lr_min, cfg.lr_schedule, cfg.weight_decay) == (1e-4, 5e-6, "cosine-step", 1e-4)
    assert (cfg.batch_size, cfg.epochs, cfg.n_samples, cfg.train_crop) == (24, 100, 64600, "random")
    assert cfg.bonafide_weight == 9.0 and det.score_rule == "bonafide" and det.freq_aug is False
    assert det.n_parameters() == 297_866 and create_detector("aasist.l").n_parameters() == 85_306
    assert create_detector("aasist.asvspoof5").get_params() == det.get_params()  # same network and recipe
    assert create_detector("aasist.small").n_parameters() == 46_538


def test_per_step_cosine_goes_from_lr_to_lr_min_over_all_steps():
    model = torch.nn.Linear(2, 2)
    cfg = TrainingRecipe(epochs=4, lr=1e-4, lr_min=5e-6, lr_schedule="cosine-step")
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch=5)
    lrs = []
    for _ in range(20):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    lrs.append(optimizer.param_groups[0]["lr"])
    expected = [5e-6 + (1e-4 - 5e-6) * 0.5 * (1 + math.cos(math.pi * s / 20)) for s in range(21)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-9)
    assert lrs[0] == pytest.approx(1e-4) and lrs[10] == pytest.approx((1e-4 + 5e-6) / 2)
    assert lrs[-1] == pytest.approx(5e-6)
    assert step_cosine_factor(0, 10, 0.05) == 1.0 and step_cosine_factor(10, 10, 0.05) == pytest.approx(0.05)
    # the per-epoch schedules are unchanged by lr_min: "cosine" still ends at 0
    epoch_cfg = dataclasses.replace(cfg, lr_schedule="cosine")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    assert isinstance(make_scheduler(optimizer, epoch_cfg, 5), torch.optim.lr_scheduler.CosineAnnealingLR)
    with pytest.raises(ConfigError, match="lr_min"):
        TrainingRecipe(lr=1e-4, lr_min=1e-3)


def test_bad_hyperparameters_are_one_line_errors():
    for params, message in [({"encoder_channels": [8, 8]}, "encoder_channels=.*4 positive integers"),
                            ({"pool_ratios": [0.5, 1.5, 0.5, 0.5]}, "pool_ratios=.*at most 1"),
                            ({"pretrained": "aasist-la20"}, "unknown pre-trained weights 'aasist-la20'.*"
                                                            "did you mean 'aasist-la19'"),
                            ({"lr_min": 1.0}, "lr_min=1.0"), ({"sinc_filters": 2}, "sinc_filters=2")]:
        with pytest.raises(ConfigError, match=message):
            create_detector("aasist", **params)


@pytest.fixture(scope="module")
def splits(corpus):
    return load_trials(corpus, split="train"), load_trials(corpus, split="dev"), load_trials(corpus, split="eval")


@pytest.fixture(scope="module")
def trained(splits):
    train, dev, _ = splits
    return create_detector("aasist.small", epochs=3, progress=False).fit(train, dev)


def test_a_tiny_run_trains_scores_and_round_trips_through_a_det_file(trained, splits, tmp_path):
    _, _, test = splits
    det = trained
    assert [h["epoch"] for h in det.history_] == [1, 2, 3] and 1 <= det.best_epoch_ <= 3
    assert all(np.isfinite(h["loss"]) and 0 <= h["dev_eer"] <= 1 for h in det.history_)
    # the per-step cosine: the learning rate falls every epoch, to lr_min after the last step
    lrs = [h["lr"] for h in det.history_]
    assert lrs[0] < 2e-3 and lrs[0] > lrs[1] > lrs[2] and lrs[2] == pytest.approx(5e-5)
    scores = det.score(test)
    assert scores.shape == (len(test),) and np.isfinite(scores).all() and scores.std() > 0
    path = tmp_path / "small.det"
    det.save(path)
    loaded = load_detector(path)
    np.testing.assert_allclose(loaded.score(test), scores, rtol=1e-6, atol=1e-7)
    # the score is the bona fide logit (official AASIST), not a difference of logits
    from spoofbench.detectors.neural.data import fit_length
    from spoofbench.protocols.audio import load_audio
    x = torch.from_numpy(np.stack([fit_length(load_audio(p, 16000), 16000) for p in test["path"][:3]]))
    with torch.no_grad():
        logits = det.model_.eval()(x)
    np.testing.assert_allclose(scores[:3], logits[:, 1].double().numpy(), rtol=1e-5, atol=1e-6)


def test_training_crops_are_random_windows_tiled_when_short(splits):
    det = create_detector("aasist.small", progress=False)
    train = splits[0]
    waves = det._waves(train, det.recipe(), cache=False)
    assert waves.crop_mode == "random" and waves.n_samples == 16000
    x0, _ = waves[0]
    assert x0.shape == (16000,)  # the tiny corpus' utterances (0.8-1.2 s) are tiled or cropped to 1 s


@pytest.mark.parametrize("preset", PRETRAINED)
def test_each_pretrained_preset_scores_demo_files_without_training(preset, splits):
    name, n_params = PRETRAINED[preset]
    _, _, test = splits
    subset = test[np.isin(np.arange(len(test)), [0, 1, 2, len(test) - 1])]
    det = create_detector(f"aasist.{preset}", progress=False, threads=1)
    assert not det.needs_training and not det.is_fitted
    info = det.pretrained_info()
    assert info["name"] == name and info["finetune_epochs"] == 0 and len(info["sha256"]) == 64
    assert info["licence"].startswith("MIT")
    scores = det.score_files(list(subset["path"]))  # no fit: the verified weights load on first use
    assert det.is_fitted and det.n_parameters() == n_params
    assert scores.shape == (4,) and np.isfinite(scores).all()
    official = pre.load_pretrained_state(name)
    assert all(torch.equal(det.model_.state_dict()[k], v) for k, v in official.items())
    # fit() ignores the data of a pre-trained preset used as it is
    empty = subset[np.zeros(len(subset), dtype=bool)]
    refit = create_detector(f"aasist.{preset}", progress=False, threads=1).fit(empty)
    np.testing.assert_allclose(refit.score(subset), scores, rtol=1e-6, atol=1e-6)


def test_a_corrupted_copy_of_the_shipped_weights_is_refused(tmp_path, monkeypatch, splits):
    package = tmp_path / "site" / "aasist_corrupt_weights"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    original = pre.weights_path("aasist-la19")
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 0x01
    (package / "AASIST.pth").write_bytes(bytes(data))
    monkeypatch.delitem(sys.modules, "aasist_corrupt_weights", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    moved = dataclasses.replace(pre.get_weights("aasist-la19"), package="aasist_corrupt_weights")
    monkeypatch.setitem(pre._WEIGHTS, "aasist-la19", moved)
    det = create_detector("aasist.pretrained-la19", progress=False)
    with pytest.raises(BenchError, match=r"aasist_corrupt_weights/AASIST\.pth: sha256 .* does not match the "
                                         r"expected 51d2d9cf"):
        det.score(splits[2][:2])
    # an intact copy in the same place is accepted
    shutil.copyfile(original, package / "AASIST.pth")
    assert np.isfinite(create_detector("aasist.pretrained-la19", progress=False).score(splits[2][:1])).all()


def test_bench_score_with_a_pretrained_preset_or_an_official_file(splits, tmp_path):
    from click.testing import CliRunner

    from spoofbench.benchmark.cli import cli

    paths = [str(p) for p in splits[2]["path"][:2]]
    out = tmp_path / "pre.csv"
    result = CliRunner().invoke(cli, ["score", "--detector", "aasist.l.pretrained-la19", *paths, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = out.read_text().splitlines()[1:]
    scores = np.array([float(r.split(",")[1]) for r in rows])
    assert len(rows) == 2 and np.isfinite(scores).all()
    import json
    summary = json.loads((tmp_path / "pre.summary.json").read_text())
    assert summary["pretrained"]["name"] == "aasist-l-la19" and summary["pretrained"]["sha256"].startswith("814331d0")
    # the same file given as an official checkpoint gives the same scores
    official = tmp_path / "official.csv"
    result = CliRunner().invoke(cli, ["score", "--detector", "aasist.l", "--official-checkpoint",
                                      str(pre.weights_path("aasist-l-la19")), *paths, "--out", str(official)])
    assert result.exit_code == 0, result.output
    again = np.array([float(r.split(",")[1]) for r in official.read_text().splitlines()[1:]])
    np.testing.assert_allclose(again, scores, rtol=1e-6, atol=1e-6)
    # a preset that needs training needs a file
    result = CliRunner().invoke(cli, ["score", "--detector", "aasist.small", *paths])
    assert result.exit_code != 0 and "not a pre-trained preset" in result.output


class _Interrupt(Exception):
    pass


def test_resume_mid_run_gives_the_same_numbers_with_per_step_cosine_and_freq_aug(splits, tmp_path):
    import os

    train, dev, _ = splits
    train, dev = train[np.arange(len(train)) % 3 == 0], dev[:8]
    params = dict(n_samples=8000, batch_size=4, eval_batch_size=8, epochs=3, freq_aug=True, progress=False, seed=5)
    full = create_detector("aasist.small", **params, checkpoint_dir=str(tmp_path / "a")).fit(train, dev)
    broken = create_detector("aasist.small", **params, checkpoint_dir=str(tmp_path / "b"))

    def stop(epoch, batch, loss):
        if epoch == 1 and batch == 1:  # in the middle of the second epoch
            raise _Interrupt

    broken._on_batch_end = stop
    with pytest.raises(_Interrupt):
        broken.fit(train, dev)
    assert sorted(os.listdir(tmp_path / "b")) == ["epoch_0001.pt", "epoch_0001.pt.sha256"]
    resumed = create_detector("aasist.small", **params, checkpoint_dir=str(tmp_path / "b")).fit(train, dev)
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in full.history_]
    assert [h["lr"] for h in resumed.history_] == [h["lr"] for h in full.history_]
    np.testing.assert_array_equal(resumed.score(dev), full.score(dev))
    # freq_aug and the crops draw from the seeded generators: another seed trains otherwise
    other = create_detector("aasist.small", **{**params, "seed": 6}).fit(train, dev)
    assert [h["loss"] for h in other.history_] != [h["loss"] for h in full.history_]


def test_finetuning_a_pretrained_preset_starts_from_the_shipped_weights(splits):
    train, dev, _ = splits
    def both_classes(table, n):
        return table[np.concatenate([np.flatnonzero(table.y == 1)[:n], np.flatnonzero(table.y == 0)[:n]])]

    train, dev = both_classes(train, 4), both_classes(dev, 2)
    assert set(train.y.tolist()) == set(dev.y.tolist()) == {0, 1}
    det = create_detector("aasist.l.pretrained-la19", finetune_epochs=1, n_samples=16000, batch_size=4,
                          eval_batch_size=4, progress=False)
    assert det.needs_training and det.pretrained_info()["finetune_epochs"] == 1
    det.fit(train, dev)
    assert len(det.history_) == 1 and np.isfinite(det.history_[0]["loss"])
    assert det.history_[0]["lr"] == pytest.approx(5e-6)  # the per-step cosine from lr / 10 ends at lr_min
    shipped = pre.load_pretrained_state("aasist-l-la19")
    moved = max(float((det.model_.state_dict()[k].double() - v.double()).abs().max())
                for k, v in shipped.items() if v.is_floating_point() and "running" not in k)
    assert 0 < moved < 1e-2  # two small steps from the shipped weights


def test_distributed_training_with_two_gloo_processes(corpus, tmp_path):
    """DistributedDataParallel runs AASIST (bn1 of blocks 1-5 gets no gradient: DDP is told) and rank 0 writes
    a usable detector."""
    import os
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "spoofbench.detectors.neural.distributed", "train", str(corpus), "--detector", "aasist.small",
           "--set", "epochs=1", "--set", "n_samples=8000", "--set", "batch_size=8", "--set", "progress=false",
           "--out", str(tmp_path / "ddp.det")]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    evals = load_trials(corpus, split="eval")[:4]
    assert np.isfinite(load_detector(tmp_path / "ddp.det").score(evals)).all()
