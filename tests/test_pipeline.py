"""Tests of the `bench run` pipeline's stages (benchmark/pipeline/): structure, stage keys, exit status,
early validation, cache size, changed audio, score sets the t-DCF cannot use."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _tiny_corpus import bench, copy_corpus

from spoofbench.detectors import register_detector
from spoofbench.detectors.spectral_lr import SpectralLR
from spoofbench.protocols.errors import ConfigError

pytestmark = pytest.mark.usefixtures("private_cache")


@register_detector("workers-lr", presets={"default": {}}, default_preset="default")
class WorkersLR(SpectralLR):
    """Spectral LR with a hyperparameter it declares as runtime-only (it cannot change the scores)."""

    runtime_params = frozenset({"workers"})

    def __init__(self, n_bands: int = 16, workers: int = 1):
        super().__init__(n_bands=n_bands)
        self.workers = workers


@register_detector("checked-lr", presets={"default": {}}, default_preset="default")
class CheckedLR(SpectralLR):
    """Spectral LR whose hyperparameter check refuses fewer than one band."""

    def validate_params(self):
        if self.n_bands < 1:
            raise ConfigError(f"n_bands must be an integer >= 1, got {self.n_bands!r}")


@register_detector("caching-lr", presets={"default": {}}, default_preset="default")
class CachingLR(SpectralLR):
    """Spectral LR that leaves a feature-cache entry of known size, as the GMM baselines' front ends do."""

    runtime_params = frozenset({"cache_dir"})

    def __init__(self, n_bands: int = 16, cache_dir=None):
        super().__init__(n_bands=n_bands)
        self.cache_dir = cache_dir

    def fit(self, train, dev=None):
        folder = Path(self.cache_dir) / ("toyfront-" + "0123456789abcdef0123")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "entry.feat").write_bytes(bytes(1000))
        (folder / "params.json").write_text("{}")  # not an entry
        return super().fit(train, dev)


QUICK = ("--fusion", "none", "--bootstrap", 0, "--no-plots")


def test_report_does_not_import_the_pipeline():
    """The report gets provenance from its own module, not by reaching into the run pipeline."""
    code = ("import sys, spoofbench.benchmark.report; "
            "print(sorted(m for m in sys.modules if m.startswith('spoofbench.benchmark.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = done.stdout
    assert "spoofbench.benchmark.provenance" in loaded
    assert "spoofbench.benchmark.pipeline" not in loaded and "spoofbench.benchmark.runner" not in loaded


def test_runtime_params_come_from_the_detector_contract(corpus, tmp_path):
    """A hyperparameter the detector declares in ``runtime_params`` is left out of the stage key: changing it
    reuses the finished run; changing a result parameter retrains."""
    out = tmp_path / "run"
    r = bench("run", "--detectors", "workers-lr", "--data", corpus, "--out", out, *QUICK)
    assert r.exit_code == 0, r.output
    assert "fitted in" in r.stderr
    r = bench("run", "--detectors", "workers-lr", "--data", corpus, "--out", out, *QUICK,
              "--set", "workers-lr.workers=4")
    assert r.exit_code == 0, r.output
    assert "cached: workers-lr" in r.stderr and "fitted in" not in r.stderr
    r = bench("run", "--detectors", "workers-lr", "--data", corpus, "--out", out, *QUICK,
              "--set", "workers-lr.n_bands=12")
    assert r.exit_code == 0, r.output
    assert "fitted in" in r.stderr and "cached:" not in r.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["systems"]["workers-lr"]["params"]["n_bands"] == 12


def test_failed_fusion_exits_3_after_writing_the_report(corpus, tmp_path, monkeypatch):
    import spoofbench.benchmark.pipeline.fusion_stage as fusion_stage
    from spoofbench.benchmark.fusion import FusionError

    def broken(method, *args, **kwargs):
        raise FusionError(f"{method}: simulated failure")

    monkeypatch.setattr(fusion_stage, "fuse", broken)
    out = tmp_path / "run"
    r = bench("run", "--detectors", "spectral-lr,workers-lr", "--data", corpus, "--out", out, "--fusion", "mean",
              "--bootstrap", 0, "--no-plots")
    assert r.exit_code == 3, r.output
    assert "fusion(s) failed: fused-mean" in r.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["systems"]) == ["spectral-lr", "workers-lr"]  # the report covers what finished


def test_exit_statuses_are_documented():
    r = bench("run", "--help")
    assert r.exit_code == 0
    assert "Exit status" in r.output and "3  finished, but some detectors or fusions failed" in r.output


