"""Evaluate CM systems on a trial table: pooled, per attack and per metadata column, with bootstrap CIs.

The result is one JSON-ready object whose structure scripts can rely on::

    {"systems": {NAME: {"pooled": M, "per_attack": {ATTACK: M, ...}, "per_codec": {VALUE: M, ...}, ...}},
     "costs": {...cost models, ASV operating point, bootstrap settings...}}

where each ``M`` holds ``eer`` (percent), ``eer_ci`` ([low, high] percent), ``min_tdcf_2019`` (+ ``_ci``),
``min_tdcf_2021`` (+ ``_ci``; both null without ASV scores), ``min_dcf`` (+ ``_ci``), ``act_dcf``, ``cllr``,
``min_cllr`` (one key per metric that :mod:`.metric_specs` marks evaluated), ``n_bonafide``, ``n_spoof``. With ASV
scores, a system with fewer than 3 distinct scores (hard decisions) is refused with an error, as the official
t-DCF code refuses it; a row where the official code would refuse a metric otherwise (e.g. an ASV operating
point that accepts no spoof of that attack, or a row of < 3 distinct scores) has it null.

Breakdowns: each attack's spoof trials against *all* bona fide trials; for a metadata column (codec,
transmission, vocoder...) each value's spoof trials against the bona fide trials with the same value, or all
bona fide trials when none has it (e.g. a vocoder column). Per-attack t-DCF uses the ASV spoof error rate of
that attack when the ASV file names attacks (as the 2019 per-attack t-DCF and the 2021 package), else the
pooled one; a condition (codec = alaw) uses the ASV operating point of that condition's ASV trials, threshold
included, when the ASV keys carry the column (2021 LA), as the 2021 package computes its C0/C1/C2 per cell.

Bootstrap: trials are resampled with replacement, bona fide and spoof separately and within each stratum
(attack x breakdown values), so every row's class counts stay fixed; all systems share the same resamples
(paired). One replicate is evaluated with the official DET/EER semantics on the resampled multiset, from
cumulative counts of the once-sorted scores, so 1,000 replicates of 100,000 trials take about a second.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from spoofbench.protocols.errors import BenchError
from spoofbench.protocols.trials import TrialTable

from . import metric_specs
from . import metrics as M
from .scorefiles import AsvScores

DEFAULT_BREAKDOWNS = ("codec", "transmission", "vocoder")
_CELLS_PER_CHUNK = 2_000_000  # bootstrap replicates x trials evaluated at once (memory ~ 16 bytes each)


@dataclass
class _Group:
    """One row of the result: a subset of trials (indices into the table) and its ASV operating point."""

    section: str            # "pooled", "per_attack", "per_codec", ...
    key: str | None         # attack or column value (None for pooled)
    index: np.ndarray       # trial indices, table order
    asv: M.AsvOperatingPoint | None


def evaluate_systems(scores: dict[str, np.ndarray], trials: TrialTable, *, asv: AsvScores | None = None,
                     n_bootstrap: int = 1000, seed: int = 0, breakdowns=DEFAULT_BREAKDOWNS,
                     confidence: float = 0.95, progress: bool = False) -> dict:
    """Metrics of each system (name -> one score per trial of ``trials``, same order) as a JSON-ready dict."""
    if not scores:
        raise BenchError("no systems to evaluate")
    is_bona = trials.is_bonafide
    if is_bona.all() or not is_bona.any():
        raise BenchError("the trials need both bona fide and spoof trials to be evaluated")
    arrays = {}
    for name, values in scores.items():
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(trials),):
            raise BenchError(f"system {name}: {values.size} scores for {len(trials)} trials")
        if not np.isfinite(values).all():
            raise BenchError(f"system {name}: {int((~np.isfinite(values)).sum())} scores are NaN or Inf")
        problem = hard_decision_problem(values, trials) if asv is not None else None
        if problem:  # as the official t-DCF code: refused, not a silently empty column
            raise BenchError(f"system {name}: {problem} (evaluate without ASV scores for the EER alone)")
        arrays[name] = values
    columns = [c for c in breakdowns if c in trials.columns and len(set(trials[c])) > 1]
    pooled_asv = asv.operating_point() if asv is not None else None
    groups = _groups(trials, columns, asv, pooled_asv)

    results = {name: _empty_result(groups) for name in arrays}
    boot = _bootstrap_all(arrays, trials, columns, groups, n_bootstrap, seed, progress) if n_bootstrap > 0 else None
    tail = (1 - confidence) / 2 * 100
    for name, values in arrays.items():
        for gi, group in enumerate(groups):
            m = _point_metrics(values[group.index], is_bona[group.index], group.asv)
            if boot is not None:
                for metric, reps in boot[name][gi].items():
                    scale = metric_specs.scale(metric_specs.get(metric))
                    ok = reps[np.isfinite(reps)]
                    m[f"{metric}_ci"] = ([float(v) * scale for v in np.percentile(ok, [tail, 100 - tail])]
                                         if ok.size and m.get(metric) is not None else None)
            _place(results[name], group, m)
    return {"systems": results, "costs": _costs(asv, pooled_asv, groups, n_bootstrap, seed, confidence, columns)}


# --------------------------------------------------------------------------------------------------------
# groups and point estimates


def hard_decision_problem(scores: np.ndarray, trials: TrialTable) -> str | None:
    """Why these scores cannot give a t-DCF, pooled or among the bona fide and one attack's trials (fewer than
    :data:`~spoofbench.benchmark.metrics.MIN_DISTINCT_SCORES` distinct values), or None when they can."""
    is_bona = trials.is_bonafide
    groups = [("", np.ones(len(trials), bool))]
    groups += [(f" among the bona fide and {a} trials", is_bona | (trials["attack"] == a))
               for a in sorted(set(trials["attack"][~is_bona]))]
    for where, mask in groups:
        n = np.unique(scores[mask]).size
        if n < M.MIN_DISTINCT_SCORES:
            return f"only {n} distinct score(s){where}: the t-DCF needs soft scores, not hard decisions"
    return None


def natural_key(text: str):
    """Sort key that puts A2 before A10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text))]


