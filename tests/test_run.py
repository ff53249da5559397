"""End-to-end tests of `bench run` on a tiny demo corpus (CPU, seconds each)."""
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from _tiny_corpus import bench, copy_corpus

from spoofbench.benchmark.scorefiles import read_scores
from spoofbench.detectors import register_detector
from spoofbench.detectors.spectral_lr import SpectralLR

pytestmark = pytest.mark.usefixtures("private_cache")


@register_detector("seeded-lr", presets={"default": {}}, default_preset="default")
class SeededLR(SpectralLR):
    """Spectral LR fitted on a seeded half of the training trials (so each seed gives other scores)."""

    def __init__(self, n_bands: int = 16, seed: int = 0):
        super().__init__(n_bands=n_bands)
        self.seed = seed

    def fit(self, train, dev=None):
        rng = np.random.default_rng(self.seed)
        keep = np.zeros(len(train), bool)
        for label in (0, 1):  # half of each class
            idx = np.flatnonzero(train.y == label)
            keep[rng.choice(idx, size=max(2, len(idx) // 2), replace=False)] = True
        return super().fit(train[keep], dev)


@register_detector("crashy", presets={"default": {}}, default_preset="default")
class Crashy(SpectralLR):
    """Fits, then crashes while scoring eval (a detector bug in the middle of a run)."""

    def __init__(self, n_bands: int = 8):
        super().__init__(n_bands=n_bands)

    def score(self, trials):
        if (trials["split"] == "eval").any():
            raise RuntimeError("boom: simulated crash while scoring")
        return super().score(trials)


def eval_scores(path) -> dict:
    return read_scores(path)


def test_end_to_end_report(corpus, tmp_path):
    out = tmp_path / "run"
    r = bench("run", "--detectors", "spectral-lr,seeded-lr", "--data", corpus, "--out", out,
              "--fusion", "logreg,calibrate", "--bootstrap", 50)
    assert r.exit_code == 0, r.output
    # the terminal shows the tables and where the report is
    assert "EER % per attack" in r.stdout and f"report: {out / 'report.md'}" in r.stdout
    for system in ("spectral-lr", "seeded-lr"):
        for split in ("dev", "eval"):
            lines = (out / "scores" / f"{system}.{split}.txt").read_text().splitlines()
            assert len(lines[0].split()) == 4  # UTT ATTACK KEY SCORE
    metrics = json.loads((out / "metrics.json").read_text())
    fused = ["fused-logreg", "spectral-lr+cal", "seeded-lr+cal"]
    assert list(metrics["systems"]) == ["spectral-lr", "seeded-lr", *fused]
    attacks = list(metrics["systems"]["fused-logreg"]["per_attack"])
    assert attacks == [f"A{i:02d}" for i in range(7, 20)]
    pooled = metrics["systems"]["fused-logreg"]["pooled"]
    assert pooled["min_tdcf_2019"] is not None and len(pooled["eer_ci"]) == 2  # ASV file of the corpus used
    for name in fused:
        assert (out / "scores" / f"{name}.eval.txt").is_file()

    # metrics.json is what `bench eval --format json` says about the same score files
    files = [f"{n}={out / 'scores' / f'{n}.eval.txt'}" for n in metrics["systems"]]
    ev = bench("eval", *sum([["--scores", f] for f in files], []), "--data", corpus, "--bootstrap", 50,
               "--format", "json")
    assert ev.exit_code == 0, ev.output
    evaluated = json.loads(ev.stdout)
    assert evaluated["systems"] == metrics["systems"] and evaluated["costs"] == metrics["costs"]
    assert set(evaluated["inputs"]) == set(metrics["inputs"])
    assert evaluated["inputs"]["scores"] == metrics["inputs"]["scores"]

    md = (out / "report.md").read_text()
    assert "| fused-logreg" in md and "![DET curves" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3 and "<table>" in html
    for stem in ("det", "det_per_attack", "hist_fused-logreg"):
        assert (out / "plots" / f"{stem}.png").stat().st_size > 10_000
        assert (out / "plots" / f"{stem}.pdf").is_file()
    for ext in ("md", "tex", "csv"):
        assert (out / "tables" / f"per_attack.{ext}").stat().st_size > 0
    run = json.loads((out / "run.json").read_text())
    assert run["command"][:4] == ["bench", "run", "--detectors", "spectral-lr,seeded-lr"]
    assert "ASVspoof2019.LA.cm.eval.trl.txt" in " ".join(run["corpus"]["protocol_files_sha256"])
    assert run["environment"]["packages"]["numpy"] == np.__version__
    assert run["environment"]["processor"]  # the numbers of trained models depend on the CPU
    assert run["environment"]["cpu_isa"]["class"] in ("SSE/AVX", "AVX2", "AVX-512", "AVX-512+AMX")
    assert "revision" in run["git"]
    det = run["systems"]["spectral-lr"]
    assert det["n_parameters"] == 3 * (3 * 32) + 1  # mean, scale and weight of 96 features + intercept
    assert det["real_time_factor_eval"] > 0 and det["timings"]["fit_s"] > 0
    assert {"load_corpus", "audio_scan", "fusion", "metrics", "plots", "total"} <= set(run["wall_time_s"])

    # a finished run re-run is a no-op apart from the report: nothing refitted, same numbers
    before = {p.name: p.stat().st_mtime_ns for p in (out / "scores").iterdir()}
    again = bench("run", "--detectors", "spectral-lr,seeded-lr", "--data", corpus, "--out", out,
                  "--fusion", "logreg,calibrate", "--bootstrap", 50, "--no-plots")
    assert again.exit_code == 0, again.output
    assert again.stderr.count("cached:") == 2 and "fitted" not in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (out / "scores").iterdir()} == before
    assert json.loads((out / "metrics.json").read_text()) == metrics


def test_fusion_is_learned_on_dev_only(corpus, tmp_path):
    """Shuffling the eval labels changes nothing in the fused eval scores."""
    shuffled = copy_corpus(corpus, tmp_path / "shuffled")
    proto = shuffled / "LA" / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.eval.trl.txt"
    lines = [ln.split() for ln in proto.read_text().splitlines()]
    tails = [ln[3:] for ln in lines]
    perm = np.random.default_rng(0).permutation(len(tails))
    proto.write_text("".join(" ".join(ln[:3] + tails[j]) + "\n" for ln, j in zip(lines, perm)))
    outs = {}
    for name, root in (("orig", corpus), ("shuf", shuffled)):
        outs[name] = tmp_path / name
        r = bench("run", "--detectors", "spectral-lr,seeded-lr", "--data", root, "--protocol", "asvspoof2019-la",
                  "--out", outs[name], "--fusion", "logreg,mean,xgboost", "--bootstrap", 0, "--no-plots")
        assert r.exit_code == 0, r.output
    for system in ("fused-logreg", "fused-mean", "fused-xgboost"):
        a = eval_scores(outs["orig"] / "scores" / f"{system}.eval.txt")
        b = eval_scores(outs["shuf"] / "scores" / f"{system}.eval.txt")
        assert a == b
    # ... while the labels did change (the metrics differ)
    ma = json.loads((outs["orig"] / "metrics.json").read_text())["systems"]["fused-logreg"]["pooled"]["eer"]
    mb = json.loads((outs["shuf"] / "metrics.json").read_text())["systems"]["fused-logreg"]["pooled"]["eer"]
    assert ma != mb


SLOW_SCRIPT = """
import sys, time
from spoofbench.detectors import register_detector
from spoofbench.detectors.spectral_lr import SpectralLR


@register_detector("slow-lr", presets={"default": {}}, default_preset="default")
class SlowLR(SpectralLR):
    def __init__(self, n_bands: int = 24, delay: float = 2.0):
        super().__init__(n_bands=n_bands)
        self.delay = delay

    def fit(self, train, dev=None):
        time.sleep(self.delay)
        return super().fit(train, dev)


from spoofbench.benchmark.cli import main
main(sys.argv[1:])
"""


def test_resume_after_kill_gives_the_same_numbers(corpus, tmp_path):
    script = tmp_path / "bench_with_slow.py"
    script.write_text(SLOW_SCRIPT)
    env = dict(os.environ, SPOOFBENCH_CACHE=str(tmp_path / "cache"))
    here = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")

    def args(out):
        return [sys.executable, str(script), "run", "--detectors", "spectral-lr,slow-lr", "--data", str(corpus),
                "--out", str(out), "--bootstrap", "30", "--no-plots"]

    out = tmp_path / "killed"
    proc = subprocess.Popen(args(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = out / "scores" / "spectral-lr.eval.txt"
    deadline = time.time() + 120
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.kill()  # SIGKILL while slow-lr is fitting: no clean-up code runs
    proc.wait()
    assert first.exists(), proc.stderr.read().decode()
    assert not (out / "scores" / "slow-lr.eval.txt").exists()
    assert not (out / "metrics.json").exists()

    resumed = subprocess.run(args(out), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    first_part, second_part = resumed.stderr.split("[2/2] slow-lr")
    # spectral-lr is reused (its files, or at least its saved model, depending on where the kill landed)
    assert "fitted in" not in first_part and ("cached: spectral-lr" in first_part or "loaded the fitted" in first_part)
    assert "fitted in" in second_part
    fresh = subprocess.run(args(tmp_path / "fresh"), env=env, capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stderr
    a = json.loads((out / "metrics.json").read_text())
    b = json.loads((tmp_path / "fresh" / "metrics.json").read_text())
    assert a["systems"] == b["systems"] and a["costs"] == b["costs"]  # every number (inputs name the folders)
    assert set(a["systems"]) == {"spectral-lr", "slow-lr", "fused-logreg", "fused-mean"}
    assert not list(out.rglob("*.tmp*"))  # no partial file left standing


def test_seeds_give_mean_and_std(corpus, tmp_path):
    out = tmp_path / "seeds"
    r = bench("run", "--detectors", "seeded-lr,spectral-lr", "--data", corpus, "--out", out, "--seeds", "1,2,3",
              "--fusion", "mean", "--bootstrap", 0, "--no-plots")
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (out / "scores").iterdir())
    assert "seeded-lr.seed2.eval.txt" in names and "spectral-lr.eval.txt" in names  # spectral-lr has no seed
    assert "fused-mean.seed3.eval.txt" in names
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seeds"] == [1, 2, 3] and set(metrics["per_seed"]) == {"1", "2", "3"}
    for system in ("seeded-lr", "fused-mean", "spectral-lr"):
        pooled = metrics["systems"][system]["pooled"]
        for key in ("eer", "cllr", "min_tdcf_2021"):
            per_seed = [metrics["per_seed"][s]["systems"][system]["pooled"][key] for s in ("1", "2", "3")]
            assert pooled[key] == pytest.approx(np.mean(per_seed))
            assert pooled[f"{key}_std"] == pytest.approx(np.std(per_seed, ddof=1))
        assert pooled["n_seeds"] == 3
    # one run shared by the seeds: the std of three equal values is 0 up to rounding (2.7e-16 on an AVX2 EPYC)
    assert metrics["systems"]["spectral-lr"]["pooled"]["cllr_std"] == pytest.approx(0, abs=1e-12)
    assert len({metrics["per_seed"][s]["systems"]["seeded-lr"]["pooled"]["cllr"] for s in "123"}) == 3
    summary = (out / "report.md").read_text()
    assert re.search(r"\| seeded-lr\s+\| \d+\.\d\d ± \d+\.\d\d", summary)


def test_crashing_detector_is_reported_and_the_others_finish(corpus, tmp_path):
    out = tmp_path / "crash"
    cmd = ["run", "--detectors", "crashy,spectral-lr,seeded-lr", "--data", corpus, "--out", out,
           "--fusion", "logreg", "--bootstrap", 0, "--no-plots"]
    r = bench(*cmd)
    assert r.exit_code == 3, r.output  # finished, with failures: the report is written for the others
    assert "FAILED: crashy: RuntimeError: boom" in r.stderr
    assert "LEFT OUT: crashy" in r.stderr and "detector(s) failed: crashy" in r.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["systems"]) == ["spectral-lr", "seeded-lr", "fused-logreg"]
    md = (out / "report.md").read_text()
    assert "**crashy** failed: `RuntimeError: boom: simulated crash while scoring`" in md
    assert "FAILED: RuntimeError" in md  # its row in the summary table
    assert "boom" in (out / "logs" / "crashy.traceback.txt").read_text()
    assert (out / "scores" / "crashy.dev.txt").is_file()  # dev was scored before the crash: kept
    run = json.loads((out / "run.json").read_text())
    assert run["systems"]["crashy"]["status"] == "failed"
    assert run["fusions"]["fused-logreg"]["left_out"] == {"crashy": "failed (RuntimeError: boom: simulated crash "
                                                                      "while scoring)"}
    # a rerun retries the failed detector (from its saved model) and reuses the others
    again = bench(*cmd)
    assert again.stderr.count("cached:") == 2 and "loaded the fitted model" in again.stderr
    assert again.exit_code == 3  # crashy crashes again


def test_unknown_names_get_a_suggestion(corpus, tmp_path):
    r = bench("run", "--detectors", "spectral-rl", "--data", corpus, "--out", tmp_path / "x")
    assert r.exit_code == 2 and "unknown detector 'spectral-rl' (did you mean 'spectral-lr'?)" in r.stderr
    assert not (tmp_path / "x").exists()  # nothing was started
    r = bench("run", "--detectors", "spectral-lr.defualt", "--data", corpus, "--out", tmp_path / "x")
    assert r.exit_code == 2 and "did you mean 'spectral-lr.default'" in r.stderr
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--fusion", "logref", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "unknown fusion 'logref' (did you mean 'logreg'?)" in r.stderr
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--set", "spectral-lr.n_band=3",
              "--out", tmp_path / "x")
    assert r.exit_code == 2
    assert "no parameter 'n_band' (did you mean 'n_bands'?); valid: n_bands, n_fft, C, sample_rate" in r.stderr
    r = bench("run", "--detectors", "spectral-lr", "--data", tmp_path / "nowhere", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "corpus folder not found" in r.stderr


def test_config_file_and_set(corpus, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(textwrap.dedent(f"""
        [run]
        detectors = ["spectral-lr"]
        fusion = ["calibrate"]
        data = "{corpus}"
        bootstrap = 0

        [spectral-lr]
        n_bands = 12
        C = 0.5
    """))
    out = tmp_path / "cfg"
    r = bench("run", "--config", config, "--set", "spectral-lr.C=2", "--out", out, "--no-plots")
    assert r.exit_code == 0, r.output
    params = json.loads((out / "run.json").read_text())["systems"]["spectral-lr"]["params"]
    assert params == {"n_bands": 12, "C": 2.0}
    assert (out / "scores" / "spectral-lr+cal.eval.txt").is_file()


def test_bad_audio_fail_or_skip(corpus, tmp_path):
    root = copy_corpus(corpus, tmp_path / "bad")
    train = sorted((root / "LA" / "ASVspoof2019_LA_train" / "flac").glob("*.flac"))
    evl = sorted((root / "LA" / "ASVspoof2019_LA_eval" / "flac").glob("*.flac"))
    proto = (root / "LA" / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.eval.trl.txt").read_text()
    in_eval = [p for p in evl if p.stem in proto]
    corrupt, empty = train[0], in_eval[0]
    corrupt.write_bytes(b"fLaC" + os.urandom(200))
    empty.write_bytes(b"")
    out = tmp_path / "out"
    r = bench("run", "--detectors", "spectral-lr", "--data", root, "--out", out, "--no-plots", "--bootstrap", 0)
    assert r.exit_code == 2
    assert r.stderr.count(str(corrupt)) == 1 and r.stderr.count(str(empty)) == 1
    assert "empty" in r.stderr and "--on-bad-audio skip" in r.stderr
    assert not list((out / "models").iterdir())  # stopped before training

    r = bench("run", "--detectors", "spectral-lr", "--data", root, "--out", out, "--no-plots", "--bootstrap", 0,
              "--on-bad-audio", "skip", "--fusion", "none")
    assert r.exit_code == 0, r.output
    assert r.stderr.count(f"skipping {corrupt}") == 1
    md = (out / "report.md").read_text()
    assert "Left out: 2 bad audio file(s)" in md and str(empty) in md
    pooled = json.loads((out / "metrics.json").read_text())["systems"]["spectral-lr"]["pooled"]
    assert pooled["n_bonafide"] + pooled["n_spoof"] == proto.count("\n") - 1


def test_read_only_output_folder(corpus, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    undo = _make_read_only(out)
    try:
        r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", out)
    finally:
        undo()
    assert r.exit_code == 2
    assert f"error: {out}: output folder is not writable" in r.stderr and "Traceback" not in r.output


def test_full_disk_mid_run_keeps_what_was_computed(corpus, tmp_path, monkeypatch):
    import errno

    import spoofbench.benchmark.pipeline.systems as systems

    real = systems.write_scores

    def full_disk(path, table, scores):
        if "seeded-lr" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, table, scores)

    monkeypatch.setattr(systems, "write_scores", full_disk)
    out = tmp_path / "disk"
    cmd = ["run", "--detectors", "spectral-lr,seeded-lr", "--data", corpus, "--out", out, "--no-plots",
           "--bootstrap", 0]
    r = bench(*cmd)
    assert r.exit_code == 2
    assert r.stderr.strip().endswith("seeded-lr.dev.txt: No space left on device")
    monkeypatch.setattr(systems, "write_scores", real)  # space freed
    r = bench(*cmd)
    assert r.exit_code == 0 and "cached: spectral-lr" in r.stderr


def _make_read_only(folder: Path):
    """chmod for normal users; root ignores modes, so use the immutable attribute there."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    subprocess.run(["chattr", "+i", str(folder)], check=True)
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_subset_of_each_split(corpus, tmp_path):
    out = tmp_path / "subset"
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", out, "--max-count", 30,
              "--fusion", "none", "--bootstrap", 0, "--no-plots")
    assert r.exit_code == 0, r.output
    pooled = json.loads((out / "metrics.json").read_text())["systems"]["spectral-lr"]["pooled"]
    assert pooled["n_bonafide"] + pooled["n_spoof"] == 30
    assert len((out / "scores" / "spectral-lr.dev.txt").read_text().splitlines()) == 30
    assert "a random subset of each split (at most 30 trials, seed 0)" in (out / "report.md").read_text()
