"""One table describing every metric: what ``bench eval`` computes per row, what the tables and the report show,
and what ``bench list`` lists. A new metric is one :class:`MetricSpec` entry (plus its function in
:mod:`spoofbench.benchmark.metrics`).

Readers look the table up at call time (:func:`evaluated`, :func:`shown_in`), never copy it at import.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    key: str                          # name in results, metrics.json and CSV headers
    title: str                        # column title in the tables
    description: str                  # one line, shown by ``bench list``
    percent: bool = False             # computed as a fraction, stored and shown in percent
    digits: int = 4                   # decimals in the tables
    ci: bool = False                  # results carry a bootstrap interval ``<key>_ci`` (evaluation's bootstrap)
    needs_asv: bool = False           # needs ASV scores (null without them)
    lower_is_better: bool = True
    evaluated: bool = True            # a value in every row of ``bench eval`` (False: a function, listed only)
    shown: tuple[str, ...] = ()       # views with a column for it: "table" (per attack), "summary", "pivot"
    ci_shown: tuple[str, ...] = ()    # views whose cells show the interval (the others leave it out for width)
    pivot_title: str | None = None    # heading of its per-attack x system table in the run report
    function: str | None = None       # ``metrics.<function>(bona, spoof)`` computes it; None: read off the DET
                                      # curve that ``metrics.cm_summary`` shares between EER, minDCF and t-DCF


METRIC_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("eer", "EER %", "equal error rate of bona fide vs spoof, official DET tie handling (percent in tables)",
               percent=True, digits=2, ci=True, shown=("table", "summary", "pivot"), ci_shown=("table", "summary"),
               pivot_title="EER % per attack (eval)"),
    MetricSpec("min_tdcf_2019", "min t-DCF 2019",
               "minimum normalised tandem DCF, ASVspoof 2019 (legacy) form, needs ASV scores",
               ci=True, needs_asv=True, shown=("table", "summary"), ci_shown=("table",)),
    MetricSpec("min_tdcf_2021", "min t-DCF 2021",
               "minimum normalised tandem DCF, ASVspoof 2021 revision (C0/C1/C2), needs ASV scores",
               ci=True, needs_asv=True, shown=("table", "summary", "pivot"), ci_shown=("table",),
               pivot_title="min t-DCF (2021) per attack (eval)"),
    MetricSpec("min_dcf", "minDCF", "minimum normalised DCF of ASVspoof 5 (Pspoof 0.05, Cmiss 1, Cfa 10)",
               ci=True, shown=("table", "summary")),
    MetricSpec("act_dcf", "actDCF", "actual DCF of ASVspoof 5: scores read as natural-log LLRs, threshold -ln(1.9)",
               shown=("table", "summary"), function="act_dcf"),
    MetricSpec("cllr", "Cllr", "log-likelihood-ratio cost in bits (scores read as natural-log LLRs)",
               digits=3, shown=("table", "summary"), function="cllr"),
    MetricSpec("min_cllr", "minCllr", "Cllr after optimal monotone calibration (PAV): the discrimination part of Cllr",
               digits=3, function="min_cllr"),
    MetricSpec("a_dcf", "a-DCF", "architecture-agnostic DCF of spoofing-aware speaker verification scores (ASVspoof 5)",
               needs_asv=True, evaluated=False),
    MetricSpec("t_eer", "t-EER %", "concurrent tandem EER of CM + ASV scores (ASVspoof 5)",
               percent=True, needs_asv=True, evaluated=False),
)


def evaluated() -> list[MetricSpec]:
    """The metrics of every result row, in result (and CSV) order."""
    return [s for s in METRIC_SPECS if s.evaluated]


def shown_in(view: str) -> list[MetricSpec]:
    """The metrics with a column in ``view`` ("table", "summary" or "pivot"), in column order."""
    return [s for s in METRIC_SPECS if s.evaluated and view in s.shown]


def get(key: str) -> MetricSpec:
    return next(s for s in METRIC_SPECS if s.key == key)


def scale(spec: MetricSpec) -> float:
    """Factor from the computed fraction to the stored value."""
    return 100.0 if spec.percent else 1.0
