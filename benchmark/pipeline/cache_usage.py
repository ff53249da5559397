"""How much disk the feature cache that a run used takes, for ``run.json``.

The cache keeps one folder per front end and parameter set, ``<cache_dir>/<kind>-<20 hex digits>/``, holding
``*.feat`` entries (see ``spoofbench.detectors.feature_cache``); here it is only walked, never changed."""
from __future__ import annotations

import os
import re
from pathlib import Path

_PARAMETER_SET = re.compile(r"^(?P<kind>.+)-[0-9a-f]{20}$")


def feature_cache_usage(roots: list[str]) -> dict[str, dict]:
    """Per cache folder: total ``bytes`` and ``entries`` of its feature files, and the same per front end."""
    usage = {}
    for root in dict.fromkeys(roots):
        total = {"bytes": 0, "entries": 0, "per_frontend": {}}
        folders = sorted(Path(root).iterdir()) if os.path.isdir(root) else []
        for folder in folders:
            match = _PARAMETER_SET.match(folder.name)
            if not match or not folder.is_dir():
                continue
            size = count = 0
            for entry in folder.glob("*.feat"):
                try:
                    size += entry.stat().st_size
                except OSError:  # removed while counting (another process clearing the cache)
                    continue
                count += 1
            row = total["per_frontend"].setdefault(match["kind"], {"bytes": 0, "entries": 0})
            for target in (row, total):
                target["bytes"] += size
                target["entries"] += count
        usage[str(root)] = total
    return usage
