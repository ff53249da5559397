"""How much disk the feature cache that a run used takes, for ``run.json`` (a read-only walk done by
:func:`spoofbench.detectors.feature_cache.cache_usage`, the same one ``bench cache info`` shows)."""
from __future__ import annotations

from spoofbench.detectors.feature_cache import cache_usage


def feature_cache_usage(roots: list[str]) -> dict[str, dict]:
    """Per cache folder: total ``bytes`` and ``entries`` of its feature files, and the same per front end."""
    usage = {}
    for root in dict.fromkeys(roots):
        per_frontend = {kind: {"bytes": row["bytes"], "entries": row["entries"]}
                        for kind, row in cache_usage(root).items()}
        usage[str(root)] = {"bytes": sum(r["bytes"] for r in per_frontend.values()),
                            "entries": sum(r["entries"] for r in per_frontend.values()),
                            "per_frontend": per_frontend}
    return usage
