"""The ASV score file of the eval t-DCF, read at start-up: a bad file is one line before any training, not an
error after every detector has trained."""
from __future__ import annotations

from spoofbench.protocols.errors import BenchError


def check_asv_file(path: str) -> None:
    """Parse the file and compute its ASV operating point, as the report will (the result is not kept: the
    report reads the file again, from the same bytes)."""
    from ..scorefiles import read_asv_scores

    asv = read_asv_scores(path)
    try:
        asv.operating_point()
    except BenchError as exc:
        message = str(exc)
        raise BenchError(message if message.startswith(path) else f"{path}: {message}") from None
