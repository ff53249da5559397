"""Training with augmentation: neural detectors augment each crop on the fly (a function of seed, epoch and
utterance, the same with loader workers), GMM baselines add cached augmented copies; the augmentation is part of
what identifies a trained model."""
import numpy as np
import pytest
import torch
from _easy_corpus import easy_split
from test_neural_engine import TinyDetector

import spoofbench
from spoofbench.detectors.neural.data import TrainingWaves
from spoofbench.detectors.neural.training import run_fingerprint
from spoofbench.protocols.errors import ConfigError


class AugmentedTiny(TinyDetector):
    def __init__(self, augment=None, **kwargs):
        super().__init__(**kwargs)
        self.augment = augment


@pytest.fixture(scope="module")
def trials(tmp_path_factory):
    return easy_split(tmp_path_factory.mktemp("easy"), "train", n_per_class=4, seed=0)


def test_training_waves_augment_per_epoch_and_utterance(trials):
    aug = spoofbench.augment.parse_augment("noise:white@10dB")
    waves = TrainingWaves(trials["path"], trials.y, 4000, 16000, seed=3, augment=aug)
    clean = TrainingWaves(trials["path"], trials.y, 4000, 16000, seed=3)
    first = waves[0][0].numpy()
    assert first.shape == (4000,) and not np.array_equal(first, clean[0][0].numpy())
    snr = 10 * np.log10(np.mean(clean[0][0].numpy() ** 2) / np.mean((first - clean[0][0].numpy()) ** 2))
    assert abs(snr - 10) < 0.5
    assert np.array_equal(first, waves[0][0].numpy())  # same epoch, same draw
    waves.epoch = 1
    assert not np.array_equal(first, waves[0][0].numpy())  # next epoch, a new draw
    # a length-changing transform is cut or tiled back to the crop length
    stretched = TrainingWaves(trials["path"], trials.y, 4000, 16000,
                              augment=spoofbench.augment.parse_augment("stretch:1.2"))
    assert stretched[1][0].shape == (4000,)


def test_neural_training_with_augmentation_is_deterministic_and_differs(trials):
    plain = AugmentedTiny().fit(trials)
    boosted = AugmentedTiny(augment="rawboost:3").fit(trials)
    again = AugmentedTiny(augment="rawboost:3").fit(trials)
    assert [h["loss"] for h in boosted.history_] == [h["loss"] for h in again.history_]
    assert [h["loss"] for h in boosted.history_] != [h["loss"] for h in plain.history_]
    np.testing.assert_array_equal(boosted.score(trials), again.score(trials))


def test_loader_workers_see_the_same_augmented_data(trials):
    aug = spoofbench.augment.parse_augment("0.5*rawboost:5+0.5*noise:pink@15dB")
    waves = TrainingWaves(trials["path"], trials.y, 4000, 16000, seed=2, augment=aug)
    waves.epoch = 4
    inline = torch.stack([waves[i][0] for i in range(len(waves))])
    backwards = torch.stack([waves[i][0] for i in reversed(range(len(waves)))]).flip(0)
    loader = torch.utils.data.DataLoader(waves, batch_size=3, num_workers=2)
    in_workers = torch.cat([x for x, _ in loader])
    assert torch.equal(inline, backwards) and torch.equal(inline, in_workers)


def test_augmentation_changes_the_training_fingerprint():
    det = AugmentedTiny(augment="rawboost:3")
    with_aug = run_fingerprint(det.architecture(), det.recipe(), ["a"], ["b"])
    det.augment = None
    without = run_fingerprint(det.architecture(), det.recipe(), ["a"], ["b"])
    det.augment = "rawboost:5"
    other = run_fingerprint(det.architecture(), det.recipe(), ["a"], ["b"])
    assert len({with_aug, without, other}) == 3


def test_babble_is_bound_to_the_bona_fide_training_files(trials):
    det = AugmentedTiny(augment="noise:babble@5dB", epochs=1).fit(trials)
    assert np.isfinite(det.history_[0]["loss"])


@pytest.mark.parametrize("name", ["rawnet2.small", "aasist.small", "lfcc-lcnn.small", "lfcc-gmm.small",
                                  "cqcc-gmm.small"])
def test_every_builtin_family_accepts_augment(name):
    family = name.split(".")[0]
    if family not in spoofbench.list_detectors():
        pytest.fail(f"{family} is not registered")
    det = spoofbench.create_detector(name, augment="rawboost:3")
    assert det.get_params()["augment"] == "rawboost:3"
    with pytest.raises(ConfigError, match=r"augment: unknown transform 'rawbost'.*did you mean 'rawboost'"):
        spoofbench.create_detector(name, augment="rawbost:3")


def test_gmm_augmented_copies_are_cached_and_reused(trials, tmp_path):
    def fit(**kw):
        det = spoofbench.create_detector("lfcc-gmm.small", n_components=4, n_iter=2, init_frames=500, n_jobs=1,
                                         device="cpu", progress=False, cache_dir=str(tmp_path / "cache"), **kw)
        return det.fit(trials)

    plain = fit()
    boosted = fit(augment="noise:white@5dB", augment_copies=2)
    aug_dirs = list((tmp_path / "cache").glob("lfcc-*/aug-*"))
    assert len(aug_dirs) == 1 and len(list(aug_dirs[0].glob("*.feat"))) == 2 * len(trials)
    stamps = {p: p.stat().st_mtime_ns for p in aug_dirs[0].glob("*.feat")}
    again = fit(augment="noise:white@5dB", augment_copies=2)
    assert {p: p.stat().st_mtime_ns for p in aug_dirs[0].glob("*.feat")} == stamps  # reused, not rewritten
    np.testing.assert_allclose(again.score(trials), boosted.score(trials), rtol=1e-6)
    assert not np.allclose(boosted.score(trials), plain.score(trials))
    fit(augment="noise:white@10dB")
    assert len(list((tmp_path / "cache").glob("lfcc-*/aug-*"))) == 2  # another spec, another cache folder


def test_gmm_augment_copies_must_be_positive():
    with pytest.raises(ConfigError, match="augment_copies=0"):
        spoofbench.create_detector("lfcc-gmm.small", augment="rawboost:3", augment_copies=0)


def test_global_generators_untouched_by_augmentation(trials):
    """Augmentation draws from its own generators: the global torch and numpy streams are left alone."""
    aug = spoofbench.augment.parse_augment("rawboost:4")

    def next_draws(augment):
        torch.manual_seed(0)
        np.random.seed(0)
        if augment:
            TrainingWaves(trials["path"], trials.y, 4000, 16000, augment=aug)[0]
        return torch.rand(1).item(), np.random.rand()

    assert next_draws(True) == next_draws(False)


def test_bench_run_checks_augment_before_reading_the_corpus(tmp_path):
    from _tiny_corpus import bench

    res = bench("run", "--detectors", "rawnet2.small,lfcc-gmm.small", "--data", tmp_path / "no-corpus",
                "--set", "rawnet2.small.augment=0.5*rawboost:3+0.6*codec:gsm", "--out", tmp_path / "out")
    assert res.exit_code == 2
    assert "rawnet2" in res.output and "add up to 1.1" in res.output
    assert len([ln for ln in res.output.splitlines() if "error" in ln.lower()]) == 1
