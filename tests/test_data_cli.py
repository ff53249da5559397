"""`bench data describe` / `bench data demo` on the command line: counts, every bad input in one pass,
one-line errors with exit code 2 and no traceback."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from spoofbench.benchmark.cli import cli
from spoofbench.protocols import ConfigError
from spoofbench.protocols.audio import write_audio

CM = "LA/ASVspoof2019_LA_cm_protocols"


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _tone(path, seconds=0.25, rate=16000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_audio(path, (0.2 * np.sin(np.arange(int(seconds * rate)) * 0.05)).astype(np.float32), rate)


def _protocol(root, split, text, newline="\n"):
    name = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}[split]
    path = os.path.join(root, CM, f"ASVspoof2019.LA.cm.{name}.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline=newline) as fh:
        fh.write(text)
    return path


def _audio(root, split, utt):
    return os.path.join(root, "LA", f"ASVspoof2019_LA_{split}", "flac", f"{utt}.flac")


def clean_corpus(root):
    _protocol(root, "train", "S1 LA_T_1 - - bonafide\nS1 LA_T_2 - A01 spoof\nS2 LA_T_3 - A02 spoof\n")
    _protocol(root, "eval", "S9 LA_E_1 - A07 spoof\nS9 LA_E_2 - - bonafide\n")
    for split, utt in [("train", "LA_T_1"), ("train", "LA_T_2"), ("train", "LA_T_3"), ("eval", "LA_E_1"),
                       ("eval", "LA_E_2")]:
        _tone(_audio(root, split, utt))
    return root


def test_describe_counts_table_and_json(tmp_path):
    root = clean_corpus(str(tmp_path))
    res = _run("data", "describe", root, "--format", "json")
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["protocol"] == "asvspoof2019-la"
    assert (r["trials"], r["bonafide"], r["spoof"], r["speakers"]) == (5, 2, 3, 3)
    assert r["duration_s"] == 1.25
    assert r["problems"] == [] and r["warnings"] == []
    assert r["splits"] == {
        "train": {"trials": 3, "bonafide": 1, "spoof": 2, "speakers": 2, "attacks": ["A01", "A02"], "duration_s": 0.75},
        "eval": {"trials": 2, "bonafide": 1, "spoof": 1, "speakers": 1, "attacks": ["A07"], "duration_s": 0.5}}
    assert [(c["split"], c["label"], c["attack"], c["trials"], c["speakers"]) for c in r["counts"]] == [
        ("train", "bonafide", "-", 1, 1), ("train", "spoof", "A01", 1, 1), ("train", "spoof", "A02", 1, 1),
        ("eval", "bonafide", "-", 1, 1), ("eval", "spoof", "A07", 1, 1)]
    res = _run("data", "describe", root)
    assert res.exit_code == 0
    assert "5 trials: 2 bona fide, 3 spoof; 3 speakers" in res.stdout
    assert "no problems found" in res.stdout
    rows = [line.split() for line in res.stdout.splitlines()]
    assert ["train", "3", "1", "2", "2", "2", "0.000"] in rows      # split table (hours rounded)
    assert ["eval", "spoof", "A07", "1", "1", "0.2"] in rows                 # split x label x attack table


def test_describe_selection_options(tmp_path):
    root = clean_corpus(str(tmp_path))
    r = json.loads(_run("data", "describe", root, "--format", "json", "--split", "train", "--attack", "A01,-").stdout)
    assert (r["trials_read"], r["trials"], r["bonafide"], r["spoof"]) == (5, 2, 1, 1)
    r = json.loads(_run("data", "describe", root, "--format", "json", "--max-count", "3", "--subset-seed", "4").stdout)
    assert r["trials"] == 3


def test_describe_reports_every_problem_in_one_pass(tmp_path):
    root = str(tmp_path)
    train = _protocol(root, "train", "S1 LA_T_1 - - bonafide\nS1 LA_T_2 - A01 spoof\nS1 LA_T_3 - A01 spoof\n"
                                     "S1 LA_T_4 - A02 spoof\n")
    dev = _protocol(root, "dev", "S2 LA_D_1 - - bonafide\nS2 LA_D_2 - A03 spoof\nS2 LA_D_3 - A03\n"
                                 "S2 LA_D_4 - A03 spooof\nS2 LA_D_1 - A04 spoof\n")
    _protocol(root, "eval", "S9 LA_E_1 - A07 spoof\nS9 LA_E_2 - - bonafide\n", newline="\r\n")
    _tone(_audio(root, "train", "LA_T_1"))
    # LA_T_2: missing
    open(_audio(root, "train", "LA_T_3"), "wb").close()                          # empty
    with open(_audio(root, "train", "LA_T_4"), "wb") as fh:                      # not audio at all
        fh.write(os.urandom(2000))
    _tone(_audio(root, "dev", "LA_D_1"), seconds=1.0)
    with open(_audio(root, "dev", "LA_D_1"), "rb") as fh:                        # truncated FLAC
        data = fh.read()
    with open(_audio(root, "dev", "LA_D_1"), "wb") as fh:
        fh.write(data[:len(data) // 2])
    _tone(_audio(root, "dev", "LA_D_2"), rate=8000)                               # wrong sample rate
    _tone(_audio(root, "eval", "LA_E_1"))
    _tone(_audio(root, "eval", "LA_E_2"))

    res = _run("data", "describe", root, "--format", "json")
    assert res.exit_code == 2
    r = json.loads(res.stdout)
    found = {(os.path.basename(p["file"]), p["line"], p["source"] and os.path.basename(p["source"]),
              p["problem"].split(" (")[0]) for p in r["problems"]}
    dev_name, train_name = os.path.basename(dev), os.path.basename(train)
    assert found == {  # audio problems name the protocol line that refers to the file
        (dev_name, 3, None, "expected 5 columns"),
        (dev_name, 4, None, "unknown label 'spooof'"),
        (dev_name, 5, None, "duplicate utterance id 'LA_D_1'"),
        ("LA_T_2.flac", 2, train_name, "audio file not found"),
        ("LA_T_3.flac", 3, train_name, "audio file is empty"),
        ("LA_T_4.flac", 4, train_name, "cannot read audio header"),
        ("LA_D_1.flac", 1, dev_name, "cannot decode audio, the file is corrupt or truncated"),
        ("LA_D_2.flac", 2, dev_name, "sample rate is 8000 Hz, the format fixes 16000 Hz"),
    }
    # a malformed line is quoted as it reads
    assert {p["line"]: p.get("text") for p in r["problems"] if p["source"] is None} == {
        3: "S2 LA_D_3 - A03", 4: "S2 LA_D_4 - A03 spooof", 5: "S2 LA_D_1 - A04 spoof"}
    assert [(os.path.basename(w["file"]), w["problem"]) for w in r["warnings"]] == [
        ("ASVspoof2019.LA.cm.eval.trl.txt", "Windows (CRLF) line endings; accepted")]
    assert r["trials"] == 8  # the good lines, CRLF ones included
    # the table names every problem on one line, with the protocol line number
    res = _run("data", "describe", root)
    assert res.exit_code == 2
    assert "problems (8):" in res.stdout
    assert f"{dev}:4: unknown label 'spooof' (expected one of: bonafide, spoof) in \"S2 LA_D_4 - A03 spooof\"\n" \
        in res.stdout
    assert f"{_audio(root, 'train', 'LA_T_2')}: audio file not found (referred to by {train}:2)\n" in res.stdout
    # a header-only check is fast and cannot see the truncation
    r = json.loads(_run("data", "describe", root, "--format", "json", "--check", "header").stdout)
    assert len(r["problems"]) == 7


def test_truncated_wav_is_found(tmp_path):
    root = str(tmp_path)
    _protocol(root, "train", "S1 LA_T_1 - - bonafide\n")
    path = _audio(root, "train", "LA_T_1")
    os.makedirs(os.path.dirname(path))
    sf.write(path, np.zeros(16000) + 0.1, 16000, format="WAV", subtype="PCM_16")  # WAV bytes, .flac name
    with open(path, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(data[:len(data) - 8000])
    r = json.loads(_run("data", "describe", root, "--format", "json").stdout)
    assert len(r["problems"]) == 1
    assert r["problems"][0]["file"] == path


def test_errors_are_one_line_with_exit_code_2(tmp_path):
    for args, message in [
        (["data", "describe", tmp_path], "cannot tell the corpus format; pass --protocol"),
        (["data", "describe", tmp_path / "nope"], "corpus folder not found"),
        (["data", "describe", tmp_path, "--protocol", "asvspoof2019"], "unknown protocol 'asvspoof2019'"),
    ]:
        res = _run(*args)
        assert res.exit_code == 2
        assert res.stderr.startswith("error: ") and message in res.stderr
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.output + res.stderr
    (tmp_path / "notes.txt").write_text("mine")
    res = _run("data", "demo", tmp_path)
    assert res.exit_code == 2
    assert "exists and is not a demo corpus; refusing to overwrite it" in res.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_strict_reading_quotes_the_malformed_line(tmp_path):
    from spoofbench.protocols import ProtocolError, load_trials

    path = _protocol(str(tmp_path), "train", "S1 LA_T_1 - - bonafide\nS1 LA_T_2 - A01 spoof extra\n")
    with pytest.raises(ProtocolError) as caught:
        load_trials(tmp_path)
    assert str(caught.value) == f'{path}:2: expected 5 columns (SPEAKER UTT - SYSTEM KEY), found 6 in ' \
                                '"S1 LA_T_2 - A01 spoof extra"'


def test_demo_split_sizes_are_refused_by_the_option_check_with_the_minimum(tmp_path):
    root = tmp_path / "demo"
    for args, option, least in [(["--eval", "16"], "--eval", 17),  # 4 bona fide + 12 spoofs < 13 attacks
                                (["--train", "8", "--bonafide-fraction", "0.1"], "--train", 15)]:
        res = _run("data", "demo", root, *args)
        assert res.exit_code == 2
        assert f"Invalid value for '{option}'" in res.stderr and f"needs at least {least} trials" in res.stderr
        assert not root.exists()  # refused before any work
    from spoofbench.protocols.demo import DemoParams, minimum_trials

    for fraction in (0.1, 0.25, 0.5, 0.9):  # the minimum is exactly where the generator starts accepting
        for split, key in (("train", "n_train"), ("eval", "n_eval")):
            least = minimum_trials(split, fraction)
            DemoParams(bonafide_fraction=fraction, **{key: least}).validate()
            with pytest.raises(ConfigError, match=f"at least {least} trials"):
                DemoParams(bonafide_fraction=fraction, **{key: least - 1}).validate()


def test_demo_then_describe(tmp_path):
    root = tmp_path / "demo"
    args = ["data", "demo", root, "--seed", "2", "--train", "12", "--dev", "8", "--eval", "24", "--speakers", "2,2,2",
            "--enrol", "1", "--min-duration", "0.6", "--max-duration", "0.9", "--jobs", "1"]
    res = _run(*args)
    assert res.exit_code == 0, res.output
    assert "built in" in res.stdout and "train" in res.stdout
    assert "reused the existing corpus" in _run(*args).stdout
    r = json.loads(_run("data", "describe", root, "--format", "json").stdout)
    assert r["protocol"] == "demo" and r["problems"] == [] and r["warnings"] == []
    assert {s: (v["trials"], v["bonafide"], v["spoof"], v["speakers"]) for s, v in r["splits"].items()} == {
        "train": (12, 3, 9, 2), "dev": (8, 2, 6, 2), "eval": (24, 6, 18, 2)}
    assert r["splits"]["eval"]["attacks"] == [f"A{i:02d}" for i in range(7, 20)]
    assert set(r["extra_columns"]["gender"]) == {"female", "male"}
    assert 0.6 * 44 <= r["duration_s"] <= 0.9 * 44
    table = _run("data", "describe", root).stdout
    assert "44 trials: 11 bona fide, 33 spoof; 6 speakers" in table
    assert ["eval", "24", "6", "18", "2", "13"] in [line.split()[:6] for line in table.splitlines()]
    res = _run("data", "demo", root, "--seed", "3")
    assert res.exit_code == 2 and "pass --force" in res.stderr


def test_find_audio_problems(tmp_path):
    from spoofbench.protocols import load_trials
    from spoofbench.protocols.describe import find_audio_problems

    root = clean_corpus(str(tmp_path))
    os.remove(_audio(root, "eval", "LA_E_2"))
    _tone(_audio(root, "train", "LA_T_1"), rate=22050)
    problems = find_audio_problems(load_trials(root), 16000)
    assert [str(p) for p in problems] == [
        f"{_audio(root, 'train', 'LA_T_1')}: sample rate is 22050 Hz, the format fixes 16000 Hz",
        f"{_audio(root, 'eval', 'LA_E_2')}: audio file not found"]
