"""The feature cache's administration (`bench cache info|clear`, cache_usage) and its on-disk format."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from click.testing import CliRunner

from spoofbench.benchmark.cli import cli
from spoofbench.detectors import frontends
from spoofbench.detectors.feature_cache import FeatureExtractor, cache_usage, clear_cache
from spoofbench.protocols.audio import write_audio

FS = 16000


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache_audio")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(4):
        path = folder / f"a{i}.flac"
        write_audio(path, 0.1 * rng.normal(size=FS // 2), FS)
        paths.append(str(path))
    return paths


def filled_cache(root, paths):
    """Cache lfcc (default and small parameter sets) and cqcc features of ``paths`` under ``root``."""
    for kind, params in (("lfcc", frontends.frontend_params("lfcc")),
                         ("lfcc", frontends.frontend_params("lfcc", n_ceps=10)),
                         ("cqcc", frontends.frontend_params("cqcc", "asvspoof2021"))):
        FeatureExtractor(kind, params, cache_dir=root, n_jobs=1, progress=False).features(paths)
    return root


def entry_files(root, kind=None):
    return sorted(p for p in root.glob("*/*.feat") if kind is None or p.parent.name.startswith(kind + "-"))


def test_cache_usage_counts_entries_and_bytes_per_frontend(audio, tmp_path):
    root = filled_cache(tmp_path / "features", audio)
    usage = cache_usage(root)
    assert set(usage) == {"lfcc", "cqcc"}
    for kind in ("lfcc", "cqcc"):
        files = entry_files(root, kind)
        assert usage[kind]["entries"] == len(files)
        assert usage[kind]["bytes"] == sum(f.stat().st_size for f in files)
        assert usage[kind]["oldest"] <= usage[kind]["newest"]
    assert usage["lfcc"]["parameter_sets"] == 2 and usage["lfcc"]["entries"] == 2 * len(audio)
    assert cache_usage(tmp_path / "missing") == {}


def test_bench_cache_info_and_clear(audio, tmp_path):
    root = filled_cache(tmp_path / "features", audio)
    runner = CliRunner()
    info = runner.invoke(cli, ["cache", "info", "--dir", str(root), "--json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.output)["frontends"]["cqcc"]["entries"] == len(audio)
    table = runner.invoke(cli, ["cache", "info", "--dir", str(root)])
    assert table.exit_code == 0 and "lfcc" in table.output and "cqcc" in table.output

    old = entry_files(root, "lfcc")[:3]
    month_ago = time.time() - 40 * 86400
    for f in old:
        os.utime(f, (month_ago, month_ago))
    result = runner.invoke(cli, ["cache", "clear", "--dir", str(root), "--older-than", "30d"])
    assert result.exit_code == 0, result.output
    assert "removed 3 entries" in result.output
    assert not any(f.exists() for f in old) and len(entry_files(root)) == 3 * len(audio) - 3

    result = runner.invoke(cli, ["cache", "clear", "--dir", str(root), "--frontend", "cqcc"])
    assert result.exit_code == 0 and not entry_files(root, "cqcc") and entry_files(root, "lfcc")
    assert not any(d.name.startswith("cqcc-") for d in root.iterdir())  # its folder went with its entries

    result = runner.invoke(cli, ["cache", "clear", "--dir", str(root)])
    assert result.exit_code == 0 and cache_usage(root) == {}


def test_env_var_picks_the_cache_root(audio, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "bench"))
    filled_cache(tmp_path / "bench" / "features", audio[:1])
    result = CliRunner().invoke(cli, ["cache", "info", "--json"])
    assert json.loads(result.output)["frontends"]["lfcc"]["entries"] == 2


@pytest.mark.parametrize("args, message", [(["--older-than", "30 days"], "--older-than"),
                                           (["--frontend", "mfcc"], "--frontend 'mfcc'")])
def test_bad_clear_options_give_one_line_errors(audio, tmp_path, args, message):
    root = filled_cache(tmp_path / "features", audio[:1])
    result = CliRunner().invoke(cli, ["cache", "clear", "--dir", str(root), *args])
    assert result.exit_code == 2 and result.output.startswith("error: ") and message in result.output
    assert len(entry_files(root)) == 3  # nothing removed


def test_clear_keeps_recent_entries_and_their_folder(audio, tmp_path):
    root = filled_cache(tmp_path / "features", audio[:2])
    assert clear_cache(root, older_than=3600) == {"entries": 0, "bytes": 0}
    assert len(entry_files(root)) == 6 and all((d / "params.json").exists() for d in root.iterdir())
