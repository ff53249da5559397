"""What earlier runs left in the output folder that this run must not mistake for its own results: temporary
files of writes cut off by a kill, and score files of fusions this run no longer makes. Both sweeps run under
the run lock, so no other run is writing the folder."""
from __future__ import annotations

import os
import re
from pathlib import Path

from spoofbench.protocols.files import TEMPORARY_NAME

from .log import Log, log_to_stderr

#: The writability probe of ``prepare_out_dir`` (a kill can land between its write and its removal).
WRITE_PROBE = re.compile(r"^\.write-test-\d+$")
#: The score files the fusion stage writes: ``fused-<method>`` and ``<system>+cal``, per seed when several.
FUSION_SCORE_FILE = re.compile(r"^(fused-.+|.+\+cal)(\.seed-?\d+)?\.eval\.txt$")


def remove_temporary_files(out: Path, *, log: Log = log_to_stderr) -> list[Path]:
    """Remove the temporary files of interrupted atomic writes anywhere in the output folder (plots, scores,
    models, detector working files, the report); return them."""
    removed = []
    for folder, _, names in os.walk(out):
        for name in names:
            if TEMPORARY_NAME.match(name) or (folder == os.fspath(out) and WRITE_PROBE.match(name)):
                path = Path(folder) / name
                path.unlink(missing_ok=True)
                removed.append(path)
    if removed:
        log(f"removed {len(removed)} temporary file(s) left by an interrupted run"
            f" (e.g. {removed[0].relative_to(out)})")
    return removed


def remove_stale_fusion_scores(out: Path, current: list[str | None], *, log: Log = log_to_stderr) -> list[Path]:
    """Remove fused score files this run did not write (a fusion no longer asked for, one that failed or was
    skipped this time, other seeds), so nothing reads an old fusion's scores as this run's. ``current``: the
    score files of this run's fusions."""
    keep = {os.path.abspath(p) for p in current if p}
    scores = out / "scores"
    stale = sorted(p for p in scores.glob("*.eval.txt")
                   if FUSION_SCORE_FILE.match(p.name) and os.path.abspath(p) not in keep
                   and not p.with_name(p.name[:-len(".eval.txt")] + ".dev.txt").exists())  # a detector's
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log(f"removed {len(stale)} score file(s) of fusions this run does not make: "
            + ", ".join(p.name for p in stale))
    return stale