def test_option_names_match_the_other_commands(corpus, tmp_path):
    """--bootstrap and --max-count as in bench eval / bench data; the old names still work, hidden."""
    help_text = bench("run", "--help").output
    assert "--bootstrap" in help_text and "--max-count" in help_text
    assert "--n-bootstrap" not in help_text and "--max-trials" not in help_text
    out = tmp_path / "new"
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", out, "--max-count", 30,
              "--bootstrap", 0, "--fusion", "none", "--no-plots")
    assert r.exit_code == 0, r.output
    run = json.loads((out / "run.json").read_text())
    assert run["options"]["max_trials"] == 30 and run["options"]["n_bootstrap"] == 0
    assert run["corpus"]["trials"] == {"train": 30, "dev": 30, "eval": 30}
    assert "--max-count" in run["command"] and "--bootstrap" in run["command"]
    # the old spellings: the same run, recorded under the new names
    old = tmp_path / "old"
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", old, "--max-trials", 30,
              "--n-bootstrap", 0, "--fusion", "none", "--no-plots")
    assert r.exit_code == 0, r.output
    old_run = json.loads((old / "run.json").read_text())
    assert [str(out) if w == str(old) else w for w in old_run["command"]] == run["command"]
    assert old_run["corpus"]["trials"] == run["corpus"]["trials"]
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--bootstrap", 5, "--n-bootstrap", 6)
    assert r.exit_code == 2 and "--bootstrap and --n-bootstrap (its old name) disagree" in r.output


def test_config_run_table_takes_bootstrap_and_its_old_name(tmp_path):
    from spoofbench.benchmark.config import load_config

    for key in ("bootstrap", "n_bootstrap"):
        path = tmp_path / f"{key}.toml"
        path.write_text(f"[run]\n{key} = 7\n")
        assert load_config(path).run == {"bootstrap": 7}


def _one_error_line(r) -> str:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def test_hyperparameter_values_are_checked_before_the_corpus_is_loaded(tmp_path):
    """validate_params() of every planned detector runs first: here the 'corpus' is an empty folder, which
    would be an error of its own if it were read."""
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    r = bench("run", "--detectors", "spectral-lr,checked-lr", "--data", empty, "--out", out,
              "--set", "checked-lr.n_bands=0")
    assert _one_error_line(r) == "error: checked-lr: n_bands must be an integer >= 1, got 0"
    assert not out.exists()


@pytest.mark.parametrize("seeds, problem", [("-1", "'-1'"), ("1,x", "'x'"), ("4294967296", "'4294967296'")])
def test_bad_seeds_are_one_line_before_any_work(tmp_path, seeds, problem):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = bench("run", "--detectors", "spectral-lr", "--data", empty, f"--seeds={seeds}", "--out", tmp_path / "o")
    assert _one_error_line(r) == f"error: --seeds: seeds must be integers from 0 to 4294967295, got {problem}"
    assert not (tmp_path / "o").exists()


def test_config_seeds_are_read_as_the_run_option(corpus, tmp_path):
    """[run] seeds = "1,2" is the [run] option (as --seeds 1,2), not a string handed to a detector's seed."""
    config = tmp_path / "run.toml"
    config.write_text('[run]\nseeds = "1,2"\n')
    out = tmp_path / "out"
    r = bench("run", "--config", config, "--detectors", "spectral-lr", "--data", corpus, "--out", out, *QUICK)
    assert r.exit_code == 0, r.output
    assert json.loads((out / "run.json").read_text())["seeds"] == [1, 2]
    config.write_text('[run]\nseeds = "1,two"\n')
    r = bench("run", "--config", config, "--detectors", "spectral-lr", "--data", corpus, "--out", out, *QUICK)
    assert _one_error_line(r) == (f"error: {config}: [run] seeds: seeds must be integers from 0 to 4294967295, "
                                  "got 'two'")


