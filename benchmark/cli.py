"""The ``bench`` command line. Each command lives in its own module under ``benchmark/commands``, imported only
when that command runs (see :data:`COMMANDS`)."""
from __future__ import annotations

import signal
import sys

import click

from spoofbench.protocols.errors import BenchError

from .commands.lazy import LazyGroup

#: Every ``bench`` command: name -> ("module:attribute", summary shown by ``bench --help``). Add a command
#: here (one line, its summary the start of its docstring); tests/test_interface.py checks each entry imports
#: and that ``bench --help`` / ``bench list`` import nothing heavy.
COMMANDS: dict[str, tuple[str, str]] = {
    "cache": ("spoofbench.benchmark.commands.cache:cache",
              "The on-disk feature cache of the GMM baselines' front ends."),
    "data": ("spoofbench.benchmark.commands.data:data",
             "Corpus tools: build the built-in demo corpus, describe and validate a corpus."),
    "distill": ("spoofbench.benchmark.commands.distill:distill_command",
                "Train a small student on a teacher's scores and labels; report teacher vs student size, speed "
                "and EER."),
    "eval": ("spoofbench.benchmark.commands.evaluate:evaluate",
             "Evaluate CM score files: EER, min t-DCF (2019 and 2021 forms), minDCF, actDCF and Cllr"),
    "export": ("spoofbench.benchmark.commands.export:export_command",
               "Export a neural detector (.det file or pre-trained preset) to ONNX, checked against PyTorch within "
               "1e-4."),
    "explain": ("spoofbench.benchmark.commands.explain:explain_command",
                "Explain detectors: attribution maps (Integrated Gradients, Grad-CAM, occlusion), score over time "
                "and model internals per file; band and time importance per corpus and attack; a deletion test "
                "of faithfulness."),
    "keys": ("spoofbench.benchmark.commands.keys:keys",
             "API keys of bench serve: add (prints the key once), list, remove."),
    "list": ("spoofbench.benchmark.commands.listing:list_command",
             "List registered detectors, corpus protocols and metrics."),
    "perf": ("spoofbench.benchmark.perf:perf",
             "Speed benchmarks of the front ends, the GMM back end, RawNet2, `bench eval` and the demo corpus"),
    "robustness": ("spoofbench.benchmark.commands.robustness:robustness_command",
                   "Degradation benchmark: EER, minDCF and actDCF (threshold calibrated on clean dev) of every "
                   "detector and fusion under codecs, noise, reverberation, resampling and adaptive attackers."),
    "run": ("spoofbench.benchmark.commands.run:run_command",
            "Train each detector on train (dev for model selection), score dev and eval, fuse on dev"),
    "serve": ("spoofbench.benchmark.commands.serve:serve_command",
              "Serve detectors over HTTP: scores, decisions, jobs, a live stream, metrics and a web page."),
    "score": ("spoofbench.benchmark.commands.score:score_command",
              "Score audio files and folders (any length) with a trained or pre-trained detector; higher score = "
              "bona fide."),
}


class BenchGroup(LazyGroup):
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
        except KeyboardInterrupt:
            self.interrupted = True  # main() then leaves further Ctrl-Cs out of the interpreter's exit
            raise


@click.group(cls=BenchGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spoofbench")
def cli():
    """Speech anti-spoofing benchmark: train countermeasures, score audio, fuse systems, compare them."""


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="bench")
    finally:
        # The user asked to stop (click printed "Aborted!") and the worker pools are terminated; a further Ctrl-C
        # (a terminal sends one per key press) would land in the interpreter's exit, where the atexit join of a
        # pool's manager thread printed an "Exception ignored" traceback. Only here, in the command's own
        # process: a program that calls the group in-process keeps its Ctrl-C.
        if getattr(cli, "interrupted", False):
            signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
