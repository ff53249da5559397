"""How the pipeline reports progress: a callable taking one line (the CLI passes click.echo to stderr)."""
from __future__ import annotations

import sys
from collections.abc import Callable

Log = Callable[[str], None]


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