def _groups(trials: TrialTable, columns, asv: AsvScores | None, pooled_asv) -> list[_Group]:
    is_bona = trials.is_bonafide
    bona_idx = np.flatnonzero(is_bona)
    groups = [_Group("pooled", None, np.arange(len(trials)), pooled_asv)]
    attacks = trials["attack"]
    for attack in sorted(set(attacks[~is_bona]), key=natural_key):
        spoof_idx = np.flatnonzero(~is_bona & (attacks == attack))
        point = pooled_asv
        if asv is not None:
            point = asv.attack_point(attack, pooled_asv) or pooled_asv
        groups.append(_Group("per_attack", attack, np.sort(np.concatenate([bona_idx, spoof_idx])), point))
    for column in columns:
        values = trials[column]
        for value in sorted(set(values[~is_bona]), key=natural_key):
            spoof_mask = ~is_bona & (values == value)
            bona_mask = is_bona & (values == value)
            if not bona_mask.any():
                bona_mask = is_bona
            point = pooled_asv
            if asv is not None:  # the condition's own ASV operating point when the ASV keys carry the column
                point = asv.condition_point(column, value) or pooled_asv
            groups.append(_Group(f"per_{column}", value, np.flatnonzero(bona_mask | spoof_mask), point))
    return groups


def _empty_result(groups) -> dict:
    result: dict = {}
    for g in groups:
        if g.section != "pooled":
            result.setdefault(g.section, {})
    return result


def _place(result: dict, group: _Group, m: dict) -> None:
    if group.section == "pooled":
        result["pooled"] = m
    else:
        result[group.section][group.key] = m