def test_asv_score_files_are_read_before_training(corpus, tmp_path):
    asv = corpus / "LA" / "ASVspoof2019_LA_asv_scores" / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"
    bad = tmp_path / "bad_asv.txt"
    bad.write_text(asv.read_text().replace("nontarget", "non-target", 1))
    out = tmp_path / "out"
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", out, "--asv-scores", bad, *QUICK)
    line = _one_error_line(r)
    assert line.startswith(f"error: {bad}:") and "'non-target'" in line
    assert "fitted" not in r.stderr and not (out / "scores").exists()

    # the corpus's own ASV file, broken: found before training as well
    broken = copy_corpus(corpus, tmp_path / "broken")
    own = broken / asv.relative_to(corpus)
    own.write_text("")
    r = bench("run", "--detectors", "spectral-lr", "--data", broken, "--out", tmp_path / "b", *QUICK)
    assert r.exit_code == 2 and r.stderr.strip().splitlines()[-1] == f"error: {own}: ASV score file is empty"
    assert "fitted" not in r.stderr
    assert not list((tmp_path / "b" / "scores").iterdir())

    # fixing the ASV file (another valid one) changes the t-DCF only: finished detectors are not retrained
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", out, *QUICK)
    assert r.exit_code == 0 and "fitted in" in r.stderr, r.output
    other = tmp_path / "other_asv.txt"
    other.write_text(asv.read_text())
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", out, "--asv-scores", other, *QUICK)
    assert r.exit_code == 0, r.output
    assert "cached: spectral-lr" in r.stderr and "fitted in" not in r.stderr
    assert json.loads((out / "run.json").read_text())["corpus"]["asv_scores"]["eval"] == str(other)


def test_run_json_reports_the_feature_cache_size(corpus, tmp_path):
    out = tmp_path / "out"
    r = bench("run", "--detectors", "caching-lr,spectral-lr", "--data", corpus, "--out", out, *QUICK)
    assert r.exit_code == 0, r.output
    usage = json.loads((out / "run.json").read_text())["feature_cache"]
    features = str(tmp_path / "cache" / "features")  # the run's default: $SPOOFBENCH_CACHE/features
    assert usage == {features: {"bytes": 1000, "entries": 1,
                                "per_frontend": {"toyfront": {"bytes": 1000, "entries": 1}}}}


def _eval_file(root, utt):
    return root / "LA" / "ASVspoof2019_LA_eval" / "flac" / f"{utt}.flac"


def test_changed_audio_is_scored_again(corpus, tmp_path):
    from spoofbench.benchmark.scorefiles import read_scores

    root = copy_corpus(corpus, tmp_path / "corpus")
    out = tmp_path / "out"
    cmd = ("run", "--detectors", "spectral-lr", "--data", root, "--out", out, *QUICK)
    r = bench(*cmd)
    assert r.exit_code == 0, r.output
    scores = out / "scores" / "spectral-lr.eval.txt"
    before = read_scores(scores)
    dev_stamp = (out / "scores" / "spectral-lr.dev.txt").stat().st_mtime_ns
    target, donor = sorted(before)[:2]
    assert before[target] != pytest.approx(before[donor])
    _eval_file(root, target).write_bytes(_eval_file(root, donor).read_bytes())  # same name, new content

    r = bench(*cmd)
    assert r.exit_code == 0, r.output
    assert "cached:" not in r.stderr and "fitted in" not in r.stderr  # eval audio changed: scoring only
    assert "eval audio changed" in r.stderr
    after = read_scores(scores)
    assert after[target] == pytest.approx(before[donor], rel=1e-9)  # its new content scores as the donor did
    unchanged = [u for u in before if u != target]
    assert [after[u] for u in unchanged] == pytest.approx([before[u] for u in unchanged], rel=1e-12)
    assert (out / "scores" / "spectral-lr.dev.txt").stat().st_mtime_ns == dev_stamp

    train = sorted((root / "LA" / "ASVspoof2019_LA_train" / "flac").glob("*.flac"))
    train[0].write_bytes(train[1].read_bytes())
    r = bench(*cmd)
    assert r.exit_code == 0 and "fitting again" in r.stderr and "fitted in" in r.stderr, r.output


def test_verify_audio_finds_content_changed_under_the_same_size_and_mtime(corpus, tmp_path):
    """Audio rewritten with its size and mtime kept: only --verify-audio can see it."""
    import numpy as np
    import soundfile as sf

    from spoofbench.benchmark.scorefiles import read_scores

    root = copy_corpus(corpus, tmp_path / "corpus")
    out = tmp_path / "out"
    cmd = ("run", "--detectors", "spectral-lr", "--data", root, "--out", out, *QUICK)
    path = _eval_file(root, sorted(p.stem for p in (root / "LA" / "ASVspoof2019_LA_eval" / "flac").glob("*.flac"))[0])
    rng = np.random.default_rng(0)
    sf.write(path, 0.1 * rng.standard_normal(16000), 16000, format="WAV", subtype="PCM_16")  # decodes by content
    r = bench(*cmd)
    assert r.exit_code == 0, r.output
    before = read_scores(out / "scores" / "spectral-lr.eval.txt")[path.stem]
    st = path.stat()
    sf.write(path, 0.5 * rng.standard_normal(16000) ** 3, 16000, format="WAV", subtype="PCM_16")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    r = bench(*cmd)
    assert r.exit_code == 0 and "cached: spectral-lr" in r.stderr, r.output  # size and mtime say unchanged
    r = bench(*cmd, "--verify-audio")
    assert r.exit_code == 0 and "eval audio changed" in r.stderr, r.output
    after = read_scores(out / "scores" / "spectral-lr.eval.txt")[path.stem]
    assert after != pytest.approx(before, rel=1e-6)


