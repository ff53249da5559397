"""Fault injection: after a clean run, one random byte (seeded) of each kind of file that `bench run` trusts is
flipped and the same command runs again. It must either recompute from good inputs (the final eval scores equal
the clean run's) or stop with one line naming the damaged file: never change the scores silently.

The kinds: a fitted model (``models/*.det``), a feature-cache entry, the manifest, a score file. Where the run
would not read the damaged file (its results are cached further down), the files that let it skip the read are
removed, as a kill at the right moment would have left them. RawNet2's epoch checkpoints are covered by the
RawNet2 tests (a run of ``rawnet2.small`` alone takes longer than this whole test)."""
import json
import shutil
from pathlib import Path

import numpy as np
from _tiny_corpus import bench

GMM = "lfcc-gmm.small"
TINY_GMM = ("--set", f"{GMM}.n_components=4", "--set", f"{GMM}.n_iter=3", "--set", f"{GMM}.n_jobs=1",
            "--set", f"{GMM}.progress=false")


def eval_scores(out: Path) -> dict[str, np.ndarray]:
    """Every system's eval scores (fusion included), in file order (the trials' order)."""
    return {p.name[:-len(".eval.txt")]: np.array([float(line.split()[3]) for line in p.read_text().splitlines()])
            for p in sorted((out / "scores").glob("*.eval.txt"))}


def flip_one_byte(path: Path, rng: np.random.Generator) -> bytes:
    blob = bytearray(path.read_bytes())
    blob[int(rng.integers(len(blob)))] ^= int(rng.integers(1, 256))
    path.write_bytes(bytes(blob))
    return bytes(blob)


def restore(src: Path, dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest)


def same_json(a: bytes, b: bytes) -> bool:
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False


def test_a_flipped_byte_is_recomputed_or_named_never_used(corpus, tmp_path, monkeypatch):
    cache, out = tmp_path / "cache", tmp_path / "run"
    monkeypatch.setenv("SPOOFBENCH_CACHE", str(cache))
    cmd = ("run", "--detectors", f"spectral-lr,{GMM}", "--data", corpus, "--out", out, *TINY_GMM,
           "--fusion", "logreg", "--bootstrap", 0, "--no-plots")
    r = bench(*cmd)
    assert r.exit_code == 0, r.output
    clean = eval_scores(out)
    assert set(clean) == {"spectral-lr", GMM, "fused-logreg"}
    shutil.copytree(out, tmp_path / "clean-run")
    shutil.copytree(cache, tmp_path / "clean-cache")

    rng = np.random.default_rng(20261207)
    features = sorted((cache / "features").glob("lfcc-*/*.feat"))
    kinds = {  # kind -> (damaged file, files removed so that the run reads it)
        "model": (out / "models" / f"{GMM}.det", [out / "scores" / f"{GMM}.eval.txt"]),
        "feature-cache entry": (features[int(rng.integers(len(features)))],
                                [out / "models" / f"{GMM}.det", *(out / "scores").glob(f"{GMM}.*.txt")]),
        "manifest": (out / "manifest.json", []),
        "score file": (rng.choice(sorted((out / "scores").glob("*.txt"))), []),
    }
    assert features and all(target.is_file() for target, _ in kinds.values())
    for kind, (target, skip_files) in kinds.items():
        restore(tmp_path / "clean-run", out)
        restore(tmp_path / "clean-cache", cache)
        for path in skip_files:
            path.unlink()
        damaged = flip_one_byte(target, rng)
        r = bench(*cmd)
        if r.exit_code == 2:  # refused: one line, naming the file
            assert r.stderr.strip().splitlines()[-1].startswith(f"error: {target}"), (kind, r.stderr)
            assert "Traceback" not in r.output
            continue
        assert r.exit_code == 0, (kind, r.output)
        # It noticed: the damaged bytes were replaced by recomputed ones (or only whitespace of the JSON changed).
        now = target.read_bytes() if target.exists() else None
        assert now != damaged or (kind == "manifest" and same_json(damaged, (tmp_path / "clean-run" /
                                                                             "manifest.json").read_bytes())), kind
        again = eval_scores(out)
        assert set(again) == set(clean), kind
        for system, scores in clean.items():
            np.testing.assert_allclose(again[system], scores, rtol=1e-6, atol=1e-9,
                                       err_msg=f"{kind} ({target.name}): {system}")
