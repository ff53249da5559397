"""``bench perf aasist --eer-check``: does a fast inference mode keep the detection quality? Fit a preset once on
the built-in demo corpus (``aasist.small`` trained; a pre-trained preset such as ``aasist.pretrained-la19`` is
used as shipped), score its eval split in float32 and in each fast mode with the same fitted model, and compare
the eval EERs (target: within 0.5 points of float32). A model near chance on the demo corpus makes this
comparison noise: its scores lie so close together that any rounding reorders them.

The default demo corpus has 112 bona fide eval trials: one of them moves the EER by about 0.9 points, more than
the target, so the check builds its own demo corpus with ``eval_trials`` eval trials (default 1,800: 450 bona
fide, about 0.22 points each) and reports that resolution beside the result. The preset trains with its own
default seed unless told otherwise, as ``bench run`` does (``aasist.small``: 1234)."""
from __future__ import annotations

import os
import time

import numpy as np

PRESET = "aasist.small"
MAX_EER_LOSS = 0.5  # percentage points
EVAL_TRIALS = 1800  # eval trials of the check's demo corpus (a quarter bona fide)


def check_corpus(eval_trials: int = EVAL_TRIALS, echo=print) -> str:
    """The demo corpus with the default train and dev splits and ``eval_trials`` eval trials, in the cache
    folder (built once; the generator gives the same bytes for the same parameters)."""
    from spoofbench.protocols.demo import make_demo_corpus
    from spoofbench.protocols.files import cache_root

    root = cache_root() / f"demo-corpus-eval{eval_trials}"
    start = time.perf_counter()
    make_demo_corpus(root, n_eval=eval_trials, jobs=os.cpu_count() or 1, force=True)
    if time.perf_counter() - start > 1:
        echo(f"demo corpus with {eval_trials} eval trials built in {root} ({time.perf_counter() - start:.0f} s)")
    return str(root)


def eer_check(fast_modes=("int8",), preset: str = PRESET, seed: int | None = None, echo=print,
              root: str | None = None, eval_trials: int = EVAL_TRIALS, **overrides) -> dict:
    """Eval EER (%) of ``preset`` fitted once on the corpus at ``root`` (default: the demo corpus with
    ``eval_trials`` eval trials), scored in float32 and each fast mode. ``seed``: None for the preset's own.
    ``overrides``: hyperparameters (tests shrink the network)."""
    from spoofbench import create_detector
    from spoofbench.benchmark.metrics import eer
    from spoofbench.benchmark.pipeline.corpus import load_corpus

    corpus = load_corpus(root or check_corpus(eval_trials, echo), None, log=echo)
    train, dev, test = (corpus.tables[s] for s in ("train", "dev", "eval"))
    params = {"progress": False, **overrides, **({} if seed is None else {"seed": seed})}
    detector = create_detector(preset, **params)
    seed = detector.get_params()["seed"]
    echo(f"fitting {preset} on {corpus.root} ({len(train)} train, {len(dev)} dev trials) ...")
    start = time.perf_counter()
    detector.fit(train, dev)
    fit_s = time.perf_counter() - start
    bona = np.asarray(test["label"]) == "bonafide"
    rows = []
    for mode in ("off", *fast_modes):
        detector.set_params(fast_inference=mode)
        start = time.perf_counter()
        scores = detector.score(test)
        rows.append({"mode": "float32" if mode == "off" else mode, "eval_eer": 100 * eer(scores[bona], scores[~bona]),
                     "score_s": time.perf_counter() - start,
                     "max_abs_score_diff": None if not rows else float(np.abs(scores - rows[0]["scores"]).max()),
                     "scores": scores})
    for row in rows:
        row["eer_change"] = row["eval_eer"] - rows[0]["eval_eer"]
        row["within_target"] = abs(row["eer_change"]) <= MAX_EER_LOSS
        del row["scores"]
    return {"preset": preset, "seed": seed, "corpus": corpus.root, "eval_trials": len(test), "fit_s": fit_s,
            "bonafide_trials": int(bona.sum()), "one_trial_points": 100 / max(int(bona.sum()), 1), "rows": rows}


def format_eer(result: dict) -> str:
    from tabulate import tabulate

    table = [[r["mode"], f"{r['eval_eer']:.2f}", f"{r['eer_change']:+.2f}", f"{r['score_s']:.1f}",
              "" if r["max_abs_score_diff"] is None else f"{r['max_abs_score_diff']:.1e}",
              "yes" if r["within_target"] else "NO"] for r in result["rows"]]
    head = ["mode", "eval EER %", "vs float32", "score s", "max |score diff|", f"within {MAX_EER_LOSS} points"]
    return (f"fast modes on {result['corpus']}: {result['preset']} (seed {result['seed']}, fitted in "
            f"{result['fit_s']:.0f} s), {result['eval_trials']} eval trials, {result['bonafide_trials']} bona fide "
            f"(one of them moves the EER by about {result['one_trial_points']:.2f} points)\n"
            + tabulate(table, head, tablefmt="github", disable_numparse=True))
