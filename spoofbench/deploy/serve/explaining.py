"""``POST /v1/explain``: the explanation figure of one upload (``spoofbench.explain``: waveform, spectrogram,
score over time and the attribution maps of ``bench explain``), as PNG bytes. Drawn in a temporary folder
(matplotlib writes files) that is deleted before the bytes are returned."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def explanation_png(detector, wave: np.ndarray, name: str, threshold: float = 0.0) -> bytes:
    from spoofbench.explain import figures
    from spoofbench.explain.per_file import Settings, explain_wave

    expl = explain_wave(detector, wave, name, Settings(threshold=threshold, progress=False))
    with tempfile.TemporaryDirectory(prefix="spoofbench-explain-") as folder:
        return Path(figures.file_figure(expl, Path(folder) / "explanation")).read_bytes()
