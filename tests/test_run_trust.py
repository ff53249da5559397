"""What `bench run` trusts from earlier runs: leftovers of killed runs are swept, stale fused scores are not
taken for current ones, and damaged score files, manifests and model files are recomputed, never reused."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from _tiny_corpus import bench

from spoofbench.detectors import Detector
from spoofbench.protocols.errors import BenchError

QUICK = ("--bootstrap", 0, "--no-plots")

pytestmark = pytest.mark.usefixtures("private_cache")


def run_lr(corpus, out, *extra):
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", out, *QUICK, *extra)
    assert r.exit_code == 0, r.output
    return r


def _scores(path: Path) -> np.ndarray:
    return np.array([float(line.split()[3]) for line in path.read_text().splitlines()])


def change_a_score(path: Path) -> None:
    """Alter the first score's leading digit (the file stays well-formed: only the value is wrong)."""
    lines = path.read_text().splitlines()
    utt, attack, key, score = lines[0].split()
    digit = next(i for i, c in enumerate(score) if c.isdigit())
    score = score[:digit] + str((int(score[digit]) + 5) % 10) + score[digit + 1:]
    lines[0] = " ".join((utt, attack, key, score))
    path.write_text("\n".join(lines) + "\n")


# ---- leftovers of killed runs ---------------------------------------------------------------------------

def test_temporary_files_of_a_killed_run_are_removed(corpus, tmp_path):
    out = tmp_path / "run"
    run_lr(corpus, out, "--fusion", "none")
    leftovers = [out / "plots" / ".hist_spectral-lr.png.tmp4242.0a1b2c3d",
                 out / "scores" / ".spectral-lr.eval.txt.tmp17.deadbeef",
                 out / ".report.md.tmp9.01234567",
                 out / "work" / "rawnet2-abc" / ".epoch_1.pt.tmp5.89abcdef",
                 out / ".write-test-12345"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    mine = out / "plots" / "notes.tmp"  # not a name atomic_path makes: not ours to remove
    mine.write_text("keep")
    r = run_lr(corpus, out, "--fusion", "none")
    assert "removed 5 temporary file(s) left by an interrupted run" in r.stderr
    assert not any(p.exists() for p in leftovers) and mine.read_text() == "keep"


def test_scores_of_fusions_no_longer_made_are_removed(corpus, tmp_path):
    out = tmp_path / "run"
    run_lr(corpus, out, "--fusion", "calibrate")
    calibrated = out / "scores" / "spectral-lr+cal.eval.txt"
    assert calibrated.is_file()
    old_seed = out / "scores" / "fused-mean.seed3.eval.txt"
    old_seed.write_text(calibrated.read_text())
    r = run_lr(corpus, out, "--fusion", "none")
    assert not calibrated.exists() and not old_seed.exists()
    assert "removed 2 score file(s) of fusions this run does not make" in r.stderr
    assert sorted(p.name for p in (out / "scores").iterdir()) == ["spectral-lr.dev.txt", "spectral-lr.eval.txt"]
    assert list(json.loads((out / "metrics.json").read_text())["systems"]) == ["spectral-lr"]


# ---- integrity of what a run reuses --------------------------------------------------------------------

def test_a_changed_score_file_is_recomputed_not_reused(corpus, tmp_path):
    out = tmp_path / "run"
    run_lr(corpus, out, "--fusion", "none")
    path = out / "scores" / "spectral-lr.eval.txt"
    clean = _scores(path)
    change_a_score(path)
    r = run_lr(corpus, out, "--fusion", "none")
    assert "cached: spectral-lr" not in r.stderr and "scored eval" in r.stderr and "scored dev" not in r.stderr
    np.testing.assert_allclose(_scores(path), clean, rtol=1e-12)


def test_a_damaged_manifest_is_named_and_not_trusted(corpus, tmp_path):
    """The score file is altered and its manifest record rewritten to vouch for it: the manifest's own checksum
    no longer matches, so the run warns and recomputes instead of reusing the altered scores."""
    out = tmp_path / "run"
    run_lr(corpus, out, "--fusion", "none")
    path = out / "scores" / "spectral-lr.eval.txt"
    clean = _scores(path)
    change_a_score(path)
    manifest = out / "manifest.json"
    data = json.loads(manifest.read_text())
    data["systems"]["spectral-lr"]["scores"]["eval"] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                                       "size": path.stat().st_size}
    manifest.write_text(json.dumps(data, indent=1, sort_keys=True))
    r = run_lr(corpus, out, "--fusion", "none")
    assert f"warning: {manifest}: damaged" in r.stderr and "cached: spectral-lr" not in r.stderr
    np.testing.assert_allclose(_scores(path), clean, rtol=1e-9)
    again = run_lr(corpus, out, "--fusion", "none")  # the rewritten manifest is trusted again
    assert "warning" not in again.stderr and "cached: spectral-lr" in again.stderr


