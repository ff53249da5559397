"""The detector contract as one check, in the spirit of scikit-learn's ``check_estimator``:

    from spoofbench.detectors.checks import check_detector
    check_detector("my-detector.preset", train, test)      # raises AssertionError naming what is broken

It checks that every detector takes ``augment=`` (training augmentation), that hyperparameters round-trip
(``get_params``/``set_params``/``create_detector``), that
``__init__`` stores hyperparameters only, that the preset's own values pass :meth:`Detector.check_params`,
that ``fit`` returns ``self`` and leaves its learned state in attributes ending in ``_`` (hyperparameters
untouched), that ``score`` gives one finite float per trial, higher for bona fide (give it an easy corpus: the
classes must separate), that ``score_files`` gives the same numbers, and that ``save``/``load`` gives them too.

Big presets (RawNet2's full networks, 512-component GMMs) would take minutes to fit, so the check first applies
:data:`QUICK_OVERRIDES`, a per-family table that shrinks size and time hyperparameters (epochs, components,
widths, input length) and pins runtime ones (one thread, CPU, no progress bar, no feature cache) while keeping
what makes each preset itself (front end, sinc layout, residual quirk, crops). ``quick=False`` checks the
preset as it is.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from spoofbench.protocols.trials import TrialTable

from .base import Detector
from .registry import create_detector, split_spec

#: Family -> hyperparameters the check overrides (every preset of the family). Size and time only: anything
#: that changes what a preset *is* (front end, sinc edges, raw_input_conv1, training crops) stays the preset's.
#: RawNet2: lr 1e-2 so that two epochs separate the easy classes by ~1e-3 in score, far above float rounding.
QUICK_OVERRIDES: dict[str, dict[str, Any]] = {
    "lfcc-gmm": dict(n_components=2, n_iter=3, init_frames=2000, cache_dir=False, n_jobs=1, device="cpu",
                     progress=False),
    "cqcc-gmm": dict(n_components=2, n_iter=3, init_frames=2000, cache_dir=False, n_jobs=1, device="cpu",
                     progress=False),
    # AASIST: a thin network on 0.5 s inputs (3 temporal nodes). The pre-trained presets are checked here as
    # trainable networks (pretrained=None): their shipped weights need the full network, tested in
    # tests/test_aasist_training.py
    "aasist": dict(sinc_filters=12, sinc_taps=32, encoder_channels=[4, 4, 8, 8], gat_dims=[8, 8], n_samples=8000,
                   epochs=3, batch_size=6, lr=1e-2, lr_min=1e-4, pretrained=None, eval_batch_size=16, amp=False,
                   device="cpu", threads=1, progress=False),
    "rawnet2": dict(sinc_filters=8, sinc_taps=129, block_channels=[8, 16], gru_hidden=16, gru_layers=1,
                    fc_hidden=16, n_samples=4000, epochs=2, batch_size=8, lr=1e-2, eval_batch_size=16, amp=False,
                    device="cpu", threads=1, progress=False),
    # LFCC-LCNN: whole utterances and length-sorted batches stay (they are what the family is)
    "lfcc-lcnn": dict(channels=[4, 4, 4, 4, 4, 4, 4, 4, 4], dropout=0.0, epochs=3, patience=0, batch_size=4, lr=1e-2,
                      eval_batch_size=16, amp=False, device="cpu", threads=1, progress=False),
}


def quick_params(spec: str) -> dict[str, Any]:
    """The overrides :func:`check_detector` applies to ``spec`` (empty for families not in the table)."""
    return dict(QUICK_OVERRIDES.get(split_spec(spec)[0], {}))


def check_detector(spec: str, train: TrialTable, test: TrialTable, dev: TrialTable | None = None, *,
                   quick: bool = True, min_auc: float = 0.9) -> Detector:
    """Run every contract check on ``spec`` (``name`` or ``name.preset``); return the fitted detector.
    ``min_auc``: the least fraction of (bona fide, spoof) test pairs the scores must order correctly."""
    preset_det = create_detector(spec)  # the preset's own values pass its checks (create_detector runs them)
    _check_declarations(spec, preset_det)
    overrides = quick_params(spec) if quick else {}
    det = create_detector(spec, **overrides)
    _check_init_stores_params(spec, det)
    _check_params_round_trip(spec, det)

    before = det.get_params()
    attrs_before = set(vars(det))
    _expect(det.fit(train, dev) is det, spec, "fit() must return self")
    _expect(_same(det.get_params(), before), spec, "fit() changed hyperparameters; learned state must go in "
            "attributes ending in '_'")
    learned = sorted(set(vars(det)) - attrs_before)
    wrong = [a for a in learned if not (a.endswith("_") or a.startswith("_"))]
    _expect(not wrong, spec, f"fit() set {wrong}: learned state must end in '_'")
    _expect(det.is_fitted and any(a.endswith("_") for a in learned), spec, "fit() left no learned state ending "
            "in '_'")

    scores = np.asarray(det.score(test))
    _expect(scores.shape == (len(test),), spec, f"score() gave shape {scores.shape} for {len(test)} trials")
    _expect(np.issubdtype(scores.dtype, np.floating), spec, f"score() gave dtype {scores.dtype}, not floats")
    _expect(bool(np.isfinite(scores).all()), spec, "score() gave non-finite scores")
    auc = pairwise_auc(scores, test.y)
    _expect(auc >= min_auc, spec, f"bona fide trials must score higher: only {auc:.2f} of (bona fide, spoof) "
            f"pairs are ordered so (need {min_auc})")
    _expect_close(det.score_files(list(test["path"])), scores, spec, "score_files() differs from score()")

    runtime = {k: v for k, v in det.get_params().items() if k in det.runtime_params}
    with tempfile.TemporaryDirectory(prefix="spoofbench-check-") as folder:
        path = os.path.join(folder, "model.det")
        det.save(path)
        loaded = Detector.load(path, **runtime)
    _expect(type(loaded) is type(det) and _same(loaded.get_params(), det.get_params()), spec,
            "load() did not restore the hyperparameters")
    _expect_close(loaded.score(test), scores, spec, "scores after save()/load() differ")
    return det


def pairwise_auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Fraction of (bona fide, spoof) pairs where the bona fide trial scores higher (ties count half)."""
    bona, spoof = scores[y == 1], scores[y == 0]
    if bona.size == 0 or spoof.size == 0:
        raise ValueError("the test trials need both bona fide and spoof trials")
    diff = bona[:, None] - spoof[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def _check_declarations(spec: str, det: Detector) -> None:
    names = set(det.param_names())
    stray = sorted(set(det.runtime_params) - names)
    _expect(not stray, spec, f"runtime_params names {stray}, which are not hyperparameters")
    _expect(set(det.result_param_names()) | set(det.runtime_params) == names, spec,
            "result_param_names() and runtime_params must cover the hyperparameters")
    # every detector trains with augmentation (register_detector gives a class that lacks it the generic route)
    _expect("augment" in names and "augment" not in det.runtime_params, spec,
            "augment= must be a hyperparameter that shapes the scores (register the class with "
            "register_detector, which adds it, or declare it)")


def _check_init_stores_params(spec: str, det: Detector) -> None:
    public = {k for k in vars(det) if not k.startswith("_")}
    _expect(public == set(det.param_names()), spec, "__init__ must store exactly its hyperparameters, each under "
            f"its own name (extra: {sorted(public - set(det.param_names()))}, missing: "
            f"{sorted(set(det.param_names()) - public)})")
    _expect(not det.is_fitted, spec, "a new detector must not look fitted (no attribute ending in '_')")


def _check_params_round_trip(spec: str, det: Detector) -> None:
    params = det.get_params()
    _expect(list(params) == det.param_names(), spec, "get_params() must return every hyperparameter")
    _expect(_same(create_detector(spec, **params).get_params(), params), spec,
            "create_detector(spec, **get_params()) gives other hyperparameters")
    _expect(_same(type(det)(**params).get_params(), params), spec, "the class rebuilt from get_params() differs")
    _expect(det.set_params(**params) is det and _same(det.get_params(), params), spec,
            "set_params(**get_params()) must return self and change nothing")


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)


def _equal(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):  # JSON turns tuples into lists
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _expect(ok: bool, spec: str, problem: str) -> None:
    if not ok:
        raise AssertionError(f"{spec}: {problem}")


def _expect_close(got, want, spec: str, problem: str) -> None:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-6, atol=1e-9):
        worst = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("nan")
        raise AssertionError(f"{spec}: {problem} (largest difference {worst:g})")
