"""``bench list``: registered detectors (with presets), protocols and metrics."""
from __future__ import annotations

import json

import click
from tabulate import tabulate


@click.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--presets", "show_presets", is_flag=True,
              help="Also one row per preset: its parameter count and, for pre-trained presets, what their "
                   "shipped weights were trained on (imports every detector family, so it takes a few seconds).")
def list_command(fmt: str, show_presets: bool) -> None:
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
    presets = preset_rows([r["detector"] for r in rows]) if show_presets else None
    if fmt == "json":
        extra = {"presets": presets} if presets is not None else {}
        click.echo(json.dumps({"detectors": rows, "protocols": protos, "metrics": metrics, **extra,
                               "plugin_errors": errors, "protocol_plugin_errors": protocol_errors}, indent=2))
        return
    click.echo(tabulate([[r["detector"], ", ".join(r["presets"]), r["default"] or "", r["source"],
                          r["description"]] for r in rows],
                        headers=["detector", "presets", "default", "source", "description"]))
    if presets is None:
        click.echo("(parameter counts, and what each pre-trained preset was trained on: bench list --presets)")
    else:
        click.echo()
        click.echo(tabulate([[p["preset"], f"{p['parameters']:,}" if isinstance(p["parameters"], int) else
                              p["parameters"], f"pre-trained on {p['trained_on']}" if p["pretrained"] else "",
                              p["pretrained"] or ""] for p in presets],
                            headers=["preset", "parameters", "pre-trained", "weights"], disable_numparse=True))
    click.echo()
    click.echo(tabulate([[p["protocol"], p["description"]] for p in protos], headers=["protocol", "description"]))
    if metrics:
        click.echo()
        click.echo("metrics: " + ", ".join(metrics))
    for name, err in errors.items():
        click.echo(f"warning: plugin {name!r} failed to load: {err}", err=True)
    for name, err in protocol_errors.items():
        click.echo(f"warning: protocol plugin {name!r} failed to load: {err}", err=True)


def preset_rows(names: list[str]) -> list[dict]:
    """Each ``name.preset``: its learned-parameter count (a network's is known before training; a GMM's only
    after, "after fit") and, for pre-trained presets, the weights and what they were trained on."""
    from spoofbench.detectors import create_detector, get_entry

    out = []
    for name in names:
        try:
            specs = [f"{name}.{p}" for p in get_entry(name).preset_names] or [name]
        except Exception as exc:  # a family that fails to import is named, the others are listed
            out.append({"preset": name, "parameters": f"error: {exc}", "pretrained": None, "trained_on": None})
            continue
        for spec in specs:
            row = {"preset": spec, "parameters": "—", "pretrained": None, "trained_on": None}
            try:
                det = create_detector(spec)
                info = det.pretrained_info() if hasattr(det, "pretrained_info") else None
                if info:
                    row["pretrained"], row["trained_on"] = info["name"], info["trained_on"]
                row["parameters"] = _parameter_count(det)
            except Exception as exc:
                row["parameters"] = f"error: {' '.join(str(exc).split())[:120]}"
            out.append(row)
    return out


def _parameter_count(det) -> int | str:
    from spoofbench.detectors.base import NotFittedError

    try:
        return int(det.n_parameters())
    except NotFittedError:
        return "after fit"  # the count depends on the data (e.g. a GMM's feature size) or on fitting


def _metric_names() -> list[str]:
    from spoofbench.benchmark.metrics import METRICS

    return list(METRICS)
