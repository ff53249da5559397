"""`bench score`: quality flags, bad audio (skip/fail), and its CSV read back by `bench eval`."""
import csv
import json
import os

import numpy as np
import pytest
import soundfile as sf
from _tiny_corpus import tiny_corpus
from click.testing import CliRunner

from spoofbench.benchmark import metrics as M
from spoofbench.benchmark.cli import cli
from spoofbench.detectors import create_detector
from spoofbench.protocols import TrialTable, load_trials


def _noise(seconds, rate=16000, level=0.1, seed=0):
    return np.random.default_rng(seed).normal(0, level, int(seconds * rate)).clip(-0.9, 0.9)


def _fitted_detector(tmp_path):
    """spectral-lr fitted on four noise files of two loudnesses (a stand-in: only the flags are tested)."""
    paths = []
    for i in range(4):
        path = tmp_path / "train" / f"t{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, _noise(1.0, level=0.05 if i % 2 else 0.2, seed=10 + i), 16000, subtype="PCM_16")
        paths.append(str(path))
    train = TrialTable({"utt_id": [f"t{i}" for i in range(4)], "path": paths, "label": ["bonafide", "spoof"] * 2,
                        "attack": ["-", "A01"] * 2, "speaker": ["s"] * 4, "split": ["train"] * 4})
    det = create_detector("spectral-lr").fit(train)
    det.save(tmp_path / "lr.det")
    return str(tmp_path / "lr.det")


def _score(det_file, *args):
    return CliRunner().invoke(cli, ["score", "--detector", "spectral-lr", "--checkpoint", det_file, *map(str, args)])


def _rows(path):
    with open(path, newline="") as fh:
        return {os.path.basename(r["path"]): r for r in csv.DictReader(fh)}


def test_short_silent_clipped_resampled_and_downmixed_files_are_flagged(tmp_path):
    det_file = _fitted_detector(tmp_path)
    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "speechlike.wav", _noise(1.0), 16000, subtype="PCM_16")
    sf.write(audio / "silence.wav", np.zeros(16000), 16000, subtype="PCM_16")
    sf.write(audio / "five_ms.wav", _noise(0.005), 16000, subtype="PCM_16")
    sf.write(audio / "clipped.wav", np.clip(8 * _noise(1.0), -1, 1), 16000, subtype="PCM_16")
    sf.write(audio / "stereo8k.wav", np.stack([_noise(1.0, 8000), _noise(1.0, 8000, seed=1)], axis=1), 8000,
             subtype="PCM_16")
    out = tmp_path / "scores.csv"
    result = _score(det_file, audio, "--out", out)
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    flags = {name: r["flags"] for name, r in rows.items()}
    assert flags == {"speechlike.wav": "", "silence.wav": "silent", "five_ms.wav": "short",
                     "clipped.wav": "clipped", "stereo8k.wav": "resampled;downmixed"}
    assert all(np.isfinite(float(r["score"])) for r in rows.values())
    assert "4 of 5 files flagged: 1 short, 1 silent, 1 clipped, 1 resampled, 1 downmixed" in result.output
    summary = json.loads((tmp_path / "scores.summary.json").read_text())
    assert summary["flagged"] == 4
    assert summary["flag_counts"] == {"short": 1, "silent": 1, "clipped": 1, "resampled": 1, "downmixed": 1}
    assert summary["flag_thresholds"]["short_below_samples"] == 8000  # 0.5 s default at 16 kHz
    assert summary["skipped"] == []


def test_bad_audio_fails_with_one_line_or_is_skipped_with_exit_3(tmp_path):
    det_file = _fitted_detector(tmp_path)
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(3):
        sf.write(audio / f"good{i}.wav", _noise(1.0, seed=i), 16000, subtype="PCM_16")
    (audio / "broken.flac").write_bytes(b"fLaC" + b"\x00" * 100)
    out = tmp_path / "scores.csv"

    failed = _score(det_file, audio, "--out", out)
    assert failed.exit_code == 2
    assert failed.output.count("\n") == 1 and failed.output.startswith("error: ")
    assert "broken.flac" in failed.output and "Traceback" not in failed.output
    assert not out.exists()

    skipped = _score(det_file, audio, "--out", out, "--on-bad-audio", "skip")
    assert skipped.exit_code == 3, skipped.output
    assert sorted(_rows(out)) == ["good0.wav", "good1.wav", "good2.wav"]
    assert "broken.flac" in skipped.output
    summary = json.loads((tmp_path / "scores.summary.json").read_text())
    assert [os.path.basename(s["path"]) for s in summary["skipped"]] == ["broken.flac"]
    assert summary["files"] == 3


def test_score_one_corpus_and_evaluate_the_csv_as_it_is(tmp_path, tmp_path_factory):
    """Train on train, `bench score` the eval audio folder, `bench eval` that CSV: no conversion in between."""
    root = tiny_corpus(tmp_path_factory)
    det = create_detector("spectral-lr").fit(load_trials(root, split="train"))
    det.save(tmp_path / "lr.det")
    evals = load_trials(root, split="eval")
    folder = os.path.dirname(evals["path"][0])  # also holds ASV enrolment files, which eval ignores
    out = tmp_path / "scores.csv"
    scored = _score(str(tmp_path / "lr.det"), folder, "--out", out)
    assert scored.exit_code == 0, scored.output

    result = CliRunner().invoke(cli, ["eval", "--scores", f"lr={out}", "--data", str(root), "--bootstrap", "0",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    pooled = json.loads(result.stdout)["systems"]["lr"]["pooled"]
    assert pooled["n_bonafide"] + pooled["n_spoof"] == len(evals)
    direct = np.round(det.score(evals), 8)  # as written to the CSV
    expected = 100 * M.eer(direct[evals.is_bonafide], direct[~evals.is_bonafide])
    assert pooled["eer"] == pytest.approx(expected, abs=1e-6)
