"""LFCC-LCNN on the neural engine: whole-utterance batches (zero-padded collate, length-block order), the step
learning-rate schedule, early stopping, whole-utterance scoring, and a tiny end-to-end train of
``lfcc-lcnn.small`` on the tiny corpus with save/load."""
import dataclasses

import numpy as np
import pytest
import torch

from spoofbench import load_trials
from spoofbench.detectors import create_detector, load_detector
from spoofbench.detectors.neural import training
from spoofbench.detectors.neural.data import TrainingWaves, length_block_order, pad_batch
from spoofbench.detectors.neural.inference import score_paths
from spoofbench.detectors.neural.training import TrainingRecipe, run_fingerprint
from spoofbench.protocols.audio import load_audio, write_audio
from spoofbench.protocols.errors import ConfigError
from spoofbench.protocols.trials import TrialTable

TINY = dict(channels=[4, 4, 4, 4, 4, 4, 4, 4, 4], dropout=0.0, batch_size=4, lr=1e-2, progress=False, threads=1,
            amp=False, device="cpu")


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    """Ten utterances of 0.2-1.1 s: bona fide tones, spoof square waves."""
    folder = tmp_path_factory.mktemp("lcnn-audio")
    rng = np.random.default_rng(0)
    records = []
    for i in range(10):
        bona = i % 2 == 0
        t = np.arange(int(rng.integers(3200, 17600))) / 16000
        tone = np.sin(2 * np.pi * rng.uniform(110, 220) * t)
        path = folder / f"u{i}.wav"
        write_audio(path, 0.3 * (tone if bona else np.sign(tone)) + 0.005 * rng.standard_normal(len(t)), 16000)
        records.append(dict(utt_id=f"u{i}", path=str(path), label="bonafide" if bona else "spoof",
                            attack="-" if bona else "A01", speaker="s", split="train"))
    return TrialTable.from_records(records)


def test_length_block_order_sorts_blocks_and_shuffles_by_seed_and_epoch():
    lengths = np.random.default_rng(1).integers(100, 10_000, size=37)
    order = length_block_order(lengths, batch_size=2, seed=5, epoch=0).numpy()
    assert sorted(order.tolist()) == list(range(37))  # a permutation
    by_length = np.argsort(lengths, kind="stable")
    blocks = [set(by_length[i:i + 8].tolist()) for i in range(0, 37, 8)]
    got = [set(order[i:i + 8].tolist()) for i in range(0, 37, 8)]
    assert sorted(map(sorted, got)) == sorted(map(sorted, blocks))  # each block = 8 neighbours in length
    assert got[-1] == blocks[-1]  # the partial block stays last, as the official sampler
    assert np.array_equal(order, length_block_order(lengths, 2, 5, 0).numpy())
    assert not np.array_equal(order, length_block_order(lengths, 2, 5, 1).numpy())


def test_pad_batch_zero_pads_to_the_longest():
    waves, labels = pad_batch([(torch.ones(3), 1), (torch.full((5,), 2.0), 0)])
    assert waves.tolist() == [[1, 1, 1, 0, 0], [2, 2, 2, 2, 2]] and labels.tolist() == [1, 0]


def test_whole_utterances_keep_their_lengths(varied):
    for cache in (False, True):
        data = TrainingWaves(varied["path"], varied.y, None, 16000, cache=cache)
        lengths = [len(load_audio(p)) for p in varied["path"]]
        assert data.lengths().tolist() == lengths
        assert [len(data[i][0]) for i in range(len(data))] == lengths


def test_new_recipe_fields_leave_earlier_fingerprints_alone():
    cfg = TrainingRecipe()
    base = run_fingerprint({}, cfg, ["a"], ["b"])
    assert run_fingerprint({}, dataclasses.replace(cfg, patience=5), ["a"], ["b"]) == base  # stops, same epochs
    assert run_fingerprint({}, dataclasses.replace(cfg, batch_order="length_blocks"), ["a"], ["b"]) != base
    assert run_fingerprint({}, dataclasses.replace(cfg, n_samples=None), ["a"], ["b"]) != base
    with pytest.raises(ConfigError, match="batch_order"):
        TrainingRecipe(batch_order="sorted")
    with pytest.raises(ConfigError, match="lr_schedule"):
        TrainingRecipe(lr_schedule="halving")


def test_step_schedule_halves_the_learning_rate(varied):
    det = create_detector("lfcc-lcnn.small", **TINY, epochs=5, lr_step_epochs=2).fit(varied)
    np.testing.assert_allclose([h["lr"] for h in det.history_], [1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3], rtol=1e-12)


def test_early_stopping_after_patience_epochs_without_a_better_dev_eer(varied, monkeypatch, tmp_path):
    eers = iter([0.4, 0.2, 0.3, 0.25, 0.1, 0.0])
    monkeypatch.setattr(training, "equal_error_rate", lambda *a: next(eers))
    params = dict(TINY, epochs=6, patience=2, checkpoint_dir=str(tmp_path))
    det = create_detector("lfcc-lcnn.small", **params).fit(varied, varied)
    assert [h["epoch"] for h in det.history_] == [1, 2, 3, 4] and det.best_epoch_ == 2
    # a resumed run that had stopped stays stopped (the rule is checked before each epoch)
    again = create_detector("lfcc-lcnn.small", **params).fit(varied, varied)
    assert len(again.history_) == 4 and again.best_epoch_ == 2


