"""``bench perf export``: a model in every deployable format side by side (PyTorch float32, the engine's fast
modes, ONNX float32, ONNX int8): file size, latency at batch 1 and 8 on CPU, real-time factor, eval EER.

    bench perf export results/demo/models/rawnet2.small.det aasist.pretrained-la19 --json perf-export.json
"""
from __future__ import annotations

import json

import click


def _ints(text: str, what: str) -> tuple[int, ...]:
    from spoofbench.protocols.errors import ConfigError

    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--{what} {text!r}: expected comma-separated integers") from None
    if not values or min(values) < 1:
        raise ConfigError(f"--{what} {text!r}: expected positive integers")
    return values


@click.command("export")
@click.argument("models", nargs=-1, required=True, metavar="MODEL...")
@click.option("--data", default=None, metavar="DIR", help="Corpus whose eval split gives the EER (default: the "
                                                          "built-in demo corpus).")
@click.option("--batches", default="1,8", show_default=True, help="Batch sizes timed.")
@click.option("--reps", type=click.IntRange(min=1), default=5, show_default=True, help="Timed repeats (median).")
@click.option("--fast", default="int8,bf16", show_default=True,
              help="The engine's fast modes to include (bf16 only where the CPU runs it natively).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads (torch and onnxruntime).")
@click.option("--max-trials", type=click.IntRange(min=2), default=None, help="At most this many eval trials.")
@click.option("--json", "json_out", default=None, metavar="FILE", help="Also write the results as JSON.")
def perf_export(models, data, batches, reps, fast, threads, max_trials, json_out):
    """Per model and format (PyTorch float32, fast modes, ONNX float32 and int8): size, latency, RTF and eval EER."""
    from spoofbench.deploy.compare import compare_formats, eval_windows, format_table
    from spoofbench.deploy.models import load_model
    from spoofbench.protocols import load_trials
    from spoofbench.protocols.files import write_text_atomic

    from ..pipeline.corpus import ensure_demo_corpus

    batch_sizes = _ints(batches, "batches")
    loaded = [load_model(m) for m in models]  # every model checked before any work
    root = data or ensure_demo_corpus(log=lambda m: click.echo(m, err=True))
    trials = load_trials(root, split="eval")
    if max_trials is not None and len(trials) > max_trials:
        import numpy as np

        trials = trials[np.sort(np.random.default_rng(0).choice(len(trials), max_trials, replace=False))]
    results = []
    for model in loaded:
        click.echo(f"{model.source}: {model.detector.name}, {len(trials)} eval trials", err=True)
        windows = eval_windows(model.detector, trials["path"])
        results += compare_formats(model.source, model.detector, windows, trials.y, file_bytes=model.file_bytes,
                                   batches=batch_sizes, reps=reps, fast_modes=tuple(f for f in fast.split(",") if f),
                                   threads=threads, echo=lambda m: click.echo(m, err=True))
    click.echo(format_table(results, batch_sizes))
    click.echo(f"latency: median of {reps} forward passes on random inputs of the model's length; RTF at batch "
               f"{max(batch_sizes)}; EER on {len(trials)} eval trials of {root}")
    if json_out:
        write_text_atomic(json_out, json.dumps([r.as_dict() for r in results], indent=1))
