"""Cross-corpus evaluation in ``bench run``: pre-trained systems scored (not trained) beside systems trained on
the corpus, fine-tuned / frozen / from scratch side by side, ``--train-data A --data B``, saved models (.det)
scored on another corpus, ``bench score`` with a pre-trained preset, and one-line errors for bad inputs."""
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _tiny_corpus import bench, copy_corpus
from test_neural_engine import TinyDetector, TinyNet

from spoofbench.detectors import Detector, create_detector, register_detector
from spoofbench.protocols.files import file_sha256

pytestmark = pytest.mark.usefixtures("private_cache")

QUICK = ("--bootstrap", 0, "--no-plots")
#: Every fit call of the test family: (system's pretrained setting, finetune_epochs, train paths, dev paths).
FIT_CALLS: list[tuple] = []


@register_detector("xc-tiny", presets={"scratch": {}, "pretrained-test": {"pretrained": "xc-tiny-weights"},
                                       "small.pretrained-test": {"pretrained": "xc-tiny-weights", "channels": 8}},
                   default_preset="scratch")
class XcTiny(TinyDetector):
    """The engine's tiny test network with the three pre-training hyperparameters; records each fit call."""

    def __init__(self, channels: int = 8, n_samples: int = 4000, epochs: int = 2, batch_size: int = 4,
                 lr: float = 1e-2, seed: int = 1, device: str = "cpu", checkpoint_dir=None, threads: int = 1,
                 cache_audio="auto", num_workers: int = 0, eval_batch_size: int = 8, score_mode: str = "first",
                 window_hop=None, fast_inference: str = "off", progress: bool = False, sample_rate: int = 16000,
                 pretrained=None, finetune_epochs: int = 0, finetune_lr=None):
        super().__init__(channels, n_samples, epochs, batch_size, lr, seed, device, checkpoint_dir, threads,
                         cache_audio, num_workers, eval_batch_size, score_mode, window_hop, fast_inference, progress,
                         sample_rate)
        self.pretrained, self.finetune_epochs, self.finetune_lr = pretrained, finetune_epochs, finetune_lr

    def fit(self, train, dev=None):
        FIT_CALLS.append((self.pretrained, self.finetune_epochs, list(train["path"]),
                          list(dev["path"]) if dev is not None else []))
        return super().fit(train, dev)


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """TinyNet weights shipped as package data of a throwaway package, registered as 'xc-tiny-weights'."""
    from spoofbench.detectors.neural import pretrained as pre

    monkeypatch.delitem(sys.modules, "xcweights_pkg", raising=False)
    package = tmp_path / "site" / "xcweights_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    torch.manual_seed(11)
    torch.save(TinyNet(8).state_dict(), package / "tiny.pth")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    w = pre.PretrainedWeights("xc-tiny-weights", "xcweights_pkg", "tiny.pth", file_sha256(package / "tiny.pth"),
                              trained_on="the XC test set", source="tests/test_xcorpus.py", licence="none")
    monkeypatch.setitem(pre._WEIGHTS, "xc-tiny-weights", w)
    FIT_CALLS.clear()
    return w


def _run(*args):
    return bench("run", *args, *QUICK)


