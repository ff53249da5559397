"""RawNet2 training and scoring: overfitting, exact resume, seeding, save/load, torchrun (2 gloo processes),
input rules, the EER, and ``bench score``."""
import csv
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from _tiny_corpus import tiny_corpus
from click.testing import CliRunner

from spoofbench.detectors import create_detector, load_detector
from spoofbench.detectors.neural.checkpoints import load_checkpoint
from spoofbench.detectors.neural.data import fit_length, sliding_windows
from spoofbench.detectors.neural.training import equal_error_rate
from spoofbench.protocols.audio import write_audio
from spoofbench.protocols.errors import BenchError
from spoofbench.protocols.trials import TrialTable

FAST = dict(n_samples=8000, batch_size=4, eval_batch_size=8, epochs=3, progress=False, threads=1)


def synthetic_trials(folder, n=8, seed=0):
    """Bona fide: smooth harmonic tones; spoof: buzzy square waves. Lengths vary around the input length."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    records = []
    for i in range(n):
        bona = i % 2 == 0
        t = np.arange(int(rng.integers(5000, 12000))) / 16000
        f0 = rng.uniform(110, 220)
        tone = np.sin(2 * np.pi * f0 * t)
        wave = 0.3 * (tone if bona else np.sign(tone)) + 0.005 * rng.standard_normal(len(t))
        path = os.path.join(folder, f"u{i}.wav")
        write_audio(path, wave, 16000)
        records.append({"utt_id": f"u{i}", "path": path, "label": "bonafide" if bona else "spoof",
                        "attack": "-" if bona else "A01", "speaker": "s1", "split": "train"})
    return TrialTable.from_records(records)


@pytest.fixture(scope="module")
def trials(tmp_path_factory):
    return synthetic_trials(tmp_path_factory.mktemp("rawnet2-audio"))


def test_input_rules():
    wave = np.arange(5, dtype=np.float32)
    assert fit_length(wave, 12).tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]   # tiled
    assert fit_length(np.arange(20.0), 4).tolist() == [0, 1, 2, 3]                # first samples
    windows = sliding_windows(np.arange(10.0), 4, 3)
    assert windows[:, 0].tolist() == [0, 3, 6] and windows[-1].tolist() == [6, 7, 8, 9]


def test_equal_error_rate_matches_the_benchmark_metric():
    from spoofbench.benchmark.metrics import eer

    rng = np.random.default_rng(0)
    bona, spoof = np.round(rng.normal(1, 1, 300), 1), np.round(rng.normal(-1, 1, 500), 1)  # with ties
    assert equal_error_rate(bona, spoof) == pytest.approx(eer(bona, spoof), abs=1e-12)
    assert equal_error_rate([2, 3], [0, 1]) == 0.0


@pytest.fixture(scope="module")
def trained(trials):
    return create_detector("rawnet2.small", **{**FAST, "epochs": 15, "lr": 3e-3}).fit(trials)


def test_a_tiny_training_run_overfits_a_handful_of_utterances(trials, trained):
    det = trained
    losses = [h["loss"] for h in det.history_]
    assert losses[-1] < 0.5 * losses[0]
    scores = det.score(trials)
    y = trials.y
    assert scores[y == 1].min() > scores[y == 0].max()  # every training utterance separated


def test_same_seed_same_scores_other_seed_other_scores(trials):
    a = create_detector("rawnet2.small", **FAST, seed=7).fit(trials, trials).score(trials)
    b = create_detector("rawnet2.small", **FAST, seed=7).fit(trials, trials).score(trials)
    c = create_detector("rawnet2.small", **FAST, seed=8).fit(trials, trials).score(trials)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


class Interrupt(Exception):
    pass


def test_resume_after_an_interrupted_epoch_gives_the_same_scores(trials, tmp_path):
    params = {**FAST, "seed": 3}
    full = create_detector("rawnet2.small", **params, checkpoint_dir=str(tmp_path / "a")).fit(trials, trials)

    broken = create_detector("rawnet2.small", **params, checkpoint_dir=str(tmp_path / "b"))

    def stop(epoch, batch, loss):
        if epoch == 1 and batch == 0:  # mid-way through the second epoch
            raise Interrupt

    broken._on_batch_end = stop
    with pytest.raises(Interrupt):
        broken.fit(trials, trials)
    assert sorted(os.listdir(tmp_path / "b")) == ["epoch_0001.pt", "epoch_0001.pt.sha256"]

    resumed = create_detector("rawnet2.small", **params, checkpoint_dir=str(tmp_path / "b")).fit(trials, trials)
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in full.history_]
    np.testing.assert_array_equal(resumed.score(trials), full.score(trials))
    # a checkpoint folder of another run is not silently resumed
    with pytest.raises(BenchError, match="another run"):
        other = create_detector("rawnet2.small", **{**params, "lr": 0.5}, checkpoint_dir=str(tmp_path / "b"))
        other.fit(trials, trials)


def test_resume_refuses_a_checkpoint_with_a_pickle_payload(tmp_path):
    path = tmp_path / "epoch_0001.pt"
    torch.save({"epoch": 0, "hook": Interrupt()}, path)
    (tmp_path / "epoch_0001.pt.sha256").write_text(f"{file_sha256(str(path))}  epoch_0001.pt\n")  # intact file
    with pytest.raises(BenchError, match="cannot resume"):
        load_checkpoint(str(path))


def file_sha256(path):
    import hashlib

    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _payload_offset(path, member_suffix):
    """Offset of the first data byte of the zip member whose name ends with ``member_suffix``."""
    import zipfile

    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(member_suffix))
    with open(path, "rb") as fh:
        fh.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(fh.read(4), dtype="<u2")
    return info.header_offset + 30 + int(name_len) + int(extra_len)


def _flip_byte(path, offset):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x10]))


@pytest.fixture(scope="module")
def interrupted_run(trials, tmp_path_factory):
    """An uninterrupted 3-epoch run's scores, and the checkpoint folder of a run stopped in epoch 3."""
    params = {**FAST, "seed": 5}
    root = tmp_path_factory.mktemp("rawnet2-interrupted")
    full = create_detector("rawnet2.small", **params).fit(trials, trials)
    broken = create_detector("rawnet2.small", **params, checkpoint_dir=str(root / "ckpt"))

    def stop(epoch, batch, loss):
        if epoch == 2 and batch == 0:
            raise Interrupt

    broken._on_batch_end = stop
    with pytest.raises(Interrupt):
        broken.fit(trials, trials)
    assert sorted(os.listdir(root / "ckpt")) == ["epoch_0001.pt", "epoch_0001.pt.sha256", "epoch_0002.pt",
                                                 "epoch_0002.pt.sha256"]
    return params, full, root / "ckpt"


