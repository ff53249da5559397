"""``bench run``: train detectors, score dev and eval, fuse, and write the per-attack report."""
from __future__ import annotations

import time

import click

#: ``bench run``'s exit status when it finished and wrote the report, but a detector or a fusion failed
#: (0: all finished; 2: bad input, nothing was trained).
EXIT_FINISHED_WITH_FAILURES = 3


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _conditions(value: str | None) -> list[str] | None:
    """``--conditions``: split at top-level commas only (``chain(A,B)`` is one condition)."""
    if value is None:
        return None
    from spoofbench.augment import split_specs

    return split_specs(value)


def _seeds(value: str | None) -> list[int] | None:
    from spoofbench.benchmark.config import check_seeds

    return None if value is None else check_seeds(value, "--seeds")


def _command_line(ctx: click.Context) -> list[str]:
    """The command as the user could type it again (for the report and run.json): every option given."""
    words = ["bench", "run"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if not isinstance(param, click.Option) or value is None or value == () or value == param.default:
            continue
        if param.is_flag:
            if value or param.secondary_opts:  # a plain flag left off is not written
                words.append(param.opts[0] if value else param.secondary_opts[0])
            continue
        for item in (value if param.multiple else [value]):
            words += [param.opts[0], str(item)]
    return words


def _one_of(ctx: click.Context, name: str, old_name: str, option: str, old_option: str):
    """The value of an option given under its name or its old (hidden) one; the old name is then forgotten,
    so run.json records the command under the current names."""
    value, old = ctx.params.get(name), ctx.params.pop(old_name, None)
    if old is not None and value is not None and old != value:
        raise click.UsageError(f"{option} and {old_option} (its old name) disagree: {value} vs {old}")
    value = value if value is not None else old
    ctx.params[name] = value
    return value


@click.command("run")
@click.option("--detectors", "detectors", metavar="LIST",
              help="Comma-separated systems: NAME or NAME.PRESET (see `bench list`), a saved model FILE.det "
                   "(scored as it is, e.g. from a run's models/), or SYSTEM=NAME.PRESET / SYSTEM=FILE.det to name "
                   "a system yourself (two systems of one preset, each with its own --set SYSTEM.PARAM). "
                   "Pre-trained presets are scored, not trained. E.g. rawnet2.small,lfcc-gmm.small or "
                   "la19=aasist.pretrained-la19,la19-ft=aasist.pretrained-la19.")
@click.option("--data", type=click.Path(file_okay=False), metavar="ROOT",
              help="Corpus root. Without it, the built-in demo corpus is built once in the cache folder and used.")
@click.option("--protocol", metavar="NAME", help="Corpus format (auto-detected when left out).")
@click.option("--train-data", type=click.Path(file_okay=False), metavar="ROOT",
              help="Train on this corpus's train split (model selection on its dev) and score --data's dev and "
                   "eval (calibration and fusion on --data's dev). Pre-trained and saved models ignore it.")
@click.option("--train-protocol", metavar="NAME", help="Format of --train-data (auto-detected when left out).")
@click.option("--fusion", metavar="LIST",
              help="Fusions fitted on dev, applied to eval: logreg, xgboost, mean, calibrate (one calibrated row "
                   "per system), none. [default: logreg,mean]")
@click.option("--seeds", metavar="LIST", help="Comma-separated seeds, e.g. 1,2,3: each seedable detector is "
                                              "trained once per seed and the report gives mean ± std.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="TOML or YAML file: a [run] table of these options and per-detector hyperparameter tables.")
@click.option("--set", "sets", multiple=True, metavar="DETECTOR.PARAM=VALUE",
              help="Override one hyperparameter (repeatable; wins over --config): of a detector "
                   "(rawnet2.epochs=10), a preset (aasist.pretrained-la19.finetune_epochs=3) or a system "
                   "named in --detectors (la19-ft.finetune_epochs=3).")
@click.option("--out", type=click.Path(file_okay=False), metavar="DIR",
              help="Output folder. Default: results/<corpus>-<hash of the options>, so the same command resumes.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Device for detectors that take one.")
@click.option("--on-bad-audio", type=click.Choice(["skip", "fail"]),
              help="Audio that cannot be used: stop before training (fail) or leave its trials out (skip). "
                   "[default: fail]")
@click.option("--verify-audio", is_flag=True,
              help="Hash every audio file's content, not only those whose size or modification time changed "
                   "(audio rewritten with both kept is then scored again too).")
@click.option("--asv-scores", type=click.Path(dir_okay=False), metavar="FILE",
              help="ASV score file for the eval t-DCF, when the corpus has none or you want another.")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), metavar="N",
              help="Bootstrap resamples of the 95 % CIs (as bench eval --bootstrap). [default: 1000]")
@click.option("--n-bootstrap", "old_n_bootstrap", type=click.IntRange(min=0), hidden=True)  # its old name
@click.option("--fraction", type=click.FloatRange(0, 1, min_open=True), metavar="F",
              help="Use a random fraction of each split (seeded by --subset-seed), e.g. for a first look at a "
                   "large corpus.")
@click.option("--max-count", "max_trials", type=click.IntRange(min=2), metavar="N",
              help="At most N random trials per split (as the trial selection of bench data/score/eval).")
