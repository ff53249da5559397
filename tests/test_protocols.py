"""Protocol readers: tiny fixtures of every supported format, checked exactly; every malformed input."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from spoofbench.protocols import BenchError, ConfigError, ProtocolError, detect_protocol, get_protocol, load_trials
from spoofbench.protocols.audio import write_audio
from spoofbench.protocols.parsing import Findings
from spoofbench.protocols.registry import asv_score_file

CM = "LA/ASVspoof2019_LA_cm_protocols"


def _flac(path, seconds=0.1, rate=16000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_audio(path, 0.1 * np.sin(np.arange(int(seconds * rate)) * 0.3).astype(np.float32), rate)


def _write(path, text, newline="\n"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline=newline) as fh:
        fh.write(text)


def make_la2019(root, train=None, dev=None, eval_=None, audio=True):
    """A 2019 LA corpus; ``train``/``dev``/``eval_`` are protocol texts (None: that file is absent)."""
    for split, text, folder in (("train.trn", train, "train"), ("dev.trl", dev, "dev"), ("eval.trl", eval_, "eval")):
        if text is None:
            continue
        _write(f"{root}/{CM}/ASVspoof2019.LA.cm.{split}.txt", text)
        if audio:
            for line in text.splitlines():
                if line.split():
                    _flac(f"{root}/LA/ASVspoof2019_LA_{folder}/flac/{line.split()[1]}.flac")
    return root


LA_TRAIN = "LA_0079 LA_T_1138215 - - bonafide\nLA_0079 LA_T_1271820 - A01 spoof\nLA_0080 LA_T_1000137 - A06 spoof\n"
LA_DEV = "LA_0069 LA_D_1047731 - - bonafide\nLA_0070 LA_D_1105538 - A04 spoof\n"
LA_EVAL = "LA_0001 LA_E_2834763 - A11 spoof\nLA_0002 LA_E_5085671 - - bonafide\n"


def test_asvspoof2019_la_exact(tmp_path):
    root = make_la2019(str(tmp_path), LA_TRAIN, LA_DEV, LA_EVAL)
    _flac(f"{root}/LA/ASVspoof2019_LA_dev/flac/LA_D_9999999.flac")  # an ASV enrolment file: not a CM trial
    assert detect_protocol(root) == "asvspoof2019-la"
    t = load_trials(root)
    assert list(t.columns) == ["utt_id", "path", "label", "attack", "speaker", "split"]
    assert t["utt_id"].tolist() == ["LA_T_1138215", "LA_T_1271820", "LA_T_1000137", "LA_D_1047731", "LA_D_1105538",
                                    "LA_E_2834763", "LA_E_5085671"]
    assert t["label"].tolist() == ["bonafide", "spoof", "spoof", "bonafide", "spoof", "spoof", "bonafide"]
    assert t["attack"].tolist() == ["-", "A01", "A06", "-", "A04", "A11", "-"]
    assert t["speaker"].tolist() == ["LA_0079", "LA_0079", "LA_0080", "LA_0069", "LA_0070", "LA_0001", "LA_0002"]
    assert t["split"].tolist() == ["train"] * 3 + ["dev"] * 2 + ["eval"] * 2
    assert t["path"][3] == os.path.join(root, "LA", "ASVspoof2019_LA_dev", "flac", "LA_D_1047731.flac")
    assert all(os.path.isfile(p) for p in t["path"])
    assert t.y.tolist() == [1, 0, 0, 1, 0, 0, 1]
    # the LA folder itself works as the root too
    assert load_trials(os.path.join(root, "LA"))["utt_id"].tolist() == t["utt_id"].tolist()


def test_asvspoof2019_partial_corpus_and_asv_scores(tmp_path):
    root = make_la2019(str(tmp_path), None, LA_DEV, None)
    assert load_trials(root)["split"].tolist() == ["dev", "dev"]
    assert asv_score_file(root, "dev") is None
    scores = tmp_path / "LA/ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.dev.gi.trl.scores.txt"
    _write(str(scores), "bonafide target 1.0\n")
    assert asv_score_file(root, "dev") == str(scores)
    assert asv_score_file(root, "train") is None


def test_selection(tmp_path):
    root = make_la2019(str(tmp_path), LA_TRAIN, LA_DEV, LA_EVAL, audio=False)
    assert load_trials(root, split="dev")["utt_id"].tolist() == ["LA_D_1047731", "LA_D_1105538"]
    assert load_trials(root, attack=["A01", "A11"])["utt_id"].tolist() == ["LA_T_1271820", "LA_E_2834763"]
    assert load_trials(root, speaker="LA_0079", label="spoof")["utt_id"].tolist() == ["LA_T_1271820"]
    a = load_trials(root, max_count=3, seed=5)["utt_id"].tolist()
    assert len(a) == 3 and a == load_trials(root, max_count=3, seed=5)["utt_id"].tolist()
    assert len(load_trials(root, fraction=0.5, seed=1)) == 4  # round(0.5 * 7)


def test_asvspoof2021_la_keys(tmp_path):
    root = tmp_path / "corpus"
    keys = "\n".join([
        "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval",
        "LA_0012 LA_E_1000147 none loc_tx bonafide bonafide notrim progress",
        "LA_0013 LA_E_1000273 g722 sin_tx A19 spoof trim hidden",
    ]) + "\n"
    _write(str(tmp_path / "downloads/keys/LA/CM/trial_metadata.txt"), keys)
    _write(str(root / "ASVspoof2021_LA_eval/ASVspoof2021.LA.cm.eval.trl.txt"), "LA_E_9332881\n")
    (root / "ASVspoof2021_LA_eval/flac").mkdir(parents=True)
    assert detect_protocol(root) == "asvspoof2021-la"
    with pytest.raises(ProtocolError, match="keys not found: pass --keys"):
        load_trials(root)
    t = load_trials(root, keys=tmp_path / "downloads")            # the folder holding keys/
    t2 = load_trials(root, keys=tmp_path / "downloads" / "keys")  # or keys/ itself
    assert t["utt_id"].tolist() == t2["utt_id"].tolist() == ["LA_E_9332881", "LA_E_1000147", "LA_E_1000273"]
    assert list(t.columns) == ["utt_id", "path", "label", "attack", "speaker", "split", "codec", "transmission",
                               "trim", "subset"]
    assert t["label"].tolist() == ["spoof", "bonafide", "spoof"]
    assert t["attack"].tolist() == ["A07", "-", "A19"]
    assert t["codec"].tolist() == ["alaw", "none", "g722"]
    assert t["transmission"].tolist() == ["ita_tx", "loc_tx", "sin_tx"]
    assert t["trim"].tolist() == ["notrim", "notrim", "trim"]
    assert t["subset"].tolist() == ["eval", "progress", "hidden"]
    assert set(t["split"]) == {"eval"}
    assert t["path"][0] == str(root / "ASVspoof2021_LA_eval/flac/LA_E_9332881.flac")
    # keys inside the corpus root are found without --keys; the ASV score file is located too
    _write(str(root / "keys/LA/CM/trial_metadata.txt"), keys)
    _write(str(root / "keys/LA/ASV/trial_metadata.txt"), "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval\n")
    _write(str(root / "keys/LA/ASV/ASVTorch_Kaldi/score.txt"), "LA_0009 LA_E_9332881 -1.5\n")
    assert len(load_trials(root)) == 3
    assert asv_score_file(root, "eval") == str(root / "keys/LA/ASV/ASVTorch_Kaldi/score.txt")


def test_asvspoof2021_df_keys(tmp_path):
    keys = ("LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -\n"
            "VCC2018_SF1 DF_E_2000013 mp3m4a vcc2018 - bonafide notrim eval - - - - -\n"
            "VCC2020_TEF1 DF_E_2000026 ogg vcc2020 Task1-team20 spoof notrim eval neural_vocoder_autoregressive "
            "Task1 team20 FF E\n")
    _write(str(tmp_path / "DF-keys-full/keys/DF/CM/trial_metadata.txt"), keys)
    (tmp_path / "ASVspoof2021_DF_eval/flac").mkdir(parents=True)
    assert detect_protocol(tmp_path) == "asvspoof2021-df"
    t = load_trials(tmp_path)  # DF-keys-full/ beside the eval folder is found
    assert list(t.columns)[6:] == ["codec", "source", "trim", "subset", "vocoder", "task", "team", "gender_pair",
                                   "language"]
    assert t["attack"].tolist() == ["A14", "-", "Task1-team20"]
    assert t["label"].tolist() == ["spoof", "bonafide", "spoof"]
    assert t["vocoder"].tolist() == ["traditional_vocoder", "-", "neural_vocoder_autoregressive"]
    assert t["language"].tolist() == ["-", "-", "E"]
    assert t["speaker"].tolist() == ["LA_0023", "VCC2018_SF1", "VCC2020_TEF1"]
    assert asv_score_file(tmp_path, "eval") is None  # the DF track has no ASV (no t-DCF)


def test_asvspoof2021_la_wrong_columns(tmp_path):
    _write(str(tmp_path / "keys/LA/CM/trial_metadata.txt"), "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim\n")
    (tmp_path / "ASVspoof2021_LA_eval/flac").mkdir(parents=True)
    with pytest.raises(ProtocolError, match=r"trial_metadata.txt:1: expected 8 columns .*found 7"):
        load_trials(tmp_path)


ASV5_TRAIN = ("T_4850 T_0000000000 F - - - AC3 A05 spoof -\n"
              "T_3734 T_0000000011 F - - - - bonafide bonafide -\n")
ASV5_EVAL = "E_1607 E_0009538969 M C05 2 E_0009486171 AC1 A26 spoof -\n"


def test_asvspoof5_exact(tmp_path):
    _write(str(tmp_path / "ASVspoof5_protocols/ASVspoof5.train.tsv"), ASV5_TRAIN)
    _write(str(tmp_path / "ASVspoof5_protocols/ASVspoof5.eval.track_1.tsv"), ASV5_EVAL)
    (tmp_path / "ASVspoof5_train/flac_T").mkdir(parents=True)
    assert detect_protocol(tmp_path) == "asvspoof5"
    t = load_trials(tmp_path)
    assert list(t.columns) == ["utt_id", "path", "label", "attack", "speaker", "split", "gender", "codec", "codec_q",
                               "codec_seed", "attack_tag", "tmp"]
    assert t["utt_id"].tolist() == ["T_0000000000", "T_0000000011", "E_0009538969"]
    assert t["label"].tolist() == ["spoof", "bonafide", "spoof"]
    assert t["attack"].tolist() == ["A05", "-", "A26"]
    assert t["split"].tolist() == ["train", "train", "eval"]
    assert t["codec"].tolist() == ["-", "-", "C05"]
    assert t["codec_q"].tolist() == ["-", "-", "2"]
    assert t["codec_seed"].tolist() == ["-", "-", "E_0009486171"]
    assert t["attack_tag"].tolist() == ["AC3", "-", "AC1"]
    assert t["gender"].tolist() == ["F", "F", "M"]
    assert t["path"][0] == str(tmp_path / "ASVspoof5_train/flac_T/T_0000000000.flac")  # audio found one level down
    assert t["path"][2] == str(tmp_path / "flac_E_eval/E_0009538969.flac")           # default place


def test_asvspoof5_bad_lines(tmp_path):
    _write(str(tmp_path / "ASVspoof5.train.tsv"), ASV5_TRAIN + "T_1 T_2 F - - - AC3 A05 spoof\n")
    with pytest.raises(ProtocolError, match=r"ASVspoof5.train.tsv:3: expected 10 columns \(SPEAKER FLAC_FILE_NAME"):
        load_trials(tmp_path)


def test_in_the_wild(tmp_path):
    itw = tmp_path / "release_in_the_wild"
    _write(str(itw / "meta.csv"), 'file,speaker,label\n0.wav,Alec Guinness,spoof\n1.wav,"Obama, Barack",bona-fide\n')
    assert detect_protocol(tmp_path) == "in-the-wild"
    t = load_trials(tmp_path)
    assert t["utt_id"].tolist() == ["0", "1"]
    assert t["label"].tolist() == ["spoof", "bonafide"]
    assert t["attack"].tolist() == ["unknown", "-"]
    assert t["speaker"].tolist() == ["Alec Guinness", "Obama, Barack"]
    assert t["split"].tolist() == ["eval", "eval"]
    assert t["path"][1] == str(itw / "1.wav")
    _write(str(itw / "meta.csv"), "file,speaker,label\n0.wav,A,bonafied\n")
    with pytest.raises(ProtocolError, match=r"meta.csv:2: unknown label 'bonafied'"):
        load_trials(tmp_path)


def test_csv_manifest(tmp_path):
    _write(str(tmp_path / "manifest.csv"),
           "path,label,attack,speaker,split,codec\n"
           "audio/a.wav,bonafide,,spk1,train,none\n"
           "/abs/b.flac,fake,TTS-1,spk2,train,mp3\n"
           "audio/c.wav,Real,-,spk1,eval,none\n")
    assert detect_protocol(tmp_path) == "csv"
    t = load_trials(tmp_path)
    assert list(t.columns) == ["utt_id", "path", "label", "attack", "speaker", "split", "codec"]
    assert t["utt_id"].tolist() == ["a", "b", "c"]
    assert t["path"].tolist() == [str(tmp_path / "audio/a.wav"), "/abs/b.flac", str(tmp_path / "audio/c.wav")]
    assert t["label"].tolist() == ["bonafide", "spoof", "bonafide"]
    assert t["attack"].tolist() == ["-", "TTS-1", "-"]
    assert t["split"].tolist() == ["train", "train", "eval"]
    assert t["codec"].tolist() == ["none", "mp3", "none"]
    # minimal manifest given as a file; defaults; repeated names give relative-path ids
    _write(str(tmp_path / "other.csv"), "path,label\nx/a.wav,spoof\ny/a.wav,bonafide\n")
    t = load_trials(tmp_path / "other.csv", protocol="csv")
    assert t["utt_id"].tolist() == ["x/a", "y/a"]
    assert t["attack"].tolist() == ["unknown", "-"]
    assert t["speaker"].tolist() == ["-", "-"]
    assert t["split"].tolist() == ["eval", "eval"]


@pytest.mark.parametrize("text, message", [
    ("file,label\na.wav,spoof\n", "header lacks the column(s) path"),
    ("path,label\na.wav,spoof,extra\n", "other.csv:2: expected 2 columns (path,label), found 3"),
    ("path,label\na.wav,maybe\n", "other.csv:2: unknown label 'maybe'"),
    ("path,label,attack\na.wav,bonafide,A01\n", "other.csv:2: bona fide trial with attack id 'A01'"),
    ("path,label,utt_id\na.wav,spoof,u1\nb.wav,spoof,u1\n",
     "other.csv:3: duplicate utterance id 'u1' (first at line 2)"),
])
def test_csv_manifest_errors(tmp_path, text, message):
    _write(str(tmp_path / "other.csv"), text)
    with pytest.raises(ProtocolError) as err:
        load_trials(tmp_path / "other.csv", protocol="csv")
    assert message in str(err.value)


# ---- malformed 2019 protocols ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("train, message", [
    (LA_TRAIN + "LA_0079 LA_T_7 - A01\n", "ASVspoof2019.LA.cm.train.trn.txt:4: expected 5 columns "
                                          "(SPEAKER UTT - SYSTEM KEY), found 4"),
    (LA_TRAIN + "LA_0079 LA_T_7 - A01 spooof\n", "ASVspoof2019.LA.cm.train.trn.txt:4: unknown label 'spooof'"),
    ("LA_0079 LA_T_1 - - bonafide\n\nLA_0079 LA_T_1 - A01 spoof\n",
     "ASVspoof2019.LA.cm.train.trn.txt:3: duplicate utterance id 'LA_T_1' (first at line 1)"),
    ("LA_0079 LA_T_1 - A03 bonafide\n", "train.trn.txt:1: bona fide trial with attack id 'A03'"),
    ("LA_0079 LA_T_1 - - spoof\n", "train.trn.txt:1: spoof trial without an attack id"),
    ("\n  \n", "train.trn.txt: protocol file is empty"),
])
def test_malformed_2019_protocol(tmp_path, train, message):
    root = make_la2019(str(tmp_path), train, audio=False)
    with pytest.raises(ProtocolError) as err:
        load_trials(root)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_duplicate_id_across_files(tmp_path):
    root = make_la2019(str(tmp_path), LA_TRAIN, "LA_0069 LA_T_1271820 - - bonafide\n", audio=False)
    with pytest.raises(ProtocolError, match=r"dev.trl.txt:1: duplicate utterance id 'LA_T_1271820' "
                                            r"\(first at .*train.trn.txt:2\)"):
        load_trials(root)


def test_binary_protocol_file(tmp_path):
    root = make_la2019(str(tmp_path), LA_TRAIN, audio=False)
    with open(f"{root}/{CM}/ASVspoof2019.LA.cm.train.trn.txt", "wb") as fh:
        fh.write(b"fLaC\x00\x00\x00\x22" + bytes(range(256)))
    with pytest.raises(ProtocolError, match="not a text file"):
        load_trials(root)


def test_crlf_accepted_and_noted(tmp_path):
    plain = load_trials(make_la2019(str(tmp_path / "a"), LA_TRAIN, audio=False))
    root = str(tmp_path / "b")
    _write(f"{root}/{CM}/ASVspoof2019.LA.cm.train.trn.txt", LA_TRAIN, newline="\r\n")
    crlf = load_trials(root)
    assert crlf["utt_id"].tolist() == plain["utt_id"].tolist()
    assert crlf["label"].tolist() == plain["label"].tolist()
    findings = Findings()
    get_protocol("asvspoof2019-la").read(root, findings=findings)
    assert not findings.errors
    assert [w.problem for w in findings.warnings] == ["Windows (CRLF) line endings; accepted"]


def test_collecting_mode_reports_every_problem(tmp_path):
    train = ("LA_0079 LA_T_1 - - bonafide\n"
             "LA_0079 LA_T_2 - A01\n"              # 2: columns
             "LA_0079 LA_T_3 - A01 fake\n"         # 3: label
             "LA_0079 LA_T_1 - A02 spoof\n"        # 4: duplicate
             "LA_0079 LA_T_5 - A02 spoof\n")
    root = make_la2019(str(tmp_path), train, audio=False)
    findings = Findings()
    table = get_protocol("asvspoof2019-la").read(root, findings=findings)
    assert table["utt_id"].tolist() == ["LA_T_1", "LA_T_5"]
    assert [e.line for e in findings.errors] == [2, 3, 4]
    assert all(isinstance(e, ProtocolError) for e in findings.errors)


def test_detection_and_forcing(tmp_path):
    with pytest.raises(BenchError, match="cannot tell the corpus format; pass --protocol"):
        detect_protocol(tmp_path)
    with pytest.raises(BenchError, match="corpus folder not found"):
        load_trials(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="did you mean 'asvspoof5'"):
        load_trials(tmp_path, protocol="asvspoof55")
    root = make_la2019(str(tmp_path), LA_TRAIN, audio=False)
    # forcing a protocol whose files are not there names what it looked for
    with pytest.raises(ProtocolError, match="no ASVspoof 5 protocol found"):
        load_trials(root, protocol="asvspoof5")


# ---- corpus format plugins (entry-point group bench.protocols) -----------------------------------------------------
def _readme_protocol_plugin() -> str:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Writing a corpus format plugin", 1)[1].split("\n## ", 1)[0]
    assert 'labels-tsv = "my_detectors.labels"' in re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture()
def protocol_plugins(tmp_path, monkeypatch):
    """The README's plugin and a broken one as `bench.protocols` entry points; the registry is reset around the
    test so that no other test sees them."""
    import importlib.metadata
    import sys

    from spoofbench.protocols import registry

    package = tmp_path / "plugin_src" / "my_detectors"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "labels.py").write_text(_readme_protocol_plugin())
    (package / "broken.py").write_text('raise ImportError("libtsv.so.1: cannot open shared object file")\n')
    monkeypatch.syspath_prepend(str(package.parent))
    registry._ensure_builtin()  # built-ins (and installed plugins) first, as in a fresh process
    points = [importlib.metadata.EntryPoint("labels-tsv", "my_detectors.labels", registry.ENTRY_POINT_GROUP),
              importlib.metadata.EntryPoint("broken-format", "my_detectors.broken", registry.ENTRY_POINT_GROUP)]
    real = importlib.metadata.entry_points

    def entry_points(**selection):
        return points if selection.get("group") == registry.ENTRY_POINT_GROUP else real(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "_PLUGIN_ERRORS", {})
    monkeypatch.setattr(registry, "_PROTOCOLS", dict(registry._PROTOCOLS))
    yield
    for name in [m for m in sys.modules if m == "my_detectors" or m.startswith("my_detectors.")]:
        del sys.modules[name]


def test_protocol_plugin_from_an_entry_point_and_a_broken_one_reported(protocol_plugins, tmp_path):
    from click.testing import CliRunner

    from spoofbench.benchmark.cli import cli
    from spoofbench.protocols import list_protocols, plugin_errors

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "labels.tsv").write_text("a.flac\tbonafide\t-\nb.flac\tspoof\tA01\n")
    assert "labels-tsv" in list_protocols() and "asvspoof2019-la" in list_protocols()
    assert detect_protocol(corpus) == "labels-tsv"
    trials = load_trials(corpus)
    assert list(trials["utt_id"]) == ["a", "b"] and list(trials["label"]) == ["bonafide", "spoof"]
    assert trials["path"][1] == str(corpus / "b.flac")
    assert plugin_errors() == {"broken-format": "ImportError: libtsv.so.1: cannot open shared object file"}

    listed = CliRunner().invoke(cli, ["list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert "labels-tsv" in [p["protocol"] for p in data["protocols"]]
    assert data["protocol_plugin_errors"] == plugin_errors()
    with pytest.raises(BenchError, match="cannot tell the corpus format.*broken-format: ImportError: libtsv"):
        detect_protocol(tmp_path)
    with pytest.raises(ConfigError, match="unknown protocol 'broken'.*broken-format: ImportError"):
        get_protocol("broken")