def test_an_unreadable_manifest_is_named(corpus, tmp_path):
    out = tmp_path / "run"
    run_lr(corpus, out, "--fusion", "none")
    manifest = out / "manifest.json"
    blob = bytearray(manifest.read_bytes())
    blob[0] ^= 0xFF  # no longer JSON (nor UTF-8)
    manifest.write_bytes(bytes(blob))
    r = run_lr(corpus, out, "--fusion", "none")
    assert f"warning: {manifest}: unreadable" in r.stderr and "fitted in" in r.stderr


def test_a_damaged_model_file_is_refitted_with_a_warning(corpus, tmp_path):
    out = tmp_path / "run"
    run_lr(corpus, out, "--fusion", "none")
    model, scores = out / "models" / "spectral-lr.det", out / "scores" / "spectral-lr.eval.txt"
    clean = _scores(scores)
    blob = bytearray(model.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    model.write_bytes(bytes(blob))
    scores.unlink()  # scoring eval again needs the model
    r = run_lr(corpus, out, "--fusion", "none")
    assert f"warning: {model}: not the model file this run saved (damaged or replaced); refitting" in r.stderr
    assert "fitted in" in r.stderr and "loaded the fitted model" not in r.stderr
    np.testing.assert_allclose(_scores(scores), clean, rtol=1e-9)


def test_a_model_file_that_fails_its_own_check_is_refitted(corpus, tmp_path, monkeypatch):
    """Detector.load raises BenchError on a file whose own checksum fails: the run refits, naming the file."""
    out = tmp_path / "run"
    run_lr(corpus, out, "--fusion", "none")
    model = out / "models" / "spectral-lr.det"
    (out / "scores" / "spectral-lr.eval.txt").unlink()

    def damaged(cls, path):
        raise BenchError(f"{path}: checksum mismatch (damaged file)")

    monkeypatch.setattr(Detector, "load", classmethod(damaged))
    r = run_lr(corpus, out, "--fusion", "none")
    assert f"warning: {model}: cannot be loaded" in r.stderr and "fitted in" in r.stderr


def test_a_manifest_of_another_format_version_is_named(corpus, tmp_path):
    out = tmp_path / "run"
    run_lr(corpus, out, "--fusion", "none")
    manifest = out / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"version": 2', '"version": 1'))
    r = run_lr(corpus, out, "--fusion", "none")
    assert f"warning: {manifest}: manifest format 1, not 2" in r.stderr and "fitted in" in r.stderr


def test_a_damaged_audio_scan_record_is_checked_again(corpus, tmp_path):
    """The audio-scan records carry a digest: an altered record (here a good file marked bad) is not believed."""
    out = tmp_path / "out"
    run_lr(corpus, out)
    (record_file,) = (tmp_path / "cache" / "audio-scan").glob("*.json")
    data = json.loads(record_file.read_text())
    path = sorted(data["records"])[0]
    data["records"][path]["problem"] = "corrupt audio (altered record)"
    record_file.write_text(json.dumps(data))
    r = run_lr(corpus, out)  # --on-bad-audio fail: a believed record would stop the run (exit 2)
    assert "altered record" not in r.output
