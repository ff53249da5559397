"""The "Explanations" section of a ``bench run --explain`` report: band importance, time importance and the
per-attack band attribution of each saved model (``spoofbench.explain``) on a seeded sample of eval trials.

Results are kept in ``DIR/explain/corpus.json`` under a key of the model file's sha256, the sampled trials and
the settings, so a re-run that rebuilds the report reuses them. A system that cannot be explained is named in
the section; the run's own results and exit status do not depend on it.
"""
from __future__ import annotations

import json

from spoofbench.protocols.files import file_sha256, write_text_atomic

N_BANDS = 8
SEED = 0


def explanation_blocks(outcome, req, log) -> list:
    from spoofbench.explain import figures, page
    from spoofbench.explain.corpus import corpus_explanation
    from spoofbench.explain.sources import load_model, stratified_sample

    out = outcome.out / "explain"
    out.mkdir(parents=True, exist_ok=True)
    trials = stratified_sample(outcome.corpus.tables["eval"], int(req.explain_files), SEED)
    cache_path = out / "corpus.json"
    try:
        cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    except ValueError:
        cache = {}
    first_seed = outcome.seeds[0]
    results, problems, kept = [], [], {}
    for run in outcome.systems:
        if not run.ok or run.seed != first_seed:
            continue
        model = outcome.out / "models" / f"{run.system}.det"
        if not model.is_file():
            problems.append(f"`{run.system}`: no saved model")
            continue
        key = json.dumps([file_sha256(model), list(map(str, trials["utt_id"])), N_BANDS])
        cached = cache.get(run.system)
        if cached and cached.get("key") == key:
            result = cached["result"]
        else:
            log(f"explain: band and time importance of {run.system} on {len(trials)} eval files")
            try:
                result = corpus_explanation(load_model(str(model), req.device), trials, n_bands=N_BANDS)
            except Exception as exc:  # noqa: BLE001 - the report names it; the run's results stand
                problems.append(f"`{run.system}`: {str(exc).strip().splitlines()[0][:200] if str(exc) else exc}")
                continue
            result["detector"] = run.system
        kept[run.system] = {"key": key, "result": result}
        results.append(result)
        write_text_atomic(cache_path, json.dumps({**cache, **kept}, indent=1))  # each finished system kept at once
    write_text_atomic(cache_path, json.dumps(kept, indent=1))
    images = figures.corpus_figures(results, out)
    blocks: list = [("h2", "Explanations: what each detector listens to"),
                    ("p", f"`bench explain` on {len(trials)} eval files (seed {SEED}); per file, with attribution "
                          f"maps and a deletion test of their faithfulness: `bench explain --run {outcome.out}`.")]
    blocks += _demote(page.corpus_blocks(results, images, outcome.out))
    if problems:
        blocks.append(("ul", [f"not explained: {p}" for p in problems]))
    return blocks


def _demote(blocks: list) -> list:
    """The section's own headings one level down (h2 -> h3), under the section title."""
    return [("h3", *b[1:]) if b[0] == "h2" else b for b in blocks]



