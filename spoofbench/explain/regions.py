"""The regions an attribution map points at, in words a reader can check: time and frequency ranges with the
attribution they hold (the numbers behind the figures, ``--format json``)."""
from __future__ import annotations

import numpy as np

from .tf import CellGrid


def top_regions(tf_map: np.ndarray, cells: CellGrid, n: int = 3) -> dict[str, list[dict]]:
    """The ``n`` cells (time patch x band) with the largest mean attribution towards bona fide and towards
    spoof: ``{"bonafide": [...], "spoof": [...]}``, each ``{start_s, end_s, low_hz, high_hz, value}``."""
    values = cells.cell_means(tf_map)
    times, edges = cells.patch_times_s(), cells.band_edges_hz
    order = np.argsort(values, axis=None, kind="stable")

    def describe(flat_index) -> dict:
        band, patch = np.unravel_index(flat_index, values.shape)
        return {"start_s": round(float(times[patch]), 3), "end_s": round(float(times[patch + 1]), 3),
                "low_hz": round(float(edges[band]), 1), "high_hz": round(float(edges[band + 1]), 1),
                "value": float(values[band, patch])}

    bona = [describe(i) for i in order[::-1][:n] if values.flat[i] > 0]
    spoof = [describe(i) for i in order[:n] if values.flat[i] < 0]
    return {"bonafide": bona, "spoof": spoof}