def _resume(trials, params, folder):
    return create_detector("rawnet2.small", **params, checkpoint_dir=str(folder)).fit(trials, trials)


@pytest.mark.parametrize("where", ["tensor payload", "pickle", "zip header", "central directory"])
def test_a_damaged_epoch_checkpoint_resumes_from_the_one_before(trials, interrupted_run, tmp_path, where):
    import shutil

    params, full, ckpt = interrupted_run
    folder = tmp_path / "ckpt"
    shutil.copytree(ckpt, folder)
    damaged = folder / "epoch_0002.pt"
    offset = {"tensor payload": lambda: _payload_offset(damaged, "/data/0") + 5,
              "pickle": lambda: _payload_offset(damaged, "data.pkl") + 40,
              "zip header": lambda: 10,
              "central directory": lambda: os.path.getsize(damaged) - 60}[where]()
    _flip_byte(damaged, offset)
    with pytest.warns(UserWarning, match="epoch_0002.pt.*trying the checkpoint before it"):
        resumed = _resume(trials, params, folder)
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in full.history_]
    np.testing.assert_array_equal(resumed.score(trials), full.score(trials))


def test_without_an_intact_epoch_checkpoint_training_starts_over(trials, interrupted_run, tmp_path):
    import shutil

    params, full, ckpt = interrupted_run
    folder = tmp_path / "ckpt"
    shutil.copytree(ckpt, folder)
    _flip_byte(folder / "epoch_0002.pt", _payload_offset(folder / "epoch_0002.pt", "/data/0"))
    os.remove(folder / "epoch_0001.pt.sha256")  # unverifiable: not trusted either
    with pytest.warns(UserWarning) as told:
        resumed = _resume(trials, params, folder)
    messages = [str(w.message) for w in told]
    assert any("epoch_0002.pt" in m and "damaged" in m for m in messages)
    assert any("epoch_0001.pt" in m and "no .sha256 digest" in m for m in messages)
    assert any("no usable epoch checkpoint; training starts over" in m for m in messages)
    np.testing.assert_array_equal(resumed.score(trials), full.score(trials))