def _point_metrics(scores: np.ndarray, is_bona: np.ndarray, asv_point) -> dict:
    bona, spoof = scores[is_bona], scores[~is_bona]
    summary = M.cm_summary(bona, spoof, asv_point)
    m: dict = {}
    for spec in metric_specs.evaluated():  # result order = the metric table's order
        value = summary[spec.key]
        m[spec.key] = None if value is None else metric_specs.scale(spec) * value
        if spec.ci:
            m[f"{spec.key}_ci"] = None  # filled in by the bootstrap
    return {**m, "n_bonafide": int(bona.size), "n_spoof": int(spoof.size)}


def _costs(asv, pooled_asv, groups, n_bootstrap, seed, confidence, columns) -> dict:
    dcf = {"p_spoof": M.DCF_P_SPOOF, "c_miss": M.DCF_C_MISS, "c_fa": M.DCF_C_FA,
           "act_dcf_threshold": M.act_dcf_threshold()}
    out = {"dcf": dcf, "tdcf_2019": None, "tdcf_2021": None, "asv": None,
           "breakdowns": list(columns),
           "bootstrap": {"n": int(n_bootstrap), "seed": int(seed), "confidence": confidence,
                         "method": "percentile; bona fide and spoof trials resampled separately within each "
                                   "attack x condition stratum; paired across systems"}}
    if pooled_asv is None:
        return out
    c2019, c2021 = M.TdcfCosts2019(), M.TdcfCosts2021()
    try:
        c1, c2 = M.tdcf_costs_2019(pooled_asv, c2019)
        out["tdcf_2019"] = {**vars(c2019), "C1": c1, "C2": c2}
        c0, c1, c2 = M.tdcf_costs_2021(pooled_asv, c2021)
        out["tdcf_2021"] = {**vars(c2021), "C0": c0, "C1": c1, "C2": c2}
    except M.MetricError as exc:
        out["tdcf_error"] = str(exc)
    per_attack = {g.key: {"pmiss_spoof": g.asv.pmiss_spoof, "pfa_spoof": g.asv.pfa_spoof}
                  for g in groups if g.section == "per_attack" and g.asv is not pooled_asv}
    per_condition: dict = {}
    for g in groups:
        if g.section not in ("pooled", "per_attack") and g.asv is not pooled_asv:
            per_condition.setdefault(g.section[len("per_"):], {})[g.key] = g.asv.as_dict()
    out["asv"] = {**pooled_asv.as_dict(), "n_target": int(asv.target.size), "n_nontarget": int(asv.nontarget.size),
                  "n_spoof": int(asv.spoof.size), "source": asv.source,
                  "per_attack_spoof_rates": per_attack or None, "per_condition": per_condition or None}
    return out


# --------------------------------------------------------------------------------------------------------
# bootstrap


@dataclass
class _SortedGroup:
    """One system's scores of one group, sorted once (bona fide first among ties, as the official DET)."""

    bona_pos: np.ndarray      # positions (in the counts layout) of the group's bona fide trials, by rising score
    spoof_pos: np.ndarray     # same for spoof trials
    bona_before: np.ndarray   # (n+1,) bona fide among the p lowest-sorted trials, p = 0..n
    spoof_before: np.ndarray
    step_is_bona: np.ndarray  # (n,) class of the p-th sorted trial
    candidates: np.ndarray    # DET points where a linear cost can be minimal (ends of spoof runs, and 0)
    forms: list               # (name, a, b, c0, norm): value = (c0 + min(a*Pmiss + b*Pfa)) / norm


