"""``bench perf cache``: size and CPU cost of the feature cache's entry formats on given audio."""
from __future__ import annotations

import time

import click
import numpy as np


@click.command("cache")
@click.argument("inputs", nargs=-1, required=True, metavar="AUDIO...")
@click.option("--preset", default="small", show_default=True,
              help="Preset of lfcc-gmm / cqcc-gmm whose front ends are measured.")
def perf_cache(inputs, preset):
    """Feature-cache entries of AUDIO files/folders, per front end: size against float32 and CPU seconds of
    extraction, encoding and decoding (process CPU time, so a loaded machine distorts it less)."""
    from tabulate import tabulate

    from spoofbench.detectors import create_detector, frontends
    from spoofbench.detectors.feature_entries import decode_entry, encode_entry, encode_entry_v1
    from spoofbench.protocols.audio import load_audio

    from ..commands.score import collect_audio

    paths = collect_audio(inputs)
    rows = []
    for family in ("lfcc-gmm", "cqcc-gmm"):
        det = create_detector(f"{family}.{preset}")
        kind, params = det.frontend_kind, det.frontend_params()
        t0 = time.process_time()
        feats = [frontends.extract(kind, load_audio(p, params["sample_rate"]), params) for p in paths]
        extract_s = time.process_time() - t0
        mb = sum(f.nbytes for f in feats) / 1e6
        for name, encode in (("1 (float32)", encode_entry_v1), ("2 (compact)", encode_entry)):
            t0 = time.process_time()
            blobs = [encode(f, params) for f in feats]
            encode_s = time.process_time() - t0
            t0 = time.process_time()
            exact = all(np.array_equal(decode_entry(b), f) for b, f in zip(blobs, feats))
            decode_s = time.process_time() - t0
            rows.append([kind, name, f"{mb:.1f}", f"{sum(map(len, blobs)) / 1e6 / mb:.3f}", f"{extract_s:.2f}",
                         f"{encode_s:.2f}", f"{decode_s:.2f}", "yes" if exact else "NO"])
    click.echo(f"{len(paths)} files, front ends of the {preset!r} presets")
    click.echo(tabulate(rows, headers=["front end", "format", "float32 MB", "size ratio", "extract CPU s",
                                       "encode CPU s", "decode+check CPU s", "exact"], disable_numparse=True))