@register_detector("binary-lr", presets={"default": {}}, default_preset="default")
class BinaryLR(SpectralLR):
    """Spectral LR that outputs hard decisions (0 or 1), which no t-DCF can be computed from."""

    def score(self, trials):
        return (super().score(trials) > 0).astype(float)


def test_hard_decisions_get_the_t_dcf_error_not_empty_columns(corpus, tmp_path):
    out = tmp_path / "out"
    r = bench("run", "--detectors", "spectral-lr,binary-lr,workers-lr", "--data", corpus, "--out", out,
              "--fusion", "mean", "--bootstrap", 0, "--no-plots")
    assert r.exit_code == 3, r.output
    assert ("FAILED: binary-lr: only 2 distinct score(s): the t-DCF needs soft scores, "
            "not hard decisions") in r.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["systems"]) == ["spectral-lr", "workers-lr", "fused-mean"]
    assert all(m["pooled"]["min_tdcf_2021"] is not None for m in metrics["systems"].values())
    run = json.loads((out / "run.json").read_text())
    assert run["systems"]["binary-lr"]["status"] == "failed"
    assert "binary-lr" in run["fusions"]["fused-mean"]["left_out"]
    assert "t-DCF needs soft scores" in (out / "report.md").read_text()


def test_hard_decisions_within_one_attack_are_found():
    import numpy as np

    from spoofbench.benchmark.evaluation import hard_decision_problem
    from spoofbench.protocols.trials import TrialTable

    labels = ["bonafide", "bonafide", "spoof", "spoof", "spoof", "spoof"]
    attacks = ["-", "-", "A01", "A01", "A02", "A02"]
    trials = TrialTable.from_records({"utt_id": f"u{i}", "label": label, "attack": attack}
                                     for i, (label, attack) in enumerate(zip(labels, attacks)))
    assert hard_decision_problem(np.array([1.0, 0.9, 0.0, 0.5, 0.2, 0.3]), trials) is None
    problem = hard_decision_problem(np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0]), trials)
    assert problem.startswith("only 2 distinct score(s): the t-DCF needs soft scores")
    problem = hard_decision_problem(np.array([1.0, 1.0, 0.5, 0.2, 0.0, 0.0]), trials)
    assert problem.startswith("only 2 distinct score(s) among the bona fide and A02 trials: the t-DCF needs")


def test_config_on_bad_audio_is_checked_before_the_corpus_is_read(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    config = tmp_path / "run.toml"
    config.write_text('[run]\non_bad_audio = "skpi"\n')
    r = bench("run", "--config", config, "--detectors", "spectral-lr", "--data", empty, "--out", tmp_path / "o")
    assert _one_error_line(r) == "error: on_bad_audio must be skip or fail, got 'skpi'"


@pytest.mark.parametrize("setting, named", [
    ("rawnet2.small.epochs=-1", "epochs=-1"), ("rawnet2.small.epochs=0", "epochs=0"),
    ("rawnet2.small.batch_size=0", "batch_size=0"), ("rawnet2.small.lr=-1", "lr=-1"),
    ("lfcc-gmm.small.n_components=0", "n_components=0"), ("lfcc-gmm.small.n_iter=-3", "n_iter=-3"),
    ('lfcc-gmm.small.frontend="lfcc2019x"', "frontend='lfcc2019x'"),
])
def test_builtin_detectors_refuse_bad_values_before_the_corpus_is_read(tmp_path, setting, named):
    """The probes that once became 'detector failed' after corpus loading: one line, exit 2, nothing read."""
    empty = tmp_path / "empty"
    empty.mkdir()
    spec = setting.split(".", 2)
    r = bench("run", "--detectors", f"{spec[0]}.{spec[1]}", "--data", empty, "--out", tmp_path / "out",
              "--set", setting)
    line = _one_error_line(r)
    assert line.startswith(f"error: {spec[0]}") and named in line, line
    assert not (tmp_path / "out").exists()
