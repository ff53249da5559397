"""Model internals that explain a family's decisions: RawNet2's sinc filter bank (frequency responses) and its
filter-wise feature-map-scaling (FMS) attention per residual block; AASIST's graph attention over its spectral
(band) and temporal (frame) nodes.

Read with forward hooks (RawNet2's attention layers) or the graph layers' opt-in ``record_attention`` flag, both
removed again afterwards: outputs and the default inference path are untouched.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from .network import scored_windows


def family(detector) -> str | None:
    model = getattr(detector, "model_", None)
    return {"RawNet2Model": "rawnet2", "AASISTModel": "aasist"}.get(type(model).__name__)


# ---- RawNet2 ------------------------------------------------------------------------------------------------
def sinc_responses(model, n_fft: int = 4096) -> dict:
    """Magnitude responses (dB re the peak of each filter) of RawNet2's sinc filters on ``n_fft // 2 + 1``
    frequencies, their configured band edges, centres (mid-band) and measured peak frequencies, in Hz."""
    front = model.sinc_conv
    filters = front.current_filters().detach().double().cpu().numpy()[:, 0]
    response = np.abs(np.fft.rfft(filters, n=n_fft, axis=1))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / front.sample_rate)
    edges = front.band_edges_hz.cpu().numpy()
    if front.learnable:  # learned edges: low cut-off and bandwidth, as the filters are built
        low = np.abs(front.low_hz_.detach().double().cpu().numpy())
        high = np.minimum(low + np.abs(front.band_hz_.detach().double().cpu().numpy()), front.sample_rate / 2)
    else:
        low, high = edges[:-1], edges[1:]
    db = 20 * np.log10(response / response.max(axis=1, keepdims=True) + 1e-12)
    return {"frequencies_hz": freqs, "response_db": db, "low_hz": low, "high_hz": high,
            "centre_hz": (low + high) / 2, "peak_hz": freqs[np.argmax(response, axis=1)]}


@contextmanager
def _fms_hooks(model):
    """Collect, per residual block, the FMS scaling ``sigmoid(fc_attention(mean over time))`` of each forward."""
    store: dict[int, list] = {i: [] for i in range(6)}
    handles = []
    for i in range(6):
        layer = getattr(model, f"fc_attention{i}")[0]
        handles.append(layer.register_forward_hook(
            lambda _m, _inp, out, i=i: store[i].append(torch.sigmoid(out).detach().double().cpu().numpy())))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def fms_weights(detector, waves: list[np.ndarray]) -> list[np.ndarray]:
    """Per residual block, a (files, channels) array: each file's FMS attention weights (mean over the windows
    the detector scores)."""
    model = detector.model_.eval().cpu()
    per_file: list[list[np.ndarray]] = [[] for _ in range(6)]
    with _fms_hooks(model) as store, torch.no_grad():
        for wave in waves:
            for block in store.values():
                block.clear()
            windows = scored_windows(detector, wave)
            model(torch.from_numpy(np.asarray(wave, dtype=np.float32)[windows]))
            for i in range(6):
                per_file[i].append(np.concatenate(store[i]).mean(axis=0))
    return [np.stack(block) for block in per_file]


# ---- AASIST -------------------------------------------------------------------------------------------------
@contextmanager
def _recording(layers):
    for layer in layers:
        layer.record_attention = True
    try:
        yield
    finally:
        for layer in layers:
            layer.record_attention = False
            layer.last_attention = None


def graph_attention(detector, wave: np.ndarray) -> dict:
    """AASIST's attention in its spectral and temporal graph layers for one file (first scored window): the
    (nodes x nodes) matrices, the attention each node receives (mean over the attending nodes), the band of
    each spectral node (Hz) and the time span of each temporal node (s, within the window)."""
    from spoofbench.detectors.aasist.model import mel_band_edges

    model = detector.model_.eval().cpu()
    window = scored_windows(detector, wave)[0]
    layers = (model.GAT_layer_S, model.GAT_layer_T)
    with _recording(layers), torch.no_grad():
        model(torch.from_numpy(np.asarray(wave, dtype=np.float32)[window][None]))
        spectral = model.GAT_layer_S.last_attention[0].double().numpy()
        temporal = model.GAT_layer_T.last_attention[0].double().numpy()
    cfg = model.config
    edges = mel_band_edges(cfg.sinc_filters, cfg.sample_rate)[np.arange(0, 3 * cfg.spectral_nodes + 1, 3)]
    frame_s = len(window) / cfg.sample_rate / temporal.shape[0]
    return {"spectral": spectral, "temporal": temporal,
            "spectral_received": spectral.mean(axis=0), "temporal_received": temporal.mean(axis=0),
            "band_edges_hz": edges, "frame_seconds": frame_s}