def _run_json(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def _summary(out: Path) -> dict[str, dict[str, str]]:
    """tables/summary.csv as system -> column -> cell."""
    import csv

    with open(out / "tables" / "summary.csv", newline="") as fh:
        return {row["system"]: row for row in csv.DictReader(fh)}


def _eval_scores(out: Path, system: str) -> dict[str, float]:
    lines = (out / "scores" / f"{system}.eval.txt").read_text().split("\n")
    return {p[0]: float(p[-1]) for p in (ln.split() for ln in lines if ln.strip())}


def _train_audio(root: Path) -> list[Path]:
    files = sorted((root / "LA" / "ASVspoof2019_LA_train" / "flac").glob("*.flac"))
    assert files, "the tiny corpus layout changed"
    return files


def _one_error(r) -> str:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


# ---- pre-trained systems are scored, not trained ----------------------------------------------------------------
def test_a_pretrained_system_is_scored_beside_a_trained_one_and_fused_with_it(corpus, tmp_path, weights):
    out = tmp_path / "run"
    r = _run("--detectors", "xc-tiny.pretrained-test,spectral-lr", "--data", corpus, "--out", out,
             "--fusion", "logreg")
    assert r.exit_code == 0, r.output
    assert FIT_CALLS == []  # the pre-trained system's fit was never called
    assert "not trained" in r.stderr and "fitted in" in r.stderr  # spectral-lr was fitted
    # its scores are those of the shipped weights, untouched
    expected = create_detector("xc-tiny.pretrained-test").score_files(
        [str(p) for p in sorted((Path(corpus) / "LA" / "ASVspoof2019_LA_eval" / "flac").glob("*.flac"))[:5]])
    got = _eval_scores(out, "xc-tiny.pretrained-test")
    first = sorted((Path(corpus) / "LA" / "ASVspoof2019_LA_eval" / "flac").glob("*.flac"))[:5]
    np.testing.assert_allclose([got[p.stem] for p in first], expected, rtol=1e-6, atol=1e-7)

    run = _run_json(out)
    system = run["systems"]["xc-tiny.pretrained-test"]
    assert system["pretrained"]["sha256"] == weights.sha256 and system["pretrained"]["finetune_epochs"] == 0
    assert system["training"]["kind"] == "pretrained" and system["trained_by_this_run"] is False
    assert "fit_s" not in system["timings"] and "load_s" in system["timings"]
    assert run["systems"]["spectral-lr"]["training"]["kind"] == "trained"
    assert run["systems"]["spectral-lr"]["pretrained"] is None
    assert set(run["fusions"]["fused-logreg"]["members"]) == {"xc-tiny.pretrained-test", "spectral-lr"}

    summary = _summary(out)
    assert summary["xc-tiny.pretrained-test"]["training"] == "pre-trained on the XC test set"
    assert summary["spectral-lr"]["training"] == f"trained on {Path(corpus).name} train"
    report = (out / "report.md").read_text()
    assert "pre-trained on the XC test set" in report and weights.sha256 in report
    assert "pre-trained on the XC test set" in (out / "report.html").read_text()


def test_a_run_of_pretrained_systems_reads_no_training_audio(corpus, tmp_path, weights):
    """With every training file deleted the run still finishes: a pre-trained system reads dev and eval only."""
    data = copy_corpus(corpus, tmp_path / "no-train-audio")
    for path in _train_audio(data):
        path.unlink()
    out = tmp_path / "run"
    r = _run("--detectors", "xc-tiny.pretrained-test", "--data", data, "--out", out, "--fusion", "none")
    assert r.exit_code == 0, r.output
    assert FIT_CALLS == []
    assert set(_run_json(out)["corpus"]["trials"]) == {"dev", "eval"}
    # the pre-trained system's results do not depend on the train split: a run that adds a trained system
    # reuses them (on the full corpus; here the train audio is gone)
    r = _run("--detectors", "xc-tiny.pretrained-test,spectral-lr", "--data", corpus, "--out", tmp_path / "both",
             "--fusion", "none")
    assert r.exit_code == 0, r.output
    r = _run("--detectors", "xc-tiny.pretrained-test", "--data", corpus, "--out", tmp_path / "both",
             "--fusion", "none")
    assert r.exit_code == 0 and "cached: xc-tiny.pretrained-test" in r.stderr, r.output
    # a system that trains does need that audio: the same corpus is then refused before any training
    r = _run("--detectors", "spectral-lr", "--data", data, "--out", tmp_path / "other", "--fusion", "none")
    assert r.exit_code == 2 and "nothing was trained" in r.output


def test_frozen_finetuned_and_scratch_side_by_side(corpus, tmp_path, weights):
    out = tmp_path / "run"
    r = _run("--detectors", "frozen=xc-tiny.pretrained-test,tuned=xc-tiny.pretrained-test,xc-tiny.scratch",
             "--set", "tuned.finetune_epochs=2", "--set", "tuned.finetune_lr=0.003", "--set", "xc-tiny.epochs=1",
             "--set", "xc-tiny.pretrained-test.finetune_lr=0.5", "--data", corpus, "--out", out, "--fusion", "none")
    assert r.exit_code == 0, r.output
    # fine-tuned from the weights for 2 epochs, scratch trained (1 epoch, --set xc-tiny reaches every system),
    # frozen never fitted
    assert sorted((c[0] or "", c[1]) for c in FIT_CALLS) == [("", 0), ("xc-tiny-weights", 2)]
    summary = _summary(out)
    name = Path(corpus).name
    assert summary["frozen"]["training"] == "pre-trained on the XC test set"
    assert summary["tuned"]["training"] == f"pre-trained on the XC test set; fine-tuned on {name} for 2 epochs"
    assert summary["xc-tiny.scratch"]["training"] == f"trained on {name} train"
    assert _eval_scores(out, "frozen") != _eval_scores(out, "tuned")
    run = _run_json(out)
    # precedence: --set NAME < --set NAME.PRESET < --set SYSTEM
    assert run["systems"]["tuned"]["params"]["finetune_lr"] == 0.003
    assert run["systems"]["frozen"]["params"]["finetune_lr"] == 0.5
    assert run["systems"]["tuned"]["training"]["kind"] == "finetuned"
    assert run["systems"]["tuned"]["pretrained"]["sha256"] == weights.sha256
    assert run["systems"]["frozen"]["params"].get("finetune_epochs", 0) == 0
    report = (out / "report.md").read_text()
    assert "2 epochs on " + name in report and "no (frozen)" in report

    # the same command again reuses every system (named systems have stage keys of their own)
    FIT_CALLS.clear()
    r = _run("--detectors", "frozen=xc-tiny.pretrained-test,tuned=xc-tiny.pretrained-test,xc-tiny.scratch",
             "--set", "tuned.finetune_epochs=2", "--set", "tuned.finetune_lr=0.003", "--set", "xc-tiny.epochs=1",
             "--set", "xc-tiny.pretrained-test.finetune_lr=0.5", "--data", corpus, "--out", out, "--fusion", "none")
    assert r.exit_code == 0 and FIT_CALLS == [] and r.stderr.count("cached:") == 3, r.output


def test_set_reaches_a_preset_whose_name_holds_dots(corpus, tmp_path, weights):
    out = tmp_path / "run"
    r = _run("--detectors", "xc-tiny.small.pretrained-test", "--set", "xc-tiny.small.pretrained-test.finetune_epochs=1",
             "--data", corpus, "--out", out, "--fusion", "none")
    assert r.exit_code == 0, r.output
    assert [(c[0], c[1]) for c in FIT_CALLS] == [("xc-tiny-weights", 1)]
    assert _run_json(out)["systems"]["xc-tiny.small.pretrained-test"]["params"]["finetune_epochs"] == 1
    assert _summary(out)["xc-tiny.small.pretrained-test"]["training"].endswith(f"{Path(corpus).name} for 1 epoch")


# ---- --train-data A --data B ----------------------------------------------------------------------------------
def test_train_on_one_corpus_and_score_another(corpus, tmp_path, weights):
    a = copy_corpus(corpus, tmp_path / "corpus-A")
    b = copy_corpus(corpus, tmp_path / "corpus-B")
    for path in _train_audio(b):  # B's training audio is never read: deleting it changes nothing
        path.unlink()
    out = tmp_path / "run"
    r = _run("--detectors", "xc-tiny.scratch,xc-tiny.pretrained-test", "--set", "xc-tiny.epochs=1",
             "--train-data", a, "--data", b, "--out", out, "--fusion", "logreg")
    assert r.exit_code == 0, r.output
    assert len(FIT_CALLS) == 1  # the scratch system only
    _, _, train_paths, dev_paths = FIT_CALLS[0]
    assert train_paths and all(p.startswith(str(a / "LA" / "ASVspoof2019_LA_train")) for p in train_paths)
    assert dev_paths and all(p.startswith(str(a / "LA" / "ASVspoof2019_LA_dev")) for p in dev_paths)
    # B's dev and eval were scored
    scored = _eval_scores(out, "xc-tiny.scratch")
    assert len(scored) == _run_json(out)["corpus"]["trials"]["eval"]
    run = _run_json(out)
    assert run["corpus"]["root"] == str(b) and run["train_corpus"]["root"] == str(a)
    assert set(run["train_corpus"]["trials"]) == {"train", "dev"} and set(run["corpus"]["trials"]) == {"dev", "eval"}
    assert run["options"]["train_data"] == str(a)
    assert run["systems"]["xc-tiny.scratch"]["training"]["corpus"] == str(a)
    assert run["systems"]["xc-tiny.pretrained-test"]["training"]["kind"] == "pretrained"
    report = (out / "report.md").read_text()
    assert f"Training corpus: `{a}`" in report and f"Evaluation corpus: `{b}`" in report
    assert _summary(out)["xc-tiny.scratch"]["training"] == "trained on corpus-A train"
    # the saved model says where it learnt
    meta = _model_meta(out / "models" / "xc-tiny.scratch.det")
    assert meta["provenance"]["trained_on"].startswith("corpus-A train")

    # changed training audio (A) trains again; B's eval only re-scores
    FIT_CALLS.clear()
    victim = _train_audio(a)[0]
    victim.write_bytes(_train_audio(corpus)[1].read_bytes())
    r = _run("--detectors", "xc-tiny.scratch,xc-tiny.pretrained-test", "--set", "xc-tiny.epochs=1",
             "--train-data", a, "--data", b, "--out", out, "--fusion", "logreg")
    assert r.exit_code == 0, r.output
    assert len(FIT_CALLS) == 1 and "cached: xc-tiny.pretrained-test" in r.stderr

    # changed eval audio of B: nothing is fitted again, eval is scored again (dev kept)
    FIT_CALLS.clear()
    evals = sorted((b / "LA" / "ASVspoof2019_LA_eval" / "flac").glob("*.flac"))
    evals[0].write_bytes(evals[1].read_bytes())
    r = _run("--detectors", "xc-tiny.scratch,xc-tiny.pretrained-test", "--set", "xc-tiny.epochs=1",
             "--train-data", a, "--data", b, "--out", out, "--fusion", "logreg")
    assert r.exit_code == 0, r.output
    assert FIT_CALLS == [] and "fitted in" not in r.stderr
    assert r.stderr.count("scoring eval again") == 2 and "scored dev" not in r.stderr


def test_train_data_audio_is_checked_like_the_corpus_audio(corpus, tmp_path):
    a = copy_corpus(corpus, tmp_path / "corpus-A")
    bad = _train_audio(a)[0]
    bad.write_bytes(b"not audio at all")
    r = _run("--detectors", "spectral-lr", "--train-data", a, "--data", corpus, "--out", tmp_path / "run",
             "--fusion", "none")
    assert r.exit_code == 2 and str(bad) in r.output and "nothing was trained" in r.output
    r = _run("--detectors", "spectral-lr", "--train-data", a, "--data", corpus, "--out", tmp_path / "run",
             "--fusion", "none", "--on-bad-audio", "skip")
    assert r.exit_code == 0, r.output
    assert _run_json(tmp_path / "run")["train_corpus"]["skipped_audio"][0]["path"] == str(bad)


# ---- saved models ----------------------------------------------------------------------------------------------
def _model_meta(path: Path) -> dict:
    from spoofbench.detectors.model_file import read_detector_file

    return read_detector_file(path)[0]


def test_a_saved_model_from_one_run_is_scored_on_another_corpus(corpus, tmp_path, weights):
    first = tmp_path / "first"
    r = _run("--detectors", "spectral-lr", "--data", corpus, "--out", first, "--fusion", "none")
    assert r.exit_code == 0, r.output
    model = first / "models" / "spectral-lr.det"
    assert _model_meta(model)["provenance"]["spec"] == "spectral-lr"

    other = copy_corpus(corpus, tmp_path / "other-corpus")
    for path in _train_audio(other):
        path.unlink()  # not needed: nothing is trained
    second = tmp_path / "second"
    r = _run("--detectors", f"{model},lr2={model}", "--data", other, "--out", second, "--fusion", "none")
    assert r.exit_code == 0, r.output
    assert "fitted in" not in r.stderr and "loaded the saved model" in r.stderr
    # the same model on the same audio: the same scores as the first run
    assert _eval_scores(second, "spectral-lr") == _eval_scores(first, "spectral-lr") == _eval_scores(second, "lr2")
    run = _run_json(second)
    assert run["systems"]["spectral-lr"]["model_file"] == str(model)
    assert run["systems"]["spectral-lr"]["training"]["sha256"] == file_sha256(model)
    row = _summary(second)["spectral-lr"]["training"]
    assert row == f"saved model spectral-lr.det (spectral-lr; trained on {Path(corpus).name} train)"
    assert _model_meta(model)["provenance"]["origin"]["corpus"] == str(corpus)

    # the same file again: cached; another model saved under that name: scored again
    r = _run("--detectors", model, "--data", other, "--out", second, "--fusion", "none")
    assert r.exit_code == 0 and "cached: spectral-lr" in r.stderr, r.output
    r = _run("--detectors", "spectral-lr", "--set", "spectral-lr.n_bands=8", "--data", corpus,
             "--out", tmp_path / "third", "--fusion", "none")
    assert r.exit_code == 0, r.output
    shutil.copy(tmp_path / "third" / "models" / "spectral-lr.det", model)
    r = _run("--detectors", model, "--data", other, "--out", second, "--fusion", "none")
    assert r.exit_code == 0 and "cached: spectral-lr" not in r.stderr, r.output
    assert _eval_scores(second, "spectral-lr") == _eval_scores(tmp_path / "third", "spectral-lr")

    # a pre-trained system's saved model keeps its weights' description
    r = _run("--detectors", "xc-tiny.pretrained-test", "--data", corpus, "--out", tmp_path / "pre", "--fusion", "none")
    assert r.exit_code == 0, r.output
    saved = tmp_path / "pre" / "models" / "xc-tiny.pretrained-test.det"
    r = _run("--detectors", saved, "--data", other, "--out", tmp_path / "pre2", "--fusion", "none")
    assert r.exit_code == 0, r.output
    run = _run_json(tmp_path / "pre2")
    assert run["systems"]["xc-tiny.pretrained-test"]["pretrained"]["sha256"] == weights.sha256
    assert "trained on the XC test set" in _summary(tmp_path / "pre2")["xc-tiny.pretrained-test"]["training"]
    assert FIT_CALLS == []


def test_bad_inputs_are_one_line_errors(corpus, tmp_path, weights):
    good = tmp_path / "good"
    assert _run("--detectors", "spectral-lr", "--data", corpus, "--out", good, "--fusion", "none").exit_code == 0
    model = good / "models" / "spectral-lr.det"

    line = _one_error(_run("--detectors", tmp_path / "missing.det", "--data", corpus))
    assert line == f"error: {tmp_path / 'missing.det'}: detector file not found"
    damaged = tmp_path / "damaged.det"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    assert "damaged (checksum mismatch)" in _one_error(_run("--detectors", damaged, "--data", corpus))
    not_a_model = tmp_path / "notes.det"
    not_a_model.write_text("hello")
    assert "not a detector file" in _one_error(_run("--detectors", not_a_model, "--data", corpus))

    not_corpus = tmp_path / "just-a-folder"
    not_corpus.mkdir()
    (not_corpus / "readme.txt").write_text("nothing here")
    assert "cannot tell the corpus format" in _one_error(_run("--detectors", "spectral-lr", "--data", not_corpus,
                                                              "--out", tmp_path / "x"))
    line = _one_error(_run("--detectors", "spectral-lr", "--train-data", not_corpus, "--data", corpus,
                           "--out", tmp_path / "y"))
    assert str(not_corpus) in line and "cannot tell the corpus format" in line
    line = _one_error(_run("--detectors", "spectral-lr", "--train-data", tmp_path / "nowhere", "--data", corpus))
    assert line == f"error: {tmp_path / 'nowhere'}: corpus folder not found"

    assert "give each its own name" in _one_error(_run("--detectors", "a=spectral-lr,a=xc-tiny", "--data", corpus))
    assert "is a registered detector" in _one_error(_run("--detectors", "xc-tiny=spectral-lr", "--data", corpus))
    assert "letters, digits" in _one_error(_run("--detectors", "a.b=spectral-lr", "--data", corpus))
    line = _one_error(_run("--detectors", f"m={model}", "--set", "m.n_bands=4", "--data", corpus))
    assert "m is a saved model" in line and "only runtime parameters" in line
    line = _one_error(_run("--detectors", "xc-tiny.pretrained-test", "--set", "tuned.finetune_epochs=2",
                           "--data", corpus))
    assert "'tuned' is not among the detectors of this run" in line
    assert not (tmp_path / "x" / "scores").exists() or not list((tmp_path / "x" / "scores").iterdir())

    # shipped weights altered after installation: refused before any work, naming the file
    shipped = tmp_path / "site" / "xcweights_pkg" / "tiny.pth"  # the weights fixture's package
    shipped.write_bytes(shipped.read_bytes()[:-8] + bytes(8))
    line = _one_error(_run("--detectors", "xc-tiny.pretrained-test", "--data", corpus, "--out", tmp_path / "z"))
    assert line.startswith(f"error: {shipped}: ") and "sha256" in line


# ---- bench score ---------------------------------------------------------------------------------------------
def test_bench_score_with_a_pretrained_preset_needs_no_checkpoint(corpus, tmp_path, weights):
    from click.testing import CliRunner

    from spoofbench.benchmark.cli import cli

    folder = tmp_path / "audio"
    folder.mkdir()
    files = sorted((Path(corpus) / "LA" / "ASVspoof2019_LA_eval" / "flac").glob("*.flac"))[:4]
    for f in files:
        shutil.copy(f, folder / f.name)
    out = tmp_path / "scores.csv"
    r = CliRunner().invoke(cli, ["score", "--detector", "xc-tiny.pretrained-test", str(folder), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = [ln.split(",") for ln in out.read_text().splitlines()[1:]]
    expected = create_detector("xc-tiny.pretrained-test").score_files(sorted(str(folder / f.name) for f in files))
    np.testing.assert_allclose([float(r_[1]) for r_ in rows], expected, rtol=1e-6, atol=1e-7)
    summary = json.loads((tmp_path / "scores.summary.json").read_text())
    assert summary["pretrained"]["sha256"] == weights.sha256 and summary["checkpoint"] is None
    assert FIT_CALLS == []

    r = CliRunner().invoke(cli, ["score", "--detector", "xc-tiny.scratch", str(folder)])
    assert r.exit_code == 2 and "xc-tiny.scratch is not a pre-trained preset: give --checkpoint FILE" in r.output
    r = CliRunner().invoke(cli, ["score", "--detector", "xc-tiny.pretrianed-test", str(folder)])
    assert r.exit_code == 2 and "did you mean 'xc-tiny.pretrained-test'" in r.output


def test_bench_list_presets_shows_parameter_counts_and_pretraining(weights):
    from click.testing import CliRunner

    from spoofbench.benchmark.cli import cli

    r = CliRunner().invoke(cli, ["list", "--presets", "--format", "json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = {p["preset"]: p for p in json.loads(r.output)["presets"]}
    tiny = 8 * 64 + 8 + 8 * 2 + 2
    assert rows["xc-tiny.pretrained-test"] == {"preset": "xc-tiny.pretrained-test", "parameters": tiny,
                                               "pretrained": "xc-tiny-weights", "trained_on": "the XC test set"}
    assert rows["xc-tiny.scratch"]["pretrained"] is None and rows["xc-tiny.scratch"]["parameters"] == tiny
    assert rows["rawnet2.small"]["parameters"] == create_detector("rawnet2.small").n_parameters()
    assert rows["lfcc-gmm.small"]["parameters"] == "after fit"
    table = CliRunner().invoke(cli, ["list", "--presets"], catch_exceptions=False).output
    assert any("xc-tiny.pretrained-test" in ln and "pre-trained on the XC test set" in ln and f"{tiny:,}" in ln
               for ln in table.splitlines())


def test_saved_models_record_their_pretrained_weights(weights, tmp_path):
    det = create_detector("xc-tiny.pretrained-test")
    det.save(tmp_path / "m.det", provenance={"spec": "xc-tiny.pretrained-test"})
    meta = _model_meta(tmp_path / "m.det")
    assert meta["pretrained"]["sha256"] == weights.sha256 and meta["provenance"]["spec"] == "xc-tiny.pretrained-test"
    loaded = Detector.load(tmp_path / "m.det")
    assert not loaded.needs_training and loaded.pretrained_info()["name"] == "xc-tiny-weights"


# ---- a real shipped pre-trained model, end to end ---------------------------------------------------------------
def _mini_manifest(corpus: Path, dest: Path, per_class: int) -> Path:
    """A ``csv`` corpus of a few tiny-corpus files per split and class (no ASV scores: no t-DCF on 2 trials)."""
    from spoofbench.protocols import get_protocol

    table = get_protocol("demo").read(str(corpus), keys=None)
    dest.mkdir()
    lines = ["path,label,attack,split"]
    for split in ("train", "dev", "eval"):
        for label in ("bonafide", "spoof"):
            rows = [i for i in range(len(table)) if table["split"][i] == split and table["label"][i] == label]
            for i in rows[:per_class]:
                name = f"{split}-{os.path.basename(table['path'][i])}"
                shutil.copy(table["path"][i], dest / name)
                lines.append(f"{name},{label},{table['attack'][i] if label == 'spoof' else '-'},{split}")
    (dest / "manifest.csv").write_text("\n".join(lines) + "\n")
    return dest


def test_the_shipped_aasist_la19_model_is_scored_beside_a_trained_system(corpus, tmp_path, monkeypatch):
    from spoofbench.detectors.aasist.detector import AASIST
    from spoofbench.detectors.neural.pretrained import get_weights, weights_path

    def no_fit(self, train, dev=None):
        raise AssertionError("a pre-trained AASIST must not be fitted")

    monkeypatch.setattr(AASIST, "fit", no_fit)
    data = _mini_manifest(Path(corpus), tmp_path / "mini", per_class=2)
    out = tmp_path / "run"
    r = _run("--detectors", "aasist.pretrained-la19,spectral-lr", "--data", data, "--out", out, "--fusion", "mean")
    assert r.exit_code == 0, r.output
    system = _run_json(out)["systems"]["aasist.pretrained-la19"]
    sha = file_sha256(weights_path("aasist-la19"))
    assert system["pretrained"]["sha256"] == sha == get_weights("aasist-la19").sha256
    assert system["pretrained"]["trained_on"] == "ASVspoof 2019 LA train"
    assert system["n_parameters"] == 297_866
    scores = _eval_scores(out, "aasist.pretrained-la19")
    assert len(scores) == 4 and all(np.isfinite(list(scores.values())))
    assert _summary(out)["aasist.pretrained-la19"]["training"] == "pre-trained on ASVspoof 2019 LA train"
    assert sha in (out / "report.md").read_text()
