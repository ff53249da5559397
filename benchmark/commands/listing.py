"""``bench list``: registered detectors (with presets), protocols and metrics."""
from __future__ import annotations

import json

import click
from tabulate import tabulate


@click.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_command(fmt: str) -> None:
    """List registered detectors, corpus protocols and metrics."""
    from spoofbench import detectors, protocols
    rows = []
    for name in detectors.list_detectors():
        entry = detectors.get_entry(name)
        rows.append({"detector": name, "presets": list(entry.preset_names), "default": entry.default_preset,
                     "source": entry.source, "description": entry.description})
    protos = [{"protocol": n, "description": protocols.get_protocol(n).description}
              for n in protocols.list_protocols()]
    metrics = _metric_names()
    errors = detectors.plugin_errors()
    protocol_errors = protocols.plugin_errors()
    if fmt == "json":
        click.echo(json.dumps({"detectors": rows, "protocols": protos, "metrics": metrics,
                               "plugin_errors": errors, "protocol_plugin_errors": protocol_errors}, indent=2))
        return
    click.echo(tabulate([[r["detector"], ", ".join(r["presets"]), r["default"] or "", r["source"],
                          r["description"]] for r in rows],
                        headers=["detector", "presets", "default", "source", "description"]))
    click.echo()
    click.echo(tabulate([[p["protocol"], p["description"]] for p in protos], headers=["protocol", "description"]))
    if metrics:
        click.echo()
        click.echo("metrics: " + ", ".join(metrics))
    for name, err in errors.items():
        click.echo(f"warning: plugin {name!r} failed to load: {err}", err=True)
    for name, err in protocol_errors.items():
        click.echo(f"warning: protocol plugin {name!r} failed to load: {err}", err=True)


def _metric_names() -> list[str]:
    from spoofbench.benchmark.metrics import METRICS

    return list(METRICS)
