"""The degradation benchmark (``bench robustness``, ``bench run --conditions``): conditions, the degraded-audio
cache, adversarial conditions, the stage that scores every fitted system under every condition, its numbers
(``robustness.json``) and its report section."""
from .conditions import CONDITION_SETS, Condition, parse_conditions
from .results import RobustnessResult
from .stage import StageOptions, run_conditions

__all__ = ["CONDITION_SETS", "Condition", "RobustnessResult", "StageOptions", "parse_conditions", "run_conditions"]
