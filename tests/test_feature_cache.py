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
from spoofbench.detectors.feature_entries import decode_entry, encode_entry
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


# ---- entry format ------------------------------------------------------------------------------------------
FRONT_ENDS = [("lfcc", "asvspoof2019"), ("lfcc", "asvspoof2021"), ("cqcc", "asvspoof2019"), ("cqcc", "asvspoof2021")]


@pytest.mark.parametrize("kind, preset", FRONT_ENDS)
def test_entries_hold_the_exact_frames_in_about_half_the_size(audio, kind, preset):
    params = frontends.frontend_params(kind, preset)
    from spoofbench.protocols.audio import load_audio

    feats = frontends.extract(kind, load_audio(audio[0], FS), params)
    blob = encode_entry(feats, params)
    assert len(blob) < 0.6 * feats.nbytes, (len(blob), feats.nbytes)
    decoded = decode_entry(blob)
    assert decoded.dtype == np.float32 and decoded.shape == feats.shape
    np.testing.assert_array_equal(decoded.view(np.uint32), feats.view(np.uint32))  # bit for bit


def test_entries_without_delta_columns_round_trip():
    rng = np.random.default_rng(1)
    for feats in (rng.normal(size=(50, 7)).astype(np.float32), np.zeros((0, 60), np.float32)):
        np.testing.assert_array_equal(decode_entry(encode_entry(feats)), feats)
        np.testing.assert_array_equal(decode_entry(encode_entry(feats, {"deltas": 2, "delta_halfwidth": 1,
                                                                       "delta_normalize": True})), feats)


def test_format_1_entries_are_still_read():
    import hashlib
    import struct

    feats = np.random.default_rng(2).normal(size=(30, 60)).astype(np.float32)
    payload = feats.astype("<f4").tobytes()
    old = struct.pack("<8sqq32s", b"SBFEAT01", 30, 60, hashlib.blake2b(payload, digest_size=32).digest()) + payload
    np.testing.assert_array_equal(decode_entry(old), feats)
    assert decode_entry(old[:-4]) is None


@pytest.mark.parametrize("where", ["static", "residual", "dims"])
def test_damaged_entries_read_as_missing(audio, where):
    params = frontends.frontend_params("lfcc")
    from spoofbench.protocols.audio import load_audio

    feats = frontends.extract("lfcc", load_audio(audio[1], FS), params)
    blob = bytearray(encode_entry(feats, params))
    header = 8 + 7 * 8 + 32
    if where == "static":
        blob[header + 100] ^= 0x01  # one bit of one static coefficient
    elif where == "residual":
        blob[-3] ^= 0xFF
    else:
        blob[8 + 5 * 8] ^= 0x01  # the delta half-width: deltas decoded another way
    assert decode_entry(bytes(blob)) is None


def test_cached_features_equal_fresh_ones_and_take_about_half_the_space(audio, tmp_path):
    params = frontends.frontend_params("cqcc", "asvspoof2021")
    fresh = FeatureExtractor("cqcc", params, cache_dir=False, n_jobs=1, progress=False).features(audio)
    cached = FeatureExtractor("cqcc", params, cache_dir=tmp_path, n_jobs=1, progress=False)
    cached.features(audio)
    again = cached.features(audio)
    assert cached.last_hits == len(audio)
    for a, b in zip(fresh, again):
        np.testing.assert_array_equal(a, b)
    assert cache_usage(tmp_path)["cqcc"]["bytes"] < 0.6 * sum(f.nbytes for f in fresh)
