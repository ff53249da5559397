"""The demo corpus's ASV: a small GMM-UBM speaker verifier, trained and run on the generated audio.

Its scores are the corpus's ASV score files (``CM_KEY ASV_KEY SCORE``), which the t-DCF needs.
"""
from __future__ import annotations

import numpy as np

from .layout import SPLITS


def asv_features(wave: np.ndarray) -> np.ndarray:
    """20 MFCCs (c1..c20, 40 mel bands 60-3800 Hz) + deltas of the louder 60 % of the frames, with per-file
    mean/variance normalisation."""
    from scipy.fft import dct

    from .vocoders import _mel_basis, stft

    power = np.abs(stft(wave, 512, 160)) ** 2
    mfcc = dct(np.log(_mel_basis(512, 40, 60, 3800) @ power + 1e-10), type=2, norm="ortho", axis=0)[1:21]
    padded = np.pad(mfcc, ((0, 0), (2, 2)), mode="edge")
    delta = (padded[:, 3:-1] - padded[:, 1:-3] + 2 * (padded[:, 4:] - padded[:, :-4])) / 10
    energy = power.sum(axis=0)
    keep = energy >= np.percentile(energy, 40)
    feats = np.vstack([mfcc, delta])[:, keep].T
    return (feats - feats.mean(axis=0)) / (feats.std(axis=0) + 1e-8)


def asv_scores(results: list[dict], seed: int) -> dict[str, list[tuple[str, str, str, str, float]]]:
    """ASV trials and scores for dev and eval: (claimed speaker, utt, source key, ASV key, score)."""
    from sklearn.mixture import GaussianMixture

    by_utt = {r["meta"]["utt_id"]: r for r in results}
    train_bona = [r["asv_features"] for r in results
                  if r["meta"]["split"] == "train" and r["meta"]["key"] == "bonafide"]
    frames_all = np.concatenate(train_bona)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 5]))
    if len(frames_all) > 20000:
        frames_all = frames_all[np.sort(rng.choice(len(frames_all), 20000, replace=False))]
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # 20 EM iterations is a deliberate budget, not a failure to report
        warnings.simplefilter("ignore", ConvergenceWarning)
        ubm = GaussianMixture(32, covariance_type="diag", max_iter=20, tol=1e-3, reg_covar=1e-3,
                              random_state=seed).fit(frames_all)

    def adapted(frames: np.ndarray) -> GaussianMixture:
        post = ubm.predict_proba(frames)
        n_k = post.sum(axis=0)
        mean_k = post.T @ frames / np.maximum(n_k, 1e-9)[:, None]
        alpha = (n_k / (n_k + 4.0))[:, None]   # MAP adaptation of the means, relevance factor 4
        model = GaussianMixture(32, covariance_type="diag")
        model.weights_, model.covariances_ = ubm.weights_, ubm.covariances_
        model.precisions_cholesky_ = ubm.precisions_cholesky_
        model.means_ = alpha * mean_k + (1 - alpha) * ubm.means_
        return model

    out = {}
    for split in ("dev", "eval"):
        metas = [r["meta"] for r in results if r["meta"]["split"] == split]
        genders = {m["speaker"]: m["gender"] for m in metas}
        models = {}
        for spk in sorted(genders):
            enrol = [by_utt[m["utt_id"]]["asv_features"] for m in metas if m["role"] == "enrol" and m["speaker"] == spk]
            models[spk] = adapted(np.concatenate(enrol))
        trials = []
        pick = np.random.default_rng(np.random.SeedSequence([seed, 6, SPLITS.index(split)]))
        for m in sorted((m for m in metas if m["role"] == "trial"), key=lambda m: m["order"]):
            if m["key"] == "bonafide":
                trials.append((m["speaker"], m["utt_id"], "bonafide", "target"))
                others = [s for s in sorted(models) if s != m["speaker"] and genders[s] == m["gender"]] \
                    or [s for s in sorted(models) if s != m["speaker"]]
                trials.append((others[int(pick.integers(len(others)))], m["utt_id"], "bonafide", "nontarget"))
            else:
                trials.append((m["speaker"], m["utt_id"], m["attack"], "spoof"))
        rows = []
        for claimed, utt, src, key in trials:
            feats = by_utt[utt]["asv_features"]
            score = float(np.mean(models[claimed].score_samples(feats) - ubm.score_samples(feats)))
            rows.append((claimed, utt, src, key, score))
        out[split] = rows
    return out
