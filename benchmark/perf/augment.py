"""``bench perf augment``: what on-the-fly augmentation costs a training epoch (target: RawBoost 3 at most 20 %
slower than clean with 2 loader workers), clean and augmented measured side by side in one run."""
from __future__ import annotations

import os
import statistics
import time

import click


@click.command("augment")
@click.option("--detector", "name", default="rawnet2.small", show_default=True, help="Neural detector (preset).")
@click.option("--augment", "specs", default="rawboost:3", show_default=True,
              help="augment= values to time against clean, separated by ';'.")
@click.option("--data", default=None, metavar="DIR", help="Corpus whose train split is used [default: the demo].")
@click.option("--max-trials", type=click.IntRange(min=8), default=400, show_default=True,
              help="Training trials used (a seeded subset).")
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True, help="Data-loader workers.")
@click.option("--epochs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Epochs timed per fit (after one warm-up epoch, whose time is subtracted).")
@click.option("--repeat", type=click.IntRange(min=1), default=2, show_default=True,
              help="Fits per case, interleaved clean/augmented; the median is reported.")
def perf_augment(name, specs, data, max_trials, workers, epochs, repeat):
    """Epoch time of a neural detector trained clean and with augmentation, side by side (RawBoost 3 by default,
    2 loader workers; the target is at most 20 % slower).

    Epoch time = (time of a fit of 1 + EPOCHS epochs - time of a fit of 1 epoch) / EPOCHS: audio loading, model
    set-up and the first epoch's warm-up cancel out."""
    from tabulate import tabulate

    import spoofbench
    from spoofbench.protocols.errors import ConfigError

    from ..pipeline.corpus import ensure_demo_corpus

    root = data or ensure_demo_corpus(log=lambda msg: click.echo(msg, err=True))
    train = spoofbench.load_trials(root).select(split="train")
    if len(train) > max_trials:
        import numpy as np

        keep = np.sort(np.random.default_rng(0).choice(len(train), max_trials, replace=False))
        train = train[keep]
    cases = [None] + [s.strip() for s in specs.split(";") if s.strip()]
    for spec in cases[1:]:  # check every value before timing anything
        spoofbench.create_detector(name, augment=spec)

    def fit_seconds(spec, n_epochs):
        det = spoofbench.create_detector(name, augment=spec, epochs=n_epochs, num_workers=workers,
                                         progress=False, cache_audio=True)
        t0 = time.perf_counter()
        det.fit(train)
        return time.perf_counter() - t0

    times: dict = {spec: [] for spec in cases}
    try:
        for _ in range(repeat):
            for spec in cases:  # interleaved: a change in the machine's load hits every case alike
                per_epoch = (fit_seconds(spec, 1 + epochs) - fit_seconds(spec, 1)) / epochs
                times[spec].append(per_epoch)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    clean = statistics.median(times[None])
    rows = [[spec or "clean", f"{statistics.median(t):.2f}", f"{min(t):.2f}", f"{max(t):.2f}",
             f"{statistics.median(t) / clean:.3f}"] for spec, t in times.items()]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    click.echo(f"{name} on {len(train)} training trials of {os.path.basename(os.path.normpath(root))}, "
               f"{workers} loader workers, {epochs} timed epochs x {repeat} fits per case "
               f"(cpus {os.cpu_count()}, load average {load:.2f}):")
    click.echo(tabulate(rows, headers=["augment", "median s/epoch", "min", "max", "ratio to clean"]))
    click.echo("target: rawboost:3 at most 1.20x clean")
