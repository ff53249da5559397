"""``bench robustness``: the degradation benchmark (codecs, noise, rooms, channels, adaptive attackers)."""
from __future__ import annotations

import time

import click

from .run import EXIT_FINISHED_WITH_FAILURES, _command_line, _conditions, _csv, _seeds


@click.command("robustness")
@click.option("--detectors", metavar="LIST",
              help="Systems, as in bench run: NAME[.PRESET], FILE.det (a saved model, scored as it is) or "
                   "SYSTEM=SPEC. Each is trained once on clean train (or reused, see --out).")
@click.option("--conditions", metavar="LIST",
              help="Comma-separated conditions: a set (standard: ~15 codecs, noise levels, rooms, resampling; "
                   "asvspoof2021-la: the 2021 LA transmission conditions), transform specs (codec:opus@12k, "
                   "noise:white@10dB, reverb:rt60=0.6, chain(A,B)), adv:fgsm@40dB, adv:pgd@40dB, "
                   "adv:transfer=SYSTEM@40dB. clean is always included. [default: standard]")
@click.option("--data", type=click.Path(file_okay=False), metavar="ROOT",
              help="Corpus root (default: the built-in demo corpus).")
@click.option("--protocol", metavar="NAME", help="Corpus format (auto-detected when left out).")
@click.option("--train-data", type=click.Path(file_okay=False), metavar="ROOT",
              help="Train on this corpus; score --data (as bench run --train-data).")
@click.option("--train-protocol", metavar="NAME", help="Format of --train-data.")
@click.option("--fusion", metavar="LIST", default="logreg,mean", show_default=True,
              help="Fusions fitted on clean dev and applied unchanged under every condition (none: no fusion).")
@click.option("--seeds", metavar="LIST", help="Comma-separated seeds of the seedable detectors.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="TOML or YAML file as for bench run ([run] table, per-detector tables).")
@click.option("--set", "sets", multiple=True, metavar="DETECTOR.PARAM=VALUE", help="Override a hyperparameter.")
@click.option("--out", type=click.Path(file_okay=False), metavar="DIR",
              help="Output folder; a bench run folder of the same detectors is reused (nothing is refitted). "
                   "Default: the folder bench run would choose for these options.")
@click.option("--cache-dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Degraded-audio cache (default $SPOOFBENCH_CACHE/degraded-audio): each condition is applied "
                   "to each file once, whichever run asks.")
@click.option("--degrade-dev", is_flag=True,
              help="Also apply each condition (white-box attacks excepted) to the dev audio: dev metrics per "
                   "condition and actDCF with a calibration fitted on the condition's own dev (act_dcf_matched), "
                   "next to the clean-dev one. Doubles the degrading and scoring.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Device for detectors that take one.")
@click.option("--on-bad-audio", type=click.Choice(["skip", "fail"]), default="fail", show_default=True,
              help="Clean audio that cannot be used: stop, or leave its trials out.")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Bootstrap resamples of the 95 % CIs (0: none, the fastest).")
@click.option("--fraction", type=click.FloatRange(0, 1, min_open=True), metavar="F",
              help="Use a random fraction of each split.")
@click.option("--max-count", "max_trials", type=click.IntRange(min=2), metavar="N", help="At most N trials per split.")
@click.option("--subset-seed", type=int, default=0, show_default=True, help="Seed of --fraction/--max-count.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Draw the heat map and degradation plots.")
def robustness_command(detectors, conditions, data, protocol, train_data, train_protocol, fusion, seeds,
                       config_file, sets, out, cache_dir, degrade_dev, device, on_bad_audio, n_bootstrap, fraction,
                       max_trials, subset_seed, plots) -> None:
    """Degradation benchmark: EER, minDCF and actDCF (threshold calibrated on clean dev) of every detector and
    fusion under codecs, noise, reverberation, resampling and adaptive attackers.

    Each detector is trained once on clean train (or reused from a bench run folder, or loaded from a .det
    file); each condition is applied to the eval audio once (cached on disk); fusions fitted on clean dev are
    applied per condition. Writes robustness.json, the heat-map table, the degradation plots and the
    report (report.md / report.html) with its Robustness section.

    \b
    Exit status:
      0  every system, fusion and condition finished
      2  bad input or usage (one line on stderr; nothing was computed)
      3  finished, but a detector, fusion or condition failed (named on stderr and in the report)

    \b
    Examples:
      bench robustness --detectors lfcc-gmm.small,rawnet2.small --conditions standard
      bench robustness --detectors rawnet2.small --conditions noise:white@10dB,adv:pgd@40dB
      bench robustness --detectors aasist.pretrained-la19 --data LA2019 --conditions asvspoof2021-la
    """
    from spoofbench.benchmark.config import load_config
    from spoofbench.benchmark.pipeline import RunRequest, run_benchmark
    from spoofbench.benchmark.report import write_report
    from spoofbench.benchmark.robustness.report import adversarial_table, eer_table

    started = time.perf_counter()
    ctx = click.get_current_context()
    config = load_config(config_file, sets)
    opts = config.run
    req = RunRequest(
        detectors=_csv(detectors) or opts.get("detectors") or [],
        data=data or opts.get("data"), protocol=protocol or opts.get("protocol"),
        train_data=train_data or opts.get("train_data"), train_protocol=train_protocol or opts.get("train_protocol"),
        fusion=_csv(fusion), seeds=_seeds(seeds) if seeds is not None else opts.get("seeds"),
        out=out or opts.get("out"), device=device or opts.get("device"), on_bad_audio=on_bad_audio,
        n_bootstrap=n_bootstrap, plots=plots, fraction=fraction, max_trials=max_trials, subset_seed=subset_seed,
        config=config, command=["bench", "robustness", *_command_line(ctx)[2:]],
        conditions=_conditions(conditions) or opts.get("conditions") or ["standard"], condition_cache=cache_dir,
        degrade_dev=degrade_dev or bool(opts.get("degrade_dev", False)),
    )

    def log(message: str) -> None:
        click.echo(message, err=True)

    outcome = run_benchmark(req, log=log, finish=lambda o: write_report(o, req, started=started, log=log))
    result = outcome.robustness
    headers, rows = eer_table(result)
    from tabulate import tabulate

    click.echo()
    click.echo("EER (%) per condition, eval:")
    click.echo(tabulate(rows, headers, tablefmt="simple", disable_numparse=True))
    adversarial = adversarial_table(result)
    if adversarial:
        click.echo()
        click.echo("Attack success rate (%) at the clean-dev EER threshold:")
        click.echo(tabulate(adversarial[1], adversarial[0], tablefmt="simple", disable_numparse=True))
    click.echo()
    click.echo(f"robustness.json: {outcome.out / 'robustness.json'}")
    click.echo(f"report: {outcome.report.markdown}")
    click.echo(f"        {outcome.report.html}")
    click.echo(f"wall time: {time.perf_counter() - started:.1f} s")
    problems = [f"detector {s}" for s in outcome.report.failed]
    problems += [f"fusion {f.system}" for f in outcome.fusions if f.status == "failed"]
    problems += result.failures()
    if problems:
        click.echo(f"warning: {len(problems)} failure(s): " + "; ".join(problems), err=True)
        ctx.exit(EXIT_FINISHED_WITH_FAILURES)
