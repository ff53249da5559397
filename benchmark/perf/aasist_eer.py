"""``bench perf aasist --eer-check``: does a fast inference mode keep the detection quality? Fit a preset once on
the built-in demo corpus (``aasist.small`` trained; a pre-trained preset such as ``aasist.pretrained-la19`` is
used as shipped), score its eval split in float32 and in each fast mode with the same fitted model, and compare
the eval EERs (target: within 0.5 points of float32). A model near chance on the demo corpus makes this
comparison noise: its scores lie so close together that any rounding reorders them."""
from __future__ import annotations

import time

import numpy as np

PRESET = "aasist.small"
MAX_EER_LOSS = 0.5  # percentage points


def eer_check(fast_modes=("int8",), preset: str = PRESET, seed: int = 1, echo=print, root: str | None = None,
              **overrides) -> dict:
    """Eval EER (%) of ``preset`` fitted once on the corpus at ``root`` (default: the built-in demo corpus),
    scored in float32 and each fast mode. ``overrides``: hyperparameters (tests shrink the network)."""
    from spoofbench import create_detector
    from spoofbench.benchmark.metrics import eer
    from spoofbench.benchmark.pipeline.corpus import ensure_demo_corpus, load_corpus

    corpus = load_corpus(root or ensure_demo_corpus(log=echo), None, log=echo)
    train, dev, test = (corpus.tables[s] for s in ("train", "dev", "eval"))
    detector = create_detector(preset, **{"seed": seed, "progress": False, **overrides})
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
            "rows": rows}


def format_eer(result: dict) -> str:
    from tabulate import tabulate

    table = [[r["mode"], f"{r['eval_eer']:.2f}", f"{r['eer_change']:+.2f}", f"{r['score_s']:.1f}",
              "" if r["max_abs_score_diff"] is None else f"{r['max_abs_score_diff']:.1e}",
              "yes" if r["within_target"] else "NO"] for r in result["rows"]]
    head = ["mode", "eval EER %", "vs float32", "score s", "max |score diff|", f"within {MAX_EER_LOSS} points"]
    return (f"fast modes on {result['corpus']}: {result['preset']} (seed {result['seed']}, fitted in "
            f"{result['fit_s']:.0f} s), {result['eval_trials']} eval trials\n"
            + tabulate(table, head, tablefmt="github", disable_numparse=True))
