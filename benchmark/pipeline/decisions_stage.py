"""The decision policy of each model a run saves: calibration and thresholds fitted on the system's dev scores
(:mod:`spoofbench.deploy.decisions`), kept in its ``models/<system>.det`` so that ``bench score``, ``bench export``
and ``bench serve`` decide as the report's operating points say. Fusions have no model file: the report gives
their operating points only."""
from __future__ import annotations

import json
from pathlib import Path

from spoofbench.detectors.model_file import read_detector_file, write_detector_file
from spoofbench.protocols.errors import BenchError

from .corpus import Corpus
from .log import Log, log_to_stderr
from .scores import read_aligned_scores
from .systems import SystemRun
from .workspace import Manifest, file_matches, file_record


def save_decision_policies(runs: list[SystemRun], corpus: Corpus, out: Path, manifest: Manifest, *,
                           log: Log = log_to_stderr) -> None:
    """Fit and store the policy of every finished system whose model file this run saved (and the manifest
    still vouches for). A file already holding the same policy is left as it is (a re-run rewrites nothing)."""
    from spoofbench.deploy.decisions import fit_decision_policy

    dev_y = corpus.tables["dev"].y
    for run in runs:
        if not run.ok or run.model_file is not None:  # a saved model given to the run is the user's file
            continue
        path = out / "models" / f"{run.system}.det"
        rec = manifest.get(run.system, run.key)
        if not rec.get("model") or not file_matches(path, rec["model"]):
            continue
        try:
            scores = read_aligned_scores(run.score_files["dev"], corpus.tables["dev"])
            policy = fit_decision_policy(scores, dev_y).to_dict()
            meta, state = read_detector_file(path)
            if json.dumps(meta.get("decisions"), sort_keys=True) == json.dumps(policy, sort_keys=True):
                continue
            meta["decisions"] = policy
            write_detector_file(path, meta, state)
        except BenchError as exc:
            log(f"  note: {run.system}: no decision policy saved with the model ({exc})")
            continue
        rec["model"] = file_record(path)
        manifest.put(run.system, rec)