def test_whole_utterance_scores_are_the_network_on_each_utterance_alone(varied):
    det = create_detector("lfcc-lcnn.small", **TINY, epochs=2).fit(varied)
    scores = det.score(varied)
    with torch.no_grad():
        direct = [float(det.model_(torch.from_numpy(load_audio(p))[None])[0]) for p in varied["path"]]
    np.testing.assert_allclose(scores, direct, rtol=0, atol=1e-6)
    batched = score_paths(det.model_, varied["path"], None, 16000, torch.device("cpu"), batch_size=8, mode="whole",
                          rule="single")
    np.testing.assert_array_equal(batched, scores)


def test_windowed_scoring_needs_a_window_length():
    with pytest.raises(ConfigError, match="score_mode='first' is not allowed with n_samples=None"):
        create_detector("lfcc-lcnn", score_mode="first")
    create_detector("lfcc-lcnn", score_mode="first", n_samples=64000)


def test_small_preset_trains_on_the_tiny_corpus_and_survives_save_load(corpus, tmp_path):
    train, dev, ev = (load_trials(corpus, split=s) for s in ("train", "dev", "eval"))
    det = create_detector("lfcc-lcnn.small", progress=False).fit(train, dev)
    losses = [h["loss"] for h in det.history_]
    assert len(losses) == 12 and losses[-1] < 0.7 * losses[0]
    assert det.best_epoch_ == int(np.argmin([h["dev_eer"] for h in det.history_])) + 1
    scores = det.score(ev)
    assert scores.shape == (len(ev),) and np.all(np.isfinite(scores))
    y = ev.y
    assert np.mean(scores[y == 1][:, None] > scores[y == 0][None, :]) > 0.6  # better than chance on unseen eval
    det.save(tmp_path / "lcnn.det")
    again = load_detector(tmp_path / "lcnn.det")
    np.testing.assert_array_equal(again.score(ev), scores)
    assert again.n_parameters() == det.n_parameters() == 4653


def test_fast_inference_modes_run_and_stay_close(varied, monkeypatch):
    from spoofbench.detectors.neural import inference

    monkeypatch.setattr(inference, "native_bf16", lambda: True)  # run bf16 whatever this CPU does natively
    det = create_detector("lfcc-lcnn.small", **TINY, epochs=3).fit(varied)
    exact = det.score(varied)
    for mode in ("bf16", "int8", "int8+bf16"):
        det.set_params(fast_inference=mode)
        approx = det.score(varied)
        assert np.all(np.isfinite(approx)) and not np.array_equal(approx, exact)
        np.testing.assert_allclose(approx, exact, rtol=0, atol=0.05 * np.ptp(exact) + 1e-3)


def test_dev_loss_is_the_training_loss_of_the_dev_scores():
    from spoofbench.detectors.neural.training import dev_loss

    scores, labels = np.array([2.0, -1.0, 0.5, -3.0]), np.array([1, 0, 0, 1])
    p = 1 / (1 + np.exp(-scores))
    bce = -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    assert dev_loss(scores, labels, 1.0) == pytest.approx(bce.mean(), rel=1e-12)
    w = np.where(labels == 1, 9.0, 1.0)
    assert dev_loss(scores, labels, 9.0) == pytest.approx((bce * w).sum() / w.sum(), rel=1e-12)
    # two logits: the score is their difference, and the loss their cross-entropy
    logits = torch.tensor([[0.5, 2.5], [1.0, 0.0]], dtype=torch.float64)
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([1, 0]))
    assert dev_loss((logits[:, 1] - logits[:, 0]).numpy(), np.array([1, 0]), 1.0) == pytest.approx(float(ce))


def test_selection_by_dev_loss_keeps_the_lowest_loss_epoch(varied, monkeypatch):
    losses = iter([0.9, 0.5, 0.7, 0.6])
    eers = iter([0.4, 0.3, 0.1, 0.2])
    monkeypatch.setattr(training, "dev_loss", lambda *a: next(losses))
    monkeypatch.setattr(training, "equal_error_rate", lambda *a: next(eers))
    det = create_detector("lfcc-lcnn.small", **TINY, epochs=4, selection="dev_loss").fit(varied, varied)
    assert det.best_epoch_ == 2  # not epoch 3, which has the lowest dev EER
    assert [h["dev_loss"] for h in det.history_] == [0.9, 0.5, 0.7, 0.6]
    assert create_detector("lfcc-lcnn").selection == "dev_loss"  # the official rule is the preset's


def test_training_batches_are_whole_utterances_padded_to_their_longest(varied, monkeypatch):
    from spoofbench.detectors.lcnn.detector import LFCCLCNN

    widths = []
    build = LFCCLCNN.build_model

    def build_and_watch(self):
        model = build(self)
        model.register_forward_pre_hook(lambda _m, args: widths.append(tuple(args[0].shape)) if _m.training else None)
        return model

    monkeypatch.setattr(LFCCLCNN, "build_model", build_and_watch)
    create_detector("lfcc-lcnn.small", **{**TINY, "batch_size": 3}, epochs=2).fit(varied)
    lengths = sorted(len(load_audio(p)) for p in varied["path"])
    assert len(widths) == 2 * 4  # 10 utterances in batches of 3, the last short batch kept (drop_last=False)
    assert {w for _, w in widths} <= set(lengths) and len({w for _, w in widths}) > 1
    assert sorted(n for n, _ in widths[:4]) == [1, 3, 3, 3]