def test_a_flipped_byte_in_an_official_checkpoint_is_a_one_line_error(tmp_path):
    from spoofbench.detectors.neural import load_state_dict_file
    from spoofbench.detectors.neural.checkpoints import verify_sha256

    model = create_detector("rawnet2.small").build_model()
    path = tmp_path / "official.pth"
    torch.save(model.state_dict(), path)
    digest = file_sha256(str(path))
    verify_sha256(path, digest.upper())  # intact: no error
    assert set(load_state_dict_file(path)) == set(model.state_dict())
    _flip_byte(path, _payload_offset(path, "/data/0") + 3)
    with pytest.raises(BenchError, match=r"official\.pth: damaged checkpoint \(CRC mismatch in .*data/0\)") as err:
        load_state_dict_file(path)
    assert "\n" not in str(err.value)
    with pytest.raises(BenchError, match=r"official\.pth: sha256 .* does not match"):
        verify_sha256(path, digest)


def test_model_selection_uses_dev_eer_and_save_load_round_trip(trials, tmp_path):
    det = create_detector("rawnet2.small", **FAST).fit(trials, trials)
    eers = [h["dev_eer"] for h in det.history_]
    assert det.best_epoch_ == int(np.argmin(eers)) + 1
    det.save(tmp_path / "m.det")
    again = load_detector(tmp_path / "m.det")
    np.testing.assert_array_equal(again.score(trials), det.score(trials))
    assert again.n_parameters() == det.n_parameters() == 55_522
    np.testing.assert_allclose([h["dev_eer"] for h in again.history_], eers)


def test_sliding_window_scores_average_the_windows(trials, trained):
    det = create_detector("rawnet2.small", **FAST)
    det.set_state(trained.get_state())
    first = det.score(trials)
    det.set_params(score_mode="sliding", window_hop=2000)
    sliding = det.score(trials)
    assert sliding.shape == first.shape and np.all(np.isfinite(sliding))
    assert not np.allclose(first, sliding)  # utterances longer than one window see other windows


def test_fast_inference_modes_run_and_stay_close(trials, trained, monkeypatch):
    from spoofbench.detectors.neural import inference

    monkeypatch.setattr(inference, "native_bf16", lambda: True)  # run bf16 whatever this CPU does natively
    det = create_detector("rawnet2.small", **FAST)
    det.set_state(trained.get_state())
    exact = det.score(trials)
    for mode in ("bf16", "int8", "int8+bf16"):
        det.set_params(fast_inference=mode)
        approx = det.score(trials)
        assert np.all(np.isfinite(approx)) and not np.array_equal(approx, exact)
        assert np.corrcoef(approx, exact)[0, 1] > 0.9


@pytest.mark.parametrize("how", ["detection", "ONEDNN_MAX_CPU_ISA"])
def test_bf16_modes_fall_back_once_with_a_warning_where_bf16_is_not_native(trials, trained, monkeypatch, how):
    """On an AVX2-only CPU bf16 ran 58x slower than float32: there the bf16 modes score as float32 / int8."""
    import warnings

    from spoofbench.detectors.neural import inference

    if how == "detection":
        monkeypatch.setattr(inference, "native_bf16", lambda: False)
        monkeypatch.setattr(inference, "cpu_isa",
                            lambda: {"class": "AVX2", "bf16_native": False, "hardware": "AVX2", "limited_by": []})
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setattr(inference, "_fallbacks_told", set())
    det = create_detector("rawnet2.small", **FAST, device="cpu")
    det.set_state(trained.get_state())
    expected = {}
    for mode in ("off", "int8"):
        det.set_params(fast_inference=mode)
        expected[mode] = det.score(trials)
    for mode, instead, name in (("bf16", "off", "float32"), ("int8+bf16", "int8", "int8")):
        det.set_params(fast_inference=mode)
        with pytest.warns(UserWarning, match=rf"fast_inference='{re.escape(mode)}': this CPU \(AVX2.*no native "
                                             rf"bfloat16.*using {name} instead") as told:
            np.testing.assert_array_equal(det.score(trials), expected[instead])
        assert len(told) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # said once: the second score is silent
            np.testing.assert_array_equal(det.score(trials), expected[instead])


