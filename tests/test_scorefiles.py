"""Score files: official formats round-trip, auto-detection, one-line errors, protocol checks, ASV files."""
import warnings

import numpy as np
import pytest

from spoofbench.benchmark.scorefiles import (
    AsvScores,
    ScoreWarning,
    align_scores,
    read_asv_scores,
    read_scores,
    write_asv_scores,
    write_cm_scores,
)
from spoofbench.protocols import ProtocolError, TrialTable


def _trials(n_bona=4, n_spoof=6):
    n = n_bona + n_spoof
    return TrialTable({"utt_id": [f"LA_E_{i:07d}" for i in range(n)], "path": [""] * n, "speaker": ["s"] * n,
                       "split": ["eval"] * n, "label": ["bonafide"] * n_bona + ["spoof"] * n_spoof,
                       "attack": ["-"] * n_bona + [f"A{7 + i % 3:02d}" for i in range(n_spoof)]})


@pytest.mark.parametrize("fmt", ["asvspoof2019", "asvspoof2021", "asvspoof5"])
def test_round_trip_is_exact_in_every_format(tmp_path, fmt):
    trials = _trials()
    scores = np.random.default_rng(0).normal(size=len(trials)) * 1e3 + 1e-9
    path = write_cm_scores(tmp_path / "s.txt", trials, scores, fmt=fmt)
    back = read_scores(path)
    assert list(back) == list(trials["utt_id"])
    assert np.array_equal(align_scores(trials, back, path), scores)


def test_2019_format_lines(tmp_path):
    trials = _trials(1, 1)
    text = open(write_cm_scores(tmp_path / "s.txt", trials, [1.5, -2.0])).read()
    assert text == "LA_E_0000000 - bonafide 1.5\nLA_E_0000001 A07 spoof -2.0\n"
    text = open(write_cm_scores(tmp_path / "s5.tsv", trials, [1.5, -2.0], fmt="asvspoof5")).read()
    assert text.splitlines()[0] == "filename\tcm-score"


def test_asvspoof5_tsv_with_extra_columns(tmp_path):
    path = tmp_path / "s.tsv"
    path.write_text("spk\tfilename\tcm-score\tasv-score\nE_1\tE_001\t0.5\t3\nE_2\tE_002\t-1.25\t4\n")
    assert read_scores(path) == {"E_001": 0.5, "E_002": -1.25}


@pytest.mark.parametrize("content, problem, line", [
    ("a 1.0\nb\n", "1 columns, expected 2", 2),
    ("a 1.0\nb x\n", "score 'x' is not a number", 2),
    ("a 1.0\nb nan\n", "finite", 2),
    ("a - bonafide 1.0\nb A07 spoof inf\n", "finite", 2),
    ("a 1.0\nb 2.0\na 1.0\n", "listed twice (lines 1 and 3) with the same score", 3),
    ("a b c d e\n", "5 columns", 1),
    ("bonafide target 1.0\n", "ASV score file", 1),
])
def test_malformed_files_give_one_line_errors_with_file_and_line(tmp_path, content, problem, line):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(ProtocolError) as err:
        read_scores(path)
    assert problem in str(err.value)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert "\n" not in str(err.value)


def test_empty_missing_and_binary_files(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ProtocolError, match="empty"):
        read_scores(tmp_path / "empty.txt")
    with pytest.raises(ProtocolError, match="not found"):
        read_scores(tmp_path / "nope.txt")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02")
    with pytest.raises(ProtocolError, match="binary"):
        read_scores(tmp_path / "bin.txt")


def test_align_lists_missing_trials_and_warns_about_extra_ones():
    trials = _trials()
    scores = {u: float(i) for i, u in enumerate(trials["utt_id"])}
    partial = dict(list(scores.items())[2:])
    with pytest.raises(ProtocolError, match=r"2 of 10 protocol trials have no score: LA_E_0000000, LA_E_0000001"):
        align_scores(trials, partial, "s.txt")
    extra = dict(scores, X1=0.0, X2=1.0)
    with pytest.warns(ScoreWarning, match="2 scored trials are not in the protocol selection.*X1, X2"):
        aligned = align_scores(trials, extra, "s.txt", check_polarity=False)
    assert aligned.tolist() == [scores[u] for u in trials["utt_id"]]
    with pytest.raises(ProtocolError, match="NaN or Inf: LA_E_0000003"):
        align_scores(trials, dict(scores, LA_E_0000003=float("nan")), "s.txt")


def test_polarity_warning_only_when_negated_scores_do_much_better():
    trials = _trials(20, 30)
    y = trials.y.astype(float)
    good = y * 2 + np.random.default_rng(0).normal(0, 0.5, len(trials))
    as_map = lambda s: dict(zip(trials["utt_id"], s))  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        align_scores(trials, as_map(good), "good.txt")
    with pytest.warns(ScoreWarning, match="scores look inverted"):
        align_scores(trials, as_map(-good), "inverted.txt")


def test_read_2019_asv_scores_with_attacks(tmp_path):
    path = tmp_path / "asv.txt"
    path.write_text("bonafide target 7.5\nbonafide nontarget -3\nA07 spoof 1.25\nA08 spoof -2\nbonafide target 6\n")
    asv = read_asv_scores(path)
    assert asv.target.tolist() == [7.5, 6.0] and asv.nontarget.tolist() == [-3.0]
    assert asv.spoof.tolist() == [1.25, -2.0] and asv.spoof_attack.tolist() == ["A07", "A08"]
    assert asv.attacks == ["A07", "A08"]
    back = read_asv_scores(write_asv_scores(tmp_path / "again.txt", asv))
    assert back.spoof_attack.tolist() == ["A07", "A08"] and back.target.tolist() == [7.5, 6.0]
    point = asv.operating_point()
    assert asv.attack_point("A07", point).pfa_spoof in (0.0, 1.0)
    assert asv.attack_point("A99", point) is None


