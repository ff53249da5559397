"""``bench data``: build the demo corpus, describe and validate a corpus."""
from __future__ import annotations

import click


@click.group()
def data() -> None:
    """Corpus tools: build the built-in demo corpus, describe and validate a corpus."""
