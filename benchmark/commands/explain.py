"""``bench explain``: why a detector called a recording fake, and what each detector listens to.

    bench explain --model run/models/rawnet2.small.det a.flac b.flac --out expl/      # per file
    bench explain --model aasist.pretrained-la19 audio/ --format json                 # the numbers
    bench explain --run results/demo --max-files 40                                   # per corpus and attack
    bench explain --data CORPUS --model lfcc.det --model aasist.pretrained-la19 --faithfulness

Writes into ``--out``: a figure per file and detector (PNG + PDF), corpus charts, ``explain.html`` (one
self-contained page), ``explain.md`` and ``explain.json`` (every number behind the figures).
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from spoofbench.protocols.errors import ConfigError

#: Exit status when some detector could not be explained (the others were; the page and JSON name it).
EXIT_PARTIAL = 3


def _methods(text: str) -> tuple[str, ...]:
    from spoofbench.explain.attribution import METHODS

    chosen = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise ConfigError(f"--methods {text!r}: unknown method {unknown[0] if unknown else '(none)'}; "
                          f"choose from {', '.join(METHODS)}")
    return chosen


@click.command("explain")
@click.argument("inputs", nargs=-1, metavar="[FILE|FOLDER]...")
@click.option("--model", "models", multiple=True, metavar="FILE.det|PRESET",
              help="Detector to explain (repeatable): a model file (Detector.save, a run's models/) or a "
                   "pre-trained preset (aasist.pretrained-la19). With --run: the run's models by default.")
@click.option("--run", "run_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="A finished `bench run` folder: explain its saved models on its corpus.")
@click.option("--data", type=click.Path(), metavar="ROOT", help="Corpus whose eval trials are explained.")
@click.option("--protocol", metavar="NAME", help="Format of --data (auto-detected when left out).")
@click.option("--split", default="eval", show_default=True, help="Split of the corpus to explain.")
@click.option("--max-files", type=click.IntRange(min=2), default=20, show_default=True,
              help="Corpus trials used (a seeded sample, half bona fide): keeps the work bounded.")
@click.option("--examples", type=click.IntRange(min=0), default=2, show_default=True,
              help="Corpus mode: files (first bona fide, then spoof) that also get per-file figures.")
@click.option("--faithfulness", is_flag=True,
              help="Deletion test: top-k %% attributed cells vs k %% random cells (k = 5, 10, 20), per method.")
@click.option("--methods", default="ig,gradcam,occlusion", show_default=True,
              help="Attribution methods (gradients only for neural detectors; occlusion for every detector).")
@click.option("--bands", "n_bands", type=click.IntRange(min=2, max=64), default=8, show_default=True,
              help="Equal-width frequency bands (band importance, occlusion and deletion cells).")
@click.option("--patch", "patch_s", type=click.FloatRange(min=0.02), default=0.25, show_default=True,
              help="Time patch (s) of the occlusion and deletion cells.")
@click.option("--window", "window_s", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Score over time: window (s).")
@click.option("--hop", "hop_s", type=click.FloatRange(min=0.01), default=0.25, show_default=True,
              help="Score over time: hop (s).")
@click.option("--ig-steps", type=click.IntRange(min=2), default=16, show_default=True,
              help="Integrated Gradients: points on the path from silence.")
@click.option("--time/--no-time", "time_importance", default=True, show_default=True,
              help="Corpus mode: time importance (silence trimmed, voiced / unvoiced frames silenced).")
@click.option("--threshold", type=float, default=0.0, show_default=True,
              help="Decision threshold drawn on the score plots (and the class of files without a label).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sample and random deletions.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Device for detectors that take one.")
@click.option("--out", default="results/explain", show_default=True, type=click.Path(file_okay=False),
              metavar="DIR", help="Output folder.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="What is printed: a summary, or the JSON of every number (also written to DIR/explain.json).")
def explain_command(inputs, models, run_dir, data, protocol, split, max_files, examples, faithfulness, methods,
                    n_bands, patch_s, window_s, hop_s, ig_steps, time_importance, threshold, seed, device, out, fmt):
    """Explain detectors: attribution maps (Integrated Gradients, Grad-CAM, occlusion), score over time and
    model internals per file; band and time importance per corpus and attack; a deletion test of faithfulness.

    \b
    Exit status: 0 done; 2 bad input (one line on stderr); 3 some detector could not be explained (named on
    stderr and in explain.json), the others were.
    """
    from spoofbench.explain.driver import Job, run_job

    if run_dir and data:
        raise click.UsageError("give --run DIR or --data ROOT, not both")
    if not (inputs or run_dir or data):
        raise click.UsageError("nothing to explain: give audio FILEs, --run DIR or --data ROOT (with --model)")
    if (inputs or data) and not models:
        raise click.UsageError("--model is needed with audio files or --data")
    if inputs and (run_dir or data):
        raise click.UsageError("give audio FILEs or a corpus (--run / --data), not both")
    job = Job(inputs=list(inputs), models=list(models), run_dir=run_dir, data=data, protocol=protocol, split=split,
              max_files=max_files, examples=examples, faithfulness=faithfulness, methods=_methods(methods),
              n_bands=n_bands, patch_s=patch_s, window_s=window_s, hop_s=hop_s, ig_steps=ig_steps,
              time_importance=time_importance, threshold=threshold, seed=seed, device=device, out=Path(out))
    result = run_job(job, log=lambda m: click.echo(m, err=True))
    if fmt == "json":
        click.echo(json.dumps(result["json"], indent=1))
    else:
        click.echo(result["text"])
    if result["failed"]:
        click.echo(f"warning: {len(result['failed'])} detector(s) could not be explained: "
                   f"{', '.join(result['failed'])}", err=True)
        click.get_current_context().exit(EXIT_PARTIAL)
