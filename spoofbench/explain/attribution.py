"""Attribution maps over the time-frequency plane: which regions pushed the score towards bona fide (positive
values) and which towards spoof (negative), in the score's own units.

* ``integrated_gradients`` (neural detectors; Captum): Integrated Gradients from a silent baseline on the
  waveform, projected onto the STFT as ``Re(X · conj(G))`` per cell, where X is the input's STFT and G the STFT
  of the path-averaged gradient. Summed over the cells it gives back the waveform attribution's sum
  (Parseval; exact up to edge frames), which is the score difference from silence (IG's completeness).
* ``grad_cam`` (neural detectors; Captum's LayerGradCam, signed): channel-weighted activation of the last
  convolutional map, spread over the plane: its frequency rows where the map has frequency bands (AASIST), a
  time profile over all frequencies where it has none (RawNet2's 1-D map, LFCC-LCNN's cepstral axis).
* ``occlusion`` (every detector): each time x frequency patch removed in turn (its STFT cells zeroed: band-stop
  filtering over its time span), the file re-scored with ``score_waves``; the value is original score minus
  masked score.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .tf import CellGrid, TFGrid

#: Methods in the order they are drawn; ``available_methods`` says which a detector has.
METHODS = ("ig", "gradcam", "occlusion")
METHOD_TITLES = {"ig": "Integrated Gradients", "gradcam": "Grad-CAM", "occlusion": "Occlusion"}
#: Waveform samples per Integrated Gradients backward pass (bounds its memory; 4 AASIST inputs of 64,600).
IG_BATCH_SAMPLES = 4 * 64600


@dataclass
class Attribution:
    """One method's map: ``tf_map`` (bins, frames) in score units (positive = towards bona fide), ``wave``
    the per-sample attribution where the method has one (IG), and what the map shows (``caption``)."""

    method: str
    tf_map: np.ndarray
    caption: str
    wave: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


def available_methods(detector) -> tuple[str, ...]:
    from .network import cam_layer, is_neural

    if not is_neural(detector):
        return ("occlusion",)
    detector.check_fitted()
    return ("ig", "gradcam", "occlusion") if cam_layer(detector) is not None else ("ig", "occlusion")


# ---- Integrated Gradients -------------------------------------------------------------------------------
def integrated_gradients(detector, wave: np.ndarray, tf: TFGrid, n_steps: int = 16) -> Attribution:
    """IG of the detector's score w.r.t. ``wave`` (silent baseline, ``n_steps`` Gauss-Legendre points), over
    every window the detector scores, folded back onto the file's samples (a tiled short file: each sample
    gets the sum over its copies)."""
    import torch
    from captum.attr import IntegratedGradients

    from .network import score_model, scored_windows

    model = score_model(detector)
    windows = scored_windows(detector, wave)
    x = torch.from_numpy(np.asarray(wave, dtype=np.float32)[windows])
    ig = IntegratedGradients(model, multiply_by_inputs=False)  # the path-averaged gradient, G
    # at most ~IG_BATCH_SAMPLES samples per backward pass: AASIST's encoder keeps ~0.1 GB of maps per 4 s input
    batch = max(1, min(n_steps * len(windows), IG_BATCH_SAMPLES // windows.shape[1]))
    with _no_cudnn():
        grad = ig.attribute(x, baselines=torch.zeros_like(x), n_steps=n_steps, internal_batch_size=batch)
    grad = grad.detach().double().numpy() / len(windows)  # the score is the mean over windows
    folded = np.zeros(len(wave))
    np.add.at(folded, windows.ravel(), grad.ravel())
    tf_map = project_gradient(wave, folded, tf)
    caption = ("silent baseline, %d steps, projected on the STFT: Re(X·conj(G)) per cell, "
               "X the input's STFT, G the STFT of the path-averaged gradient; the cells sum to the score minus "
               "the score of silence." % n_steps)
    return Attribution("ig", tf_map, caption, wave=np.asarray(wave, dtype=np.float64) * folded)


def project_gradient(wave: np.ndarray, grad: np.ndarray, tf: TFGrid) -> np.ndarray:
    """Per-cell share of ``sum(wave * grad)``: Re(X conj G') with one-sided bins counted twice (except DC and
    Nyquist), where G' is the STFT of the gradient divided by each sample's window coverage, so that the cells
    sum exactly to ``sum(wave * grad)`` (edges included)."""
    from scipy.signal import get_window

    win = get_window("hann", tf.n_fft)
    n_frames = tf.n_frames(len(wave))
    # scipy's frame t covers samples t * hop - n_fft / 2 ... + n_fft (zero-padded boundary), divided by sum(win)
    positions = np.arange(n_frames)[:, None] * tf.hop + np.arange(tf.n_fft)[None, :] - tf.n_fft // 2
    coverage = np.zeros(len(wave))
    inside = (positions >= 0) & (positions < len(wave))
    np.add.at(coverage, positions[inside], np.broadcast_to(win ** 2, positions.shape)[inside])
    scaled = np.asarray(grad, dtype=np.float64) * win.sum() ** 2 / (tf.n_fft * np.maximum(coverage, 1e-12))
    cross = np.real(tf.stft(wave) * np.conj(tf.stft(scaled)))
    cross[1:-1] *= 2.0  # the negative frequencies mirror the positive ones
    return cross


# ---- Grad-CAM ---------------------------------------------------------------------------------------------
def grad_cam(detector, wave: np.ndarray, tf: TFGrid) -> Attribution:
    """Signed Grad-CAM of the last convolutional map (no ReLU: negative = towards spoof), each window's map
    stretched over the samples it covers, averaged where windows overlap, sampled at the STFT frames."""
    import torch
    from captum.attr import LayerGradCam

    from .network import cam_layer, score_model, scored_windows

    layer = cam_layer(detector)
    if layer is None:
        raise ValueError(f"{detector.name}: no known convolutional map for Grad-CAM")
    model = score_model(detector)
    windows = scored_windows(detector, wave)
    x = torch.from_numpy(np.asarray(wave, dtype=np.float32)[windows])
    with _no_cudnn():
        cam = LayerGradCam(model, layer.module).attribute(x, relu_attributions=False)
    cam = cam.detach().double().numpy()[:, 0]  # (windows, H, W) or (windows, W, H) for time_dim 2
    if layer.time_dim == 2:
        cam = cam.transpose(0, 2, 1)
    rows = cam.shape[1]
    total, count = np.zeros((rows, len(wave))), np.zeros(len(wave))
    length = windows.shape[1]
    columns = np.minimum(np.arange(length) * cam.shape[2] // length, cam.shape[2] - 1)
    for w, idx in enumerate(windows):
        np.add.at(total.T, idx, cam[w][:, columns].T)
        np.add.at(count, idx, 1)
    per_sample = total / np.maximum(count, 1)
    centres = np.minimum(np.arange(tf.n_frames(len(wave))) * tf.hop, len(wave) - 1)
    per_frame = per_sample[:, centres]  # (rows, frames)
    if layer.height == "bands":
        row_of_bin = np.clip(np.searchsorted(layer.band_edges_hz, tf.frequencies(), side="right") - 1, 0, rows - 1)
        tf_map = per_frame[row_of_bin]
        how = f"its {rows} frequency rows placed at their sinc bands"
    else:
        tf_map = np.repeat(per_frame.mean(axis=0, keepdims=True), tf.n_bins, axis=0)
        how = "a time profile (the map has no frequency axis), drawn over all frequencies"
    caption = (f"signed (no ReLU), of {layer.name}: the gradient-weighted sum of its channels, {how}; "
               "arbitrary units, positive = towards bona fide.")
    return Attribution("gradcam", tf_map, caption, extra={"layer": layer.name})


# ---- occlusion ---------------------------------------------------------------------------------------------
def occlusion(detector, wave: np.ndarray, cells: CellGrid, base_score: float | None = None) -> Attribution:
    """Each cell of ``cells`` removed in turn (STFT cells zeroed, resynthesised) and the file re-scored:
    value = original score - score without the cell."""
    rate = cells.tf.sample_rate
    grid = np.zeros(cells.shape, dtype=bool)
    masked = []
    for b, p in np.ndindex(*cells.shape):
        grid[:] = False
        grid[b, p] = True
        masked.append(cells.tf.remove(wave, cells.cell_mask(grid)))
    scores = detector.score_waves(([wave] if base_score is None else []) + masked, rate)
    base = float(scores[0]) if base_score is None else float(base_score)
    values = base - np.asarray(scores[-len(masked):]).reshape(cells.shape)
    caption = (f"each {cells.patch_s:g} s x {cells.band_edges_hz[1]:.0f} Hz patch removed in turn "
               "(its STFT cells zeroed: band-stop over its time span) and the file re-scored; value = score - "
               "score without the patch.")
    return Attribution("occlusion", cells.expand(values), caption, extra={"cells": values, "base_score": base})


def compute(method: str, detector, wave: np.ndarray, cells: CellGrid, *, ig_steps: int = 16,
            base_score: float | None = None) -> Attribution:
    if method == "ig":
        return integrated_gradients(detector, wave, cells.tf, n_steps=ig_steps)
    if method == "gradcam":
        return grad_cam(detector, wave, cells.tf)
    if method == "occlusion":
        return occlusion(detector, wave, cells, base_score=base_score)
    raise ValueError(f"unknown attribution method {method!r}; known: {', '.join(METHODS)}")


class _no_cudnn:
    """cuDNN's RNNs refuse a backward pass in evaluation mode: gradients of a network on CUDA need it off."""

    def __enter__(self):
        import torch

        self._ctx = torch.backends.cudnn.flags(enabled=False)
        self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