def _bootstrap_all(arrays, trials, columns, groups, n_bootstrap, seed, progress) -> dict:
    is_bona = trials.is_bonafide
    strata = _strata(trials, columns)
    # Counts are laid out stratum by stratum, trials in table order inside each: which trials a replicate draws
    # depends only on the seed and the strata, never on which other systems are evaluated.
    perm = np.argsort(strata, kind="stable")
    where = np.empty_like(perm)
    where[perm] = np.arange(perm.size)                # trial index -> position in that layout
    _, starts, sizes = np.unique(strata[perm], return_index=True, return_counts=True)

    prepared = {name: _prepare_system(values, is_bona, groups, where) for name, values in arrays.items()}
    reps = {name: [{} for _ in groups] for name in arrays}
    rng = np.random.default_rng(seed)
    n = perm.size
    chunk = max(1, min(n_bootstrap, _CELLS_PER_CHUNK // n))
    counts = np.empty((chunk, n), np.int32)
    done = 0
    bar = _progress(n_bootstrap, progress)
    while done < n_bootstrap:
        r = min(chunk, n_bootstrap - done)
        for start, size in zip(starts, sizes):  # resample each stratum with replacement: count the draws
            draws = rng.integers(0, size, (r, size)) + (np.arange(r) * size)[:, None]
            counts[:r, start:start + size] = np.bincount(draws.ravel(), minlength=r * size).reshape(r, size)
        for name in arrays:
            cum_cache: dict = {}
            for gi, sg in enumerate(prepared[name]):
                for metric, values in _replicate_metrics(sg, counts[:r], cum_cache).items():
                    reps[name][gi].setdefault(metric, []).append(values)
        done += r
        bar.update(r)
    bar.close()
    return {name: [{k: np.concatenate(v) for k, v in g.items()} for g in reps[name]] for name in arrays}


def _progress(total, enabled):
    if enabled:
        from tqdm import tqdm

        return tqdm(total=total, desc="bootstrap", unit="rep", leave=False)

    class _Null:
        def update(self, _):
            pass

        def close(self):
            pass

    return _Null()


def _strata(trials: TrialTable, columns) -> np.ndarray:
    keys = [np.where(trials.is_bonafide, "bonafide", "spoof " + trials["attack"].astype(str))]
    keys += [trials[c].astype(str) for c in columns]
    joined = keys[0]
    for k in keys[1:]:
        joined = joined + "\x1f" + k
    return np.unique(joined, return_inverse=True)[1]


def _prepare_system(values: np.ndarray, is_bona: np.ndarray, groups, where: np.ndarray) -> list[_SortedGroup]:
    shared: dict[bytes, np.ndarray] = {}  # groups with the same bona fide trials share one array (and cumsum)
    out = []
    for group in groups:
        sg = _prepare(values, is_bona, group, where)
        sg.bona_pos = shared.setdefault(sg.bona_pos.tobytes(), sg.bona_pos)
        out.append(sg)
    return out


def _prepare(values: np.ndarray, is_bona: np.ndarray, group: _Group, where: np.ndarray) -> _SortedGroup:
    idx = group.index
    order = np.lexsort((~is_bona[idx], values[idx]))  # by score, bona fide first among ties
    sorted_idx = idx[order]
    step_is_bona = is_bona[sorted_idx]
    bona_before = np.concatenate([[0], np.cumsum(step_is_bona)])
    spoof_before = np.arange(bona_before.size) - bona_before
    n = step_is_bona.size
    # Along the DET path a linear cost rises over bona fide steps and falls over spoof steps, so its minimum
    # is at the end of a run of spoof steps (or at the start): only those points need evaluating.
    spoof_run_end = np.flatnonzero(~step_is_bona & np.append(step_is_bona[1:], True)) + 1
    miss_cost, fa_cost = M.DCF_C_MISS * (1 - M.DCF_P_SPOOF), M.DCF_C_FA * M.DCF_P_SPOOF
    forms = [("min_dcf", miss_cost, fa_cost, 0.0, min(miss_cost, fa_cost))]
    if group.asv is not None:
        try:
            c1, c2 = M.tdcf_costs_2019(group.asv)
            forms.append(("min_tdcf_2019", c1, c2, 0.0, min(c1, c2)))
            c0, c1, c2 = M.tdcf_costs_2021(group.asv)
            forms.append(("min_tdcf_2021", c1, c2, c0, c0 + min(c1, c2)))
        except M.MetricError:
            pass
    return _SortedGroup(where[sorted_idx[step_is_bona]], where[sorted_idx[~step_is_bona]], bona_before,
                        spoof_before, step_is_bona, np.unique(np.concatenate([[0], spoof_run_end, [n]])), forms)


def _cumulative(counts: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Per replicate, the running total of the counts at ``positions`` with a leading 0 (take + in-place cumsum:
    the fastest way numpy offers, this is the bootstrap's inner loop)."""
    out = np.empty((counts.shape[0], positions.size + 1), np.int32)
    out[:, 0] = 0
    np.take(counts, positions, axis=1, out=out[:, 1:], mode="clip")  # "clip": no bounds-check buffer copy
    np.cumsum(out, axis=1, out=out)
    return out


def _replicate_metrics(sg: _SortedGroup, counts: np.ndarray, cache: dict | None = None) -> dict[str, np.ndarray]:
    """EER and linear-cost minima of every replicate (rows of ``counts``: how often each trial was drawn)."""
    cache = {} if cache is None else cache
    key = id(sg.bona_pos)
    if key not in cache:
        cache[key] = _cumulative(counts, sg.bona_pos)
    cum_b = cache[key]
    cum_s = _cumulative(counts, sg.spoof_pos)
    nb, ns = sg.bona_pos.size, sg.spoof_pos.size
    out = {"eer": _replicate_eer(sg, cum_b, cum_s, nb, ns)}
    pm = cum_b[:, sg.bona_before[sg.candidates]] / nb
    pf = (ns - cum_s[:, sg.spoof_before[sg.candidates]]) / ns
    for name, a, b, c0, norm in sg.forms:
        out[name] = (c0 + np.min(a * pm + b * pf, axis=1)) / norm
    return out


def _replicate_eer(sg: _SortedGroup, cum_b, cum_s, nb: int, ns: int) -> np.ndarray:
    """EER of each replicate exactly as the official code would compute it on the resampled scores.

    On the expanded curve (a trial drawn k times gives k steps) Pmiss - Pfa is non-decreasing, so the official
    first argmin of |Pmiss - Pfa| is one of the two points around its first non-negative value: bisect for
    the sorted trial where the sign changes, then solve for the step inside that trial's run of copies.
    """
    rows = np.arange(cum_b.shape[0])

    def diff(point):  # Pmiss - Pfa at non-expanded DET point `point` (array per row)
        return cum_b[rows, sg.bona_before[point]] / nb - (ns - cum_s[rows, sg.spoof_before[point]]) / ns

    lo = np.zeros(rows.size, np.int64)
    hi = np.full(rows.size, sg.step_is_bona.size, np.int64)
    while np.any(lo < hi):
        mid = (lo + hi) // 2
        below = diff(mid) < 0
        lo, hi = np.where(below, mid + 1, lo), np.where(below, hi, mid)
    trial = lo - 1                                    # the sign changes inside this trial's copies
    bona_step = sg.step_is_bona[trial]
    b0 = cum_b[rows, sg.bona_before[trial]]
    s0 = cum_s[rows, sg.spoof_before[trial]]
    copies = np.where(bona_step, cum_b[rows, sg.bona_before[lo]] - b0, cum_s[rows, sg.spoof_before[lo]] - s0)

    def rates(m):  # Pmiss, Pfa after m copies of the trial
        return (b0 + m * bona_step) / nb, (ns - (s0 + m * ~bona_step)) / ns

    # first m in 1..copies with Pmiss - Pfa >= 0: closed-form guess, then nudged to be exact in floating point
    pf0 = (ns - s0) / ns
    guess = np.where(bona_step, np.ceil(pf0 * nb) - b0, np.ceil(ns - s0 - b0 / nb * ns))
    m = np.clip(guess, 1, copies).astype(np.int64)
    for _ in range(3):
        pm, pf = rates(m - 1)
        m = np.where((m > 1) & (pm - pf >= 0), m - 1, m)
        pm, pf = rates(m)
        m = np.where((m < copies) & (pm - pf < 0), m + 1, m)
    pm_a, pf_a = rates(m - 1)
    pm_b, pf_b = rates(m)
    take_a = np.abs(pm_a - pf_a) <= np.abs(pm_b - pf_b)
    return np.where(take_a, (pm_a + pf_a) / 2, (pm_b + pf_b) / 2)

