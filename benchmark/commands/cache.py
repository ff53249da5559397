"""``bench cache info|clear``: what the feature cache holds per front end, and freeing it."""
from __future__ import annotations

import json
import re
import time

import click

from spoofbench.protocols.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """``"30d"`` -> seconds; units s, m, h, d, w (a bare number is days)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise ConfigError(f"--older-than {text!r}: expected a number with a unit s, m, h, d or w (e.g. 30d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "d"]


def _root(cache_dir):
    from spoofbench.detectors.feature_cache import resolve_cache_dir

    return resolve_cache_dir(cache_dir or None)


_DIR_OPTION = click.option("--dir", "cache_dir", default=None, metavar="DIR",
                           help="Feature cache folder [default: $BENCH_CACHE_DIR/features, else "
                                "$SPOOFBENCH_CACHE/features, else ~/.cache/spoofbench/features].")


@click.group("cache")
def cache() -> None:
    """The on-disk feature cache of the GMM baselines' front ends."""


@cache.command("info")
@_DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object: {front end: {entries, bytes, ...}}.")
def info(cache_dir, as_json):
    """Entries, size and oldest/newest entry per front end."""
    from tabulate import tabulate

    from spoofbench.detectors.feature_cache import cache_usage

    root = _root(cache_dir)
    usage = cache_usage(root)
    if as_json:
        click.echo(json.dumps({"root": str(root), "frontends": usage}, indent=2))
        return
    click.echo(f"feature cache {root}")
    if not usage:
        click.echo("empty")
        return

    def when(t):
        return "" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))

    rows = [[kind, u["parameter_sets"], u["entries"], f"{u['bytes'] / 1e6:.1f}", when(u["oldest"]),
             when(u["newest"])] for kind, u in usage.items()]
    rows.append(["total", sum(u["parameter_sets"] for u in usage.values()),
                 sum(u["entries"] for u in usage.values()),
                 f"{sum(u['bytes'] for u in usage.values()) / 1e6:.1f}", "", ""])
    click.echo(tabulate(rows, headers=["front end", "parameter sets", "entries", "MB", "oldest", "newest"],
                        disable_numparse=True))


@cache.command("clear")
@_DIR_OPTION
@click.option("--frontend", default=None, metavar="NAME",
              help="Only this front end (e.g. lfcc, cqcc) or parameter-set folder.")
@click.option("--older-than", "older_than", default=None, metavar="AGE",
              help="Only entries written more than AGE ago: 30d, 12h, 90m, 2w.")
def clear(cache_dir, frontend, older_than):
    """Delete cached features (all, or those selected); they are recomputed when next needed."""
    from spoofbench.detectors.feature_cache import clear_cache

    age = parse_age(older_than) if older_than is not None else None
    root = _root(cache_dir)
    if frontend is not None:
        known = _known_frontends(root)
        if frontend not in known:
            raise ConfigError(f"--frontend {frontend!r}: no such front end in {root} "
                              f"(cached: {', '.join(sorted(known)) or 'none'})")
    freed = clear_cache(root, frontend=frontend, older_than=age)
    click.echo(f"removed {freed['entries']} entries ({freed['bytes'] / 1e6:.1f} MB) from {root}")


def _known_frontends(root) -> set[str]:
    """Front-end names and parameter-set folder names present under ``root``."""
    from spoofbench.detectors.feature_cache import parameter_sets

    return {name for kind, folder in parameter_sets(root) for name in (kind, folder.name)}
