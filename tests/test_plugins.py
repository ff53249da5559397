"""A detector plugin built from the README's recipe, pip-installed into this environment, then listed, run by
`bench run` and used by `bench score`; a second, broken plugin is reported while the rest keeps working."""
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _tiny_corpus import tiny_corpus

README = Path(__file__).resolve().parent.parent / "README.md"
DIST = "spoofbench-zcr"


def readme_recipe() -> tuple[str, str]:
    """The Python and TOML blocks of the README section "Writing a detector plugin"."""
    text = README.read_text()
    section = text.split("## Writing a detector plugin", 1)[1].split("\n## ", 1)[0]
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    return python, toml


def pip(*args):
    return subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "-q"],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    src = tmp_path_factory.mktemp("plugin")
    python, toml = readme_recipe()
    package = src / "my_detectors"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "zcr.py").write_text(python)
    (package / "broken.py").write_text('raise ImportError("libzcr.so.1: cannot open shared object file")\n')
    assert 'zcr-lr = "my_detectors.zcr"' in toml
    entry = 'zcr-lr = "my_detectors.zcr"'
    (src / "pyproject.toml").write_text(toml.replace(entry, entry + '\nbroken-plugin = "my_detectors.broken"'))
    # offline and fast: the build backend (setuptools) is the one of this environment
    done = pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(src))
    assert done.returncode == 0, done.stderr
    yield src
    undone = pip("uninstall", "-y", DIST)
    assert undone.returncode == 0, undone.stderr


def bench(*args, env=None):
    return subprocess.run([sys.executable, "-m", "spoofbench.benchmark.cli", *map(str, args)], capture_output=True,
                          text=True, env=env)


def test_plugin_is_listed_and_a_broken_one_is_named(plugin):
    listed = bench("list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    rows = {r["detector"]: r for r in data["detectors"]}
    assert rows["zcr-lr"]["source"] == "my_detectors" and rows["zcr-lr"]["presets"] == ["default", "strong-reg"]
    assert "spectral-lr" in rows  # the built-ins still load
    assert data["plugin_errors"] == {"broken-plugin": "ImportError: libzcr.so.1: cannot open shared object file"}


def test_plugin_runs_in_bench_run_and_bench_score(plugin, tmp_path_factory, tmp_path):
    corpus = tiny_corpus(tmp_path_factory)
    env = dict(os.environ, SPOOFBENCH_CACHE=str(tmp_path / "cache"))
    out = tmp_path / "run"
    # zcr-noisy: the plugin trained with augmentation, which it gets without declaring augment
    run = bench("run", "--detectors", "zcr-lr.strong-reg,spectral-lr,zcr-noisy=zcr-lr", "--data", corpus,
                "--set", "zcr-noisy.augment=noise:white@10dB", "--out", out, "--n-bootstrap", 0, "--no-plots",
                env=env)
    assert run.returncode == 0, run.stderr
    assert "warning: detector plugin 'broken-plugin' failed to load: ImportError" in run.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["systems"]) == {"zcr-lr.strong-reg", "spectral-lr", "zcr-noisy", "fused-logreg",
                                       "fused-mean"}
    systems = json.loads((out / "run.json").read_text())["systems"]
    assert systems["zcr-lr.strong-reg"]["params"] == {"C": 0.01}
    assert systems["zcr-noisy"]["params"] == {"augment": "noise:white@10dB"}
    protocol = corpus / "LA" / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.train.trn.txt"
    n_train = len(protocol.read_text().splitlines())
    assert len(list((tmp_path / "cache" / "augmented-audio").rglob("*.wav"))) == n_train  # one copy per file

    # the saved plugin model scores audio through `bench score` exactly as in the run
    flac = corpus / "LA" / "ASVspoof2019_LA_eval" / "flac"
    csv_path = tmp_path / "zcr.csv"
    scored = bench("score", "--detector", "zcr-lr", "--checkpoint", out / "models" / "zcr-lr.strong-reg.det", flac,
                   "--out", csv_path, env=env)
    assert scored.returncode == 0, scored.stderr
    with open(csv_path) as fh:
        by_utt = {Path(r["path"]).stem: float(r["score"]) for r in csv.DictReader(fh)}
    run_scores = {ln.split()[0]: float(ln.split()[3])
                  for ln in (out / "scores" / "zcr-lr.strong-reg.eval.txt").read_text().splitlines()}
    assert run_scores and all(by_utt[u] == pytest.approx(s, abs=1e-7) for u, s in run_scores.items())

    # asking for the broken plugin gives its error, not "unknown detector"
    broken = bench("run", "--detectors", "broken-plugin", "--data", corpus, "--out", tmp_path / "b", env=env)
    assert broken.returncode == 2
    assert "error: detector 'broken-plugin' comes from a plugin that failed to load: ImportError" in broken.stderr