# ---- torchrun: 2 gloo processes ---------------------------------------------------------------------------------
def _torchrun(args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "spoofbench.detectors.neural.distributed", *args]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_gloo_processes_give_the_same_scores_as_one(tmp_path_factory, tmp_path):
    root = tiny_corpus(tmp_path_factory)
    from spoofbench.protocols import load_trials

    train = load_trials(root, split="train")
    evals = load_trials(root, split="eval")
    det = create_detector("rawnet2.small", **{**FAST, "epochs": 1}).fit(train)
    det.save(tmp_path / "m.det")
    one = det.score(evals)
    _torchrun(["score", str(tmp_path / "m.det"), str(root), "--split", "eval", "--out", str(tmp_path / "two.csv")],
              tmp_path)
    with open(tmp_path / "two.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["utt_id"] for r in rows] == list(evals["utt_id"])
    np.testing.assert_allclose([float(r["score"]) for r in rows], one, rtol=0, atol=1e-6)

    # DistributedDataParallel training with gloo: runs, and rank 0 writes a usable detector
    _torchrun(["train", str(root), "--detector", "rawnet2.small", "--set", "epochs=1", "--set", "n_samples=8000",
               "--set", "batch_size=8", "--set", "progress=false", "--set", "raw_input_conv1=true",  # bn1 unused: DDP
               "--out", str(tmp_path / "ddp.det")], tmp_path)
    assert np.all(np.isfinite(load_detector(tmp_path / "ddp.det").score(evals)))


# ---- bench score --------------------------------------------------------------------------------------------------
def test_bench_score_files_and_folders(trials, trained, tmp_path):
    from spoofbench.benchmark.cli import cli

    det = trained
    det.save(tmp_path / "m.det")
    folder = os.path.dirname(trials["path"][0])
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(cli, ["score", "--detector", "rawnet2", "--checkpoint", str(tmp_path / "m.det"),
                                      folder, trials["path"][0], "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    by_path = {r["path"]: float(r["score"]) for r in rows}
    assert len(rows) == len(trials)  # the repeated file is scored once
    expected = det.score(trials)
    np.testing.assert_allclose([by_path[p] for p in trials["path"]], expected, atol=1e-6)
    assert (tmp_path / "scores.summary.json").exists() and "real-time factor" in result.output

    bad = CliRunner().invoke(cli, ["score", "--detector", "rawnet2", "--checkpoint", str(tmp_path / "m.det"),
                                   str(tmp_path / "missing.flac")])
    assert bad.exit_code == 2 and "missing.flac" in bad.output


def test_bench_score_is_generic_and_checks_official_checkpoints(trials, tmp_path):
    from spoofbench.benchmark.cli import cli

    lr = create_detector("spectral-lr").fit(trials)
    lr.save(tmp_path / "lr.det")
    out = tmp_path / "lr.csv"
    result = CliRunner().invoke(cli, ["score", "--detector", "spectral-lr", "--checkpoint", str(tmp_path / "lr.det"),
                                      *trials["path"], "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out) as fh:
        np.testing.assert_allclose([float(r["score"]) for r in csv.DictReader(fh)], lr.score(trials), atol=1e-6)

    small = create_detector("rawnet2.small", **FAST).build_model()
    torch.save(small.state_dict(), tmp_path / "official.pth")
    result = CliRunner().invoke(cli, ["score", "--detector", "rawnet2", "--official-checkpoint",
                                      str(tmp_path / "official.pth"), trials["path"][0]])
    assert result.exit_code == 2 and "not a RawNet2 2021 checkpoint" in result.output  # shapes of another model
