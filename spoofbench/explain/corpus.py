"""Corpus-level explanations of one detector on a sample of eval trials:

* band importance: each of ``n_bands`` equal-width frequency bands removed from every file (band-stop over the
  whole file, :meth:`TFGrid.band_stop`), the files re-scored: EER pooled and per attack, and the mean score
  shift (bona fide, spoof) — which bands the detector relies on;
* time importance: leading/trailing silence trimmed, voiced frames silenced, unvoiced frames silenced;
* per attack: the average band attribution (original score minus the score without the band) of the bona
  fide files and of each attack's spoofs — what separates that attack from bona fide for this detector.
"""
from __future__ import annotations

import numpy as np

from spoofbench.protocols.audio import load_audio

from .tf import TFGrid
from .voicing import frame_classes, mask_frames, trim_silence

TIME_CONDITIONS = ("trim leading/trailing silence", "silence voiced frames", "silence unvoiced frames")


def _eer_percent(scores: np.ndarray, y: np.ndarray) -> float | None:
    from spoofbench.benchmark.metrics import eer

    if (y == 1).sum() == 0 or (y == 0).sum() == 0:
        return None
    return 100.0 * eer(scores[y == 1], scores[y == 0])


def _summary(scores: np.ndarray, base: np.ndarray, y: np.ndarray, attacks: np.ndarray) -> dict:
    shift = scores - base
    out = {"eer": _eer_percent(scores, y), "shift_bonafide": float(shift[y == 1].mean()) if (y == 1).any() else None,
           "shift_spoof": float(shift[y == 0].mean()) if (y == 0).any() else None, "per_attack": {}}
    for attack in sorted(set(attacks[y == 0].tolist())):
        keep = (y == 1) | (attacks == attack)
        out["per_attack"][attack] = {"eer": _eer_percent(scores[keep], y[keep]),
                                     "shift": float(shift[attacks == attack].mean())}
    return out


def corpus_explanation(detector, trials, *, n_bands: int = 8, time: bool = True, progress: bool = True) -> dict:
    """Band importance, time importance and per-attack band attribution of ``detector`` on ``trials``."""
    from tqdm.auto import tqdm

    tf = TFGrid(int(detector.sample_rate))
    edges = np.linspace(0.0, tf.sample_rate / 2, n_bands + 1)
    y = np.asarray(trials.y)
    attacks = np.asarray(trials["attack"]).astype(str)
    waves = [load_audio(p, tf.sample_rate) for p in trials["path"]]
    base = detector.score_waves(waves, tf.sample_rate)
    banded = np.zeros((len(waves), n_bands))
    voiced_share = []
    timed = {c: np.zeros(len(waves)) for c in TIME_CONDITIONS}
    for i, wave in enumerate(tqdm(waves, desc=f"{detector.name} band/time importance", unit="file",
                                  disable=not progress, leave=False)):
        variants = [tf.band_stop(wave, lo, hi) for lo, hi in zip(edges[:-1], edges[1:])]
        if time:
            classes = frame_classes(wave, tf)
            voiced_share.append(float((classes == 2).mean()))
            variants += [trim_silence(wave, tf), mask_frames(wave, tf, classes == 2),
                         mask_frames(wave, tf, classes == 1)]
        scores = detector.score_waves(variants, tf.sample_rate)
        banded[i] = scores[:n_bands]
        for c, s in zip(TIME_CONDITIONS, scores[n_bands:]):
            timed[c][i] = s
    result = {"detector": detector.name, "n_files": len(waves), "n_bonafide": int((y == 1).sum()),
              "n_spoof": int((y == 0).sum()), "band_edges_hz": edges.tolist(),
              "original": _summary(base, base, y, attacks),
              "bands": [_summary(banded[:, b], base, y, attacks) for b in range(n_bands)]}
    attribution = base[:, None] - banded  # > 0: the band pushed the file towards bona fide
    groups = {"bonafide": y == 1, **{a: attacks == a for a in sorted(set(attacks[y == 0].tolist()))}}
    result["band_attribution"] = {g: attribution[m].mean(axis=0).tolist() for g, m in groups.items() if m.any()}
    if time:
        result["time"] = {c: _summary(timed[c], base, y, attacks) for c in TIME_CONDITIONS}
        result["voiced_fraction"] = float(np.mean(voiced_share)) if voiced_share else None
    return result
