"""The deletion test: is an attribution method faithful to the detector?

For each file and method, the k % cells (of a :class:`~spoofbench.explain.tf.CellGrid`) whose attribution pushes
most towards the file's class are removed (STFT cells zeroed, as occlusion does), and so are k % cells drawn at
random (several draws); the file is re-scored. The change towards the opposite class (bona fide: score drop;
spoof: score rise) is averaged over files. A faithful method's top-k deletion moves the score more than random
deletion; one that does not beat random is reported as such (``beats_random`` false).

The class of a file is its label when known, else the class its score points to (score >= ``threshold``:
bona fide). Occlusion ranks the very cells it removed one at a time, so it has an advantage by construction.
"""
from __future__ import annotations

import math

import numpy as np

from .attribution import compute
from .tf import CellGrid

KS = (5, 10, 20)


def deletion_sets(cell_values: np.ndarray, direction: int, k: int, rng: np.random.Generator,
                  n_random: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """(top-k cells, [random k cells ...]) as boolean (bands, patches) arrays. ``direction`` +1 ranks the most
    positive cells first (a bona fide file), -1 the most negative (a spoof file)."""
    flat = direction * cell_values.ravel()
    count = max(1, math.ceil(k / 100 * flat.size))
    top = np.zeros(flat.size, dtype=bool)
    # ties (e.g. a time-only Grad-CAM map: every band of a patch alike) are broken at random, not by band order
    top[np.lexsort((rng.random(flat.size), -flat))[:count]] = True
    randoms = []
    for _ in range(n_random):
        r = np.zeros(flat.size, dtype=bool)
        r[rng.choice(flat.size, size=count, replace=False)] = True
        randoms.append(r.reshape(cell_values.shape))
    return top.reshape(cell_values.shape), randoms


def file_deletion(detector, wave: np.ndarray, cells: CellGrid, maps: dict[str, np.ndarray], direction: int,
                  base_score: float, ks=KS, n_random: int = 3, seed: int = 0) -> dict:
    """Changes towards the opposite class for one file: ``{"top": {method: {k: change}}, "random": {k: mean
    change over the draws}}``. ``maps``: method -> (bins, frames) attribution map."""
    rng = np.random.default_rng(seed)
    waves, keys = [], []
    for k in ks:
        for method, tf_map in maps.items():
            top, _ = deletion_sets(cells.cell_means(tf_map), direction, k, rng, 0)
            waves.append(cells.tf.remove(wave, cells.cell_mask(top)))
            keys.append(("top", method, k))
        _, randoms = deletion_sets(np.zeros(cells.shape), direction, k, rng, n_random)
        for r in randoms:
            waves.append(cells.tf.remove(wave, cells.cell_mask(r)))
            keys.append(("random", None, k))
    scores = detector.score_waves(waves, cells.tf.sample_rate)
    change = direction * (base_score - np.asarray(scores))  # > 0: moved towards the other class
    out: dict = {"top": {m: {} for m in maps}, "random": {}}
    for (kind, method, k), c in zip(keys, change):
        if kind == "top":
            out["top"][method][k] = float(c)
        else:
            out["random"].setdefault(k, []).append(float(c))
    out["random"] = {k: float(np.mean(v)) for k, v in out["random"].items()}
    return out


def deletion_test(detector, waves: list[np.ndarray], labels: list[int | None], methods, *, patch_s: float = 0.25,
                  n_bands: int = 8, ks=KS, n_random: int = 3, threshold: float = 0.0, ig_steps: int = 16,
                  seed: int = 0, progress: bool = True) -> dict:
    """The deletion test over files (``labels``: 1 bona fide, 0 spoof, None unknown). Returns per method and k
    the mean change of top-k and of random deletion, their mean difference with a 95 % bootstrap interval,
    and whether top-k beats random (the interval's lower end above 0)."""
    from tqdm.auto import tqdm

    from .tf import TFGrid

    tf = TFGrid(int(detector.sample_rate))
    base = detector.score_waves(waves, tf.sample_rate)
    per_file = []
    for i, (wave, label) in enumerate(tqdm(list(zip(waves, labels)), desc=f"{detector.name} deletion test",
                                           unit="file", disable=not progress, leave=False)):
        cells = CellGrid(tf, len(wave), patch_s, n_bands)
        maps = {m: compute(m, detector, wave, cells, ig_steps=ig_steps, base_score=float(base[i])).tf_map
                for m in methods}
        bona = label == 1 if label is not None else base[i] >= threshold
        per_file.append(file_deletion(detector, wave, cells, maps, 1 if bona else -1, float(base[i]), ks,
                                      n_random, seed + i))
    return summarise(per_file, methods, ks, seed)


def summarise(per_file: list[dict], methods, ks, seed: int = 0, n_boot: int = 2000) -> dict:
    rng = np.random.default_rng(seed)
    result: dict = {"n_files": len(per_file), "methods": {}}
    for method in methods:
        rows = {}
        for k in ks:
            top = np.array([f["top"][method][k] for f in per_file])
            rand = np.array([f["random"][k] for f in per_file])
            diff = top - rand
            boots = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
            low, high = np.percentile(boots, [2.5, 97.5])
            rows[k] = {"top": float(top.mean()), "random": float(rand.mean()), "difference": float(diff.mean()),
                       "difference_ci": [float(low), float(high)], "beats_random": bool(low > 0)}
        result["methods"][method] = rows
    return result
