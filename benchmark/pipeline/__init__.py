"""The ``bench run`` pipeline: request -> workspace -> corpus -> audio scan -> planning -> systems -> fusion.

Each stage is a module of its own; :func:`run_benchmark` (in ``run.py``) strings them together and hands the
:class:`RunOutcome` to the report.
"""
from .request import RunRequest
from .run import RunOutcome, run_benchmark

__all__ = ["RunOutcome", "RunRequest", "run_benchmark"]
