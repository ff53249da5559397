"""The ``bench`` command line. Each command lives in its own module under ``benchmark/commands``."""
from __future__ import annotations

import sys

import click

from spoofbench.protocols.errors import BenchError


class BenchGroup(click.Group):
    """A click group that turns the toolkit's input errors into one line on stderr and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BenchError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(getattr(exc, "exit_code", 2))
        except OSError as exc:  # full disk, read-only folder, permissions: name the file, no traceback
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            click.echo(f"error: {where}{exc.strerror or exc}", err=True)
            ctx.exit(2)


@click.group(cls=BenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spoofbench")
def cli():
    """Speech anti-spoofing benchmark: train countermeasures, score audio, fuse systems, compare them."""


def _register_commands() -> None:
    from .commands import data, listing, perf
    from .commands import evaluate as evaluate_cmd
    from .commands import run as run_cmd
    from .commands import score as score_cmd

    cli.add_command(data.data)
    from .commands.cache import cache as cache_cmd  # bench cache info|clear
    cli.add_command(cache_cmd)
    cli.add_command(listing.list_command)
    cli.add_command(perf.perf)
    cli.add_command(evaluate_cmd.evaluate)
    cli.add_command(run_cmd.run_command)
    cli.add_command(score_cmd.score_command)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="bench")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