@click.option("--max-trials", "old_max_trials", type=click.IntRange(min=2), hidden=True)  # its old name
@click.option("--subset-seed", type=int, default=0, show_default=True, help="Seed of --fraction/--max-count.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Draw DET curves and histograms.")
@click.option("--conditions", metavar="LIST",
              help="Also score eval under these conditions and add the Robustness section (as bench robustness "
                   "--conditions: standard, asvspoof2021-la, codec:opus@12k, noise:white@10dB, adv:pgd@40dB, ...).")
@click.option("--degrade-dev", is_flag=True,
              help="With --conditions: apply them to dev too (as bench robustness --degrade-dev).")
@click.option("--explain", is_flag=True,
              help="Add an explanations section to the report: band importance (EER with each frequency band "
                   "removed), time importance and per-attack band attribution of each saved model (bench explain).")
@click.option("--explain-files", type=click.IntRange(min=2), default=20, show_default=True, metavar="N",
              help="With --explain: eval files used (a seeded sample, half bona fide).")
def run_command(detectors, data, protocol, train_data, train_protocol, fusion, seeds, config_file, sets, out, device,
                on_bad_audio, verify_audio, asv_scores, n_bootstrap, old_n_bootstrap, fraction, max_trials,
                old_max_trials, subset_seed, plots, conditions, degrade_dev, explain, explain_files) -> None:
    """Train each detector on train (dev for model selection), score dev and eval, fuse on dev, and write
    the per-attack report (EER, t-DCF, minDCF, actDCF, Cllr, DET curves) to DIR.

    Stopped runs resume: the same command again reuses every finished stage.

    \b
    Exit status:
      0  every detector and fusion finished
      2  bad input or usage (one line on stderr; nothing was trained)
      3  finished, but some detectors or fusions failed (the report covers the others)

    \b
    Examples:
      bench run --detectors rawnet2.small,lfcc-gmm.small,cqcc-gmm.small --out results/demo
      bench run --detectors aasist.pretrained-la19,lfcc-gmm --data CORPUS
      bench run --detectors la19=aasist.pretrained-la19,la19-ft=aasist.pretrained-la19,aasist \\
                --set la19-ft.finetune_epochs=3 --data CORPUS     # frozen, fine-tuned, from scratch
      bench run --detectors lfcc-gmm --train-data A --data B      # train on A, score B
      bench run --detectors results/run1/models/lfcc-gmm.det --data B
    """
    from spoofbench.benchmark.config import load_config
    from spoofbench.benchmark.pipeline import RunRequest, run_benchmark
    from spoofbench.benchmark.report import write_report

    started = time.perf_counter()
    ctx = click.get_current_context()
    n_bootstrap = _one_of(ctx, "n_bootstrap", "old_n_bootstrap", "--bootstrap", "--n-bootstrap")
    max_trials = _one_of(ctx, "max_trials", "old_max_trials", "--max-count", "--max-trials")
    config = load_config(config_file, sets)
    opts = config.run  # the config file's [run] table; the command line wins
    req = RunRequest(
        detectors=_csv(detectors) or opts.get("detectors") or [],
        data=data or opts.get("data"),
        protocol=protocol or opts.get("protocol"),
        train_data=train_data or opts.get("train_data"),
        train_protocol=train_protocol or opts.get("train_protocol"),
        fusion=_csv(fusion) if fusion is not None else opts.get("fusion", ["logreg", "mean"]),
        seeds=_seeds(seeds) if seeds is not None else opts.get("seeds"),
        out=out or opts.get("out"),
        device=device or opts.get("device"),
        on_bad_audio=on_bad_audio or opts.get("on_bad_audio", "fail"),
        verify_audio=verify_audio,
        asv_scores=asv_scores or opts.get("asv_scores"),
        n_bootstrap=n_bootstrap if n_bootstrap is not None else opts.get("bootstrap", 1000),
        plots=plots,
        explain=explain,
        explain_files=explain_files,
        fraction=fraction,
        max_trials=max_trials,
        subset_seed=subset_seed,
        config=config,
        command=_command_line(ctx),
        conditions=_conditions(conditions) if conditions is not None else opts.get("conditions"),
        degrade_dev=degrade_dev or bool(opts.get("degrade_dev", False)),
    )
    def log(message: str) -> None:
        click.echo(message, err=True)

    outcome = run_benchmark(req, log=log, finish=lambda o: write_report(o, req, started=started, log=log))
    report = outcome.report
    click.echo()
    click.echo(report.terminal_text)
    click.echo()
    click.echo(f"report: {report.markdown}")
    click.echo(f"        {report.html}")
    click.echo(f"wall time: {time.perf_counter() - started:.1f} s")
    failed_fusions = [f.system for f in outcome.fusions if f.status == "failed"]
    if report.failed:
        click.echo(f"warning: {len(report.failed)} detector(s) failed: {', '.join(report.failed)} "
                   "(see the report)", err=True)
    if failed_fusions:
        click.echo(f"warning: {len(failed_fusions)} fusion(s) failed: {', '.join(failed_fusions)} "
                   "(see the report)", err=True)
    robustness = outcome.robustness.failures() if outcome.robustness is not None else []
    if robustness:
        click.echo(f"warning: {len(robustness)} robustness failure(s): {'; '.join(robustness)} (see the report)",
                   err=True)
    if report.failed or failed_fusions or robustness:
        click.get_current_context().exit(EXIT_FINISHED_WITH_FAILURES)