def test_read_2021_asv_scores_joined_with_trial_metadata(tmp_path):
    keys = tmp_path / "keys" / "LA" / "ASV"
    (keys / "ASVTorch_Kaldi").mkdir(parents=True)
    (keys / "trial_metadata.txt").write_text(
        "LA_0001 LA_E_1 alaw ita_tx bonafide target notrim eval\n"
        "LA_0002 LA_E_1 alaw ita_tx bonafide nontarget notrim eval\n"
        "LA_0001 LA_E_2 none loc_tx A07 spoof notrim progress\n")
    score = keys / "ASVTorch_Kaldi" / "score.txt"
    score.write_text("LA_0002 LA_E_1 -1.5\nLA_0001 LA_E_1 4.0\nLA_0001 LA_E_2 2.5\n")  # not in metadata order
    asv = read_asv_scores(score)
    assert asv.target.tolist() == [4.0] and asv.nontarget.tolist() == [-1.5] and asv.spoof.tolist() == [2.5]
    assert asv.spoof_attack.tolist() == ["A07"]
    score.write_text("LA_0009 LA_E_1 -1.5\n")
    with pytest.raises(ProtocolError, match=r"score.txt:1: speaker/trial LA_0009 LA_E_1 is not in"):
        read_asv_scores(score)
    lonely = tmp_path / "lonely.txt"
    lonely.write_text("LA_0001 LA_E_1 4.0\n")
    with pytest.raises(ProtocolError, match="needs its keys"):
        read_asv_scores(lonely)


def test_asv_file_needs_all_three_kinds(tmp_path):
    path = tmp_path / "asv.txt"
    path.write_text("bonafide target 7.5\nbonafide nontarget -3\n")
    with pytest.raises(ProtocolError, match="no spoof trials"):
        read_asv_scores(path)


def test_writer_refuses_nan_and_wrong_length(tmp_path):
    from spoofbench.protocols import BenchError

    trials = _trials(1, 1)
    with pytest.raises(BenchError, match="NaN/Inf"):
        write_cm_scores(tmp_path / "s.txt", trials, [1.0, np.nan])
    with pytest.raises(BenchError, match="3 scores for 2 trials"):
        write_cm_scores(tmp_path / "s.txt", trials, [1.0, 2.0, 3.0])
    assert not (tmp_path / "s.txt").exists()
    assert isinstance(AsvScores(np.ones(1), np.ones(1), np.ones(1)).spoof_attack, type(None))


def test_2021_asv_metadata_columns_give_per_condition_operating_points(tmp_path):
    keys = tmp_path / "keys" / "LA" / "ASV"
    (keys / "ASVTorch_Kaldi").mkdir(parents=True)
    rng = np.random.default_rng(0)
    meta, scores = [], []
    for i in range(300):
        key = ("target", "nontarget", "spoof")[i % 3]
        codec = ("alaw", "gsm")[(i // 3) % 2]
        subset = ("eval", "progress")[(i // 6) % 2]
        attack = "A07" if key == "spoof" else "bonafide"
        meta.append(f"LA_{i:04d} LA_E_{i:07d} {codec} ita_tx {attack} {key} notrim {subset}\n")
        shift = {"target": 3.0, "nontarget": 0.0, "spoof": 1.5}[key] - (1.0 if codec == "gsm" else 0.0)
        scores.append(f"LA_{i:04d} LA_E_{i:07d} {rng.normal(shift, 1):.4f}\n")
    (keys / "trial_metadata.txt").write_text("".join(meta))
    (keys / "ASVTorch_Kaldi" / "score.txt").write_text("".join(scores))
    asv = read_asv_scores(keys / "ASVTorch_Kaldi" / "score.txt")
    assert set(asv.meta) == {"codec", "transmission", "trim", "subset"}
    gsm = asv.where("codec", "gsm")
    assert gsm.target.size + gsm.nontarget.size + gsm.spoof.size == 150
    from spoofbench.benchmark.metrics import asv_operating_point

    expected = asv_operating_point(gsm.target, gsm.nontarget, gsm.spoof)
    assert asv.condition_point("codec", "gsm") == expected  # threshold recomputed on that codec's trials
    assert asv.condition_point("codec", "opus") is None and asv.condition_point("vocoder", "x") is None
    assert asv.where("vocoder", "x") is asv
    both = asv.where("subset", "eval").where("codec", "alaw")
    assert both.target.size == 25 and set(both.spoof_attack) == {"A07"}


def test_bench_score_csv_is_read_by_file_stem(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text('path,score,flags\n/data/eval/LA_E_0000000.flac,1.5,\n'
                    '"/data/a,b/LA_E_0000001.wav",-2.25,short;silent\n')
    assert read_scores(path) == {"LA_E_0000000": 1.5, "LA_E_0000001": -2.25}
    old = tmp_path / "old.csv"  # before flags were written
    old.write_text("path,score\nx/LA_E_0000002.flac,0.5\n")
    assert read_scores(old) == {"LA_E_0000002": 0.5}


def test_bench_score_csv_errors_name_the_line(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("path,score,flags\na/u1.flac,1.0,\nb/u1.wav,2.0,\n")
    with pytest.raises(ProtocolError, match=r"scores.csv:3: trial u1 is scored twice .*a/u1.flac and b/u1.wav"):
        read_scores(path)
    path.write_text("path,score,flags\na/u1.flac,nan,\n")
    with pytest.raises(ProtocolError, match=r"scores.csv:2: score is nan"):
        read_scores(path)
