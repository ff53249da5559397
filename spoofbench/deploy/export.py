"""ONNX export of a fitted neural detector: the score ``bench score`` gives, as one self-describing file.

The graph takes ``waveform`` (float32, [batch, samples] at the model's sample rate; both axes dynamic) and
applies the model's input rule itself: for ``score_mode="first"`` the first ``n_samples`` samples, a shorter
waveform tiled until long enough (the official rule, ``neural.data.fit_length``), written as one gather with
indices ``arange(n_samples) % samples``; for ``score_mode="whole"`` (LFCC-LCNN) the whole waveform, so a batch
must hold waveforms of one length (as ``bench score`` scores them one at a time). Outputs: ``score`` [batch]
(higher = bona fide, the family's score rule) and, when the model has a decision policy, ``llr`` [batch]
(its calibration). The fixed front end (sinc filters, LFCC) is in the graph. ``metadata_props`` hold the
detector, preset, sample rate, input length, score rule, calibration and thresholds (:func:`read_metadata`).

:func:`export_onnx` checks the file under onnxruntime against the engine's own float32 scoring of the same
windows and fails (deleting nothing it did not write) when they differ by more than ``tolerance``.
``quantize="int8"`` then writes the dynamically quantised model (onnxruntime's ``quantize_dynamic``; its
scores differ, by how much is measured and returned, not hidden).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from spoofbench.protocols.errors import BenchError, ConfigError
from spoofbench.protocols.files import write_bytes_atomic

#: Largest score difference (float32 ONNX vs the PyTorch engine) ``export_onnx`` accepts.
TOLERANCE = 1e-4
OPSET = 17
METADATA_PREFIX = "spoofbench."


class ExportError(BenchError):
    """A model cannot be exported, or its export does not reproduce the PyTorch scores."""


@dataclass
class ExportResult:
    path: str
    bytes: int
    max_abs_diff: float          # vs the PyTorch engine on the check batches
    metadata: dict
    int8_path: str | None = None
    int8_bytes: int | None = None
    int8_max_abs_diff: float | None = None


class ScoreGraph(nn.Module):
    """waveform [batch, samples] -> score [batch] (and llr [batch]): what is exported."""

    def __init__(self, model: nn.Module, n_samples: int | None, rule: str, calibration: tuple[float, float] | None):
        super().__init__()
        self.model, self.n_samples, self.rule, self.calibration = model, n_samples, rule, calibration

    def forward(self, waveform: torch.Tensor):
        from spoofbench.detectors.neural.inference import scores_from_logits

        x = waveform
        if self.n_samples is not None:  # first n_samples, tiled when shorter: one gather, any length
            index = torch.remainder(torch.arange(self.n_samples, device=x.device), x.shape[1])
            x = x.index_select(1, index)
        score = scores_from_logits(self.model(x), self.rule)
        if self.calibration is None:
            return score
        weight, bias = self.calibration
        return score, score * weight + bias


def exportable(det) -> None:
    """Raise a one-line ExportError unless ``det`` is a neural detector this module can export."""
    from spoofbench.detectors.neural.detector import NeuralDetector

    if not isinstance(det, NeuralDetector):
        raise ExportError(f"{det.name}: not a neural detector; ONNX export is for RawNet2, AASIST and LFCC-LCNN "
                          "models (a GMM has no network to export: score it with bench score)")
    if det.score_mode not in ("first", "whole"):
        raise ExportError(f"{det.name}: score_mode={det.score_mode!r} cannot be exported (the graph scores one "
                          "window per waveform); export a model scored with score_mode 'first' or 'whole'")


def input_length(det) -> int | None:
    """Samples the network reads per waveform (None: the whole waveform)."""
    return None if det.score_mode == "whole" or det.n_samples is None else int(det.n_samples)


def build_metadata(det, policy=None, description: dict | None = None) -> dict:
    """The ``metadata_props`` of an export (strings; JSON for the structured ones)."""
    import spoofbench

    n = input_length(det)
    meta = {
        "detector": det.name,
        "preset": (description or {}).get("spec") or det.name,
        "sample_rate": str(int(det.sample_rate)),
        "input_length": str(n) if n is not None else "whole",
        "input_rule": ("first input_length samples, a shorter waveform tiled until long enough" if n is not None
                       else "the whole waveform (one length per batch)"),
        "score_rule": det.score_rule,
        "score": "higher = bona fide",
        "spoofbench_version": getattr(spoofbench, "__version__", "") or _package_version(),
    }
    if description:
        meta["model"] = json.dumps(description, sort_keys=True)
    if policy is not None:
        meta["calibration"] = json.dumps({"weight": policy.weight, "bias": policy.bias, "prior": policy.prior,
                                          "llr": "weight * score + bias (natural log)"})
        meta["decisions"] = json.dumps(policy.to_dict(), sort_keys=True)
    return meta


def read_metadata(path: os.PathLike | str) -> dict:
    """The spoofbench metadata of an exported file (prefix removed)."""
    import onnx

    model = onnx.load(os.fspath(path), load_external_data=False)
    return {p.key[len(METADATA_PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(METADATA_PREFIX)}


def check_windows(det, seed: int = 0) -> list[np.ndarray]:
    """Batches the export is checked on: longer than the input (cropped), shorter (tiled), exact, batch 1."""
    rng = np.random.default_rng(seed)
    n = input_length(det) or int(det.sample_rate)
    shapes = [(2, n + 1234), (3, max(2, n // 3 + 7)), (1, n)]
    return [(0.1 * rng.standard_normal(shape)).astype(np.float32) for shape in shapes]


def reference_scores(det, batch: np.ndarray) -> np.ndarray:
    """The engine's float32 scores of ``batch`` (the windows ``bench score`` would make of these waveforms)."""
    from spoofbench.detectors.neural.data import fit_length
    from spoofbench.detectors.neural.inference import score_batches

    n = input_length(det)
    windows = np.stack([fit_length(w, n) for w in batch]) if n is not None else batch
    return score_batches(det.model_.float().cpu().eval(), torch.from_numpy(np.ascontiguousarray(windows)),
                         torch.device("cpu"), len(windows), None, det.score_rule)


def export_onnx(det, path: os.PathLike | str, *, policy=None, quantize: str | None = None,
                description: dict | None = None, tolerance: float = TOLERANCE) -> ExportResult:
    """Export ``det`` (fitted, or a pre-trained preset) to ``path``; ``quantize="int8"`` also writes
    ``<path stem>.int8.onnx``. ``policy``: a ``DecisionPolicy`` (adds the ``llr`` output and the thresholds);
    ``description``: what the .det file says about the model (its provenance), kept in the metadata."""
    import onnx

    if quantize not in (None, "int8"):
        raise ConfigError(f"--quantize {quantize!r}: only int8 is supported")
    exportable(det)
    det.check_fitted()
    path = os.fspath(path)
    graph = ScoreGraph(det.model_.float().cpu().eval(), input_length(det), det.score_rule,
                       (policy.weight, policy.bias) if policy is not None else None).eval()
    example = torch.from_numpy(check_windows(det)[0])
    outputs = ["score"] + (["llr"] if policy is not None else [])
    axes = {"waveform": {0: "batch", 1: "samples"}, **{o: {0: "batch"} for o in outputs}}
    with tempfile.TemporaryDirectory(prefix="spoofbench-export-") as tmp:
        raw = os.path.join(tmp, "model.onnx")
        try:
            with torch.no_grad(), _quiet():
                torch.onnx.export(graph, (example,), raw, input_names=["waveform"], output_names=outputs,
                                  dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        except Exception as exc:  # the exporter's own errors are many and long: one line of it
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"{det.name}: ONNX export failed ({first})") from None
        model = onnx.load(raw)
    metadata = build_metadata(det, policy, description)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_PREFIX + key, value
    model.producer_name = "spoofbench"
    blob = model.SerializeToString()
    diff = _max_diff(det, blob, policy)
    if not diff <= tolerance:
        raise ExportError(f"{det.name}: the ONNX model's scores differ from PyTorch by {diff:.3g} (more than "
                          f"{tolerance:g}); nothing was written")
    write_bytes_atomic(path, blob)
    result = ExportResult(path, len(blob), diff, metadata)
    if quantize == "int8":
        result.int8_path = int8_path(path)
        result.int8_bytes = quantize_int8(path, result.int8_path)
        with open(result.int8_path, "rb") as fh:
            result.int8_max_abs_diff = _max_diff(det, fh.read(), None)
    return result


def int8_path(path: str) -> str:
    stem = path[:-len(".onnx")] if path.endswith(".onnx") else path
    return f"{stem}.int8.onnx"


def quantize_int8(src: str, dst: str) -> int:
    """Dynamic int8 quantisation of ``src`` (weights int8, activations quantised on the fly) into ``dst``,
    metadata kept; returns the file size."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="spoofbench-int8-") as tmp:
        out = os.path.join(tmp, "int8.onnx")
        with _quiet():
            quantize_dynamic(src, out, weight_type=QuantType.QInt8)
        model = onnx.load(out)
    kept = {p.key for p in model.metadata_props}
    for prop in onnx.load(src, load_external_data=False).metadata_props:
        if prop.key not in kept:
            entry = model.metadata_props.add()
            entry.key, entry.value = prop.key, prop.value
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_PREFIX + "quantization", "int8 dynamic (onnxruntime quantize_dynamic)"
    blob = model.SerializeToString()
    write_bytes_atomic(dst, blob)
    return len(blob)


def session(model, threads: int | None = None):
    """An onnxruntime CPU session of a file path or serialized model bytes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = options.inter_op_num_threads = int(threads)
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _max_diff(det, model_bytes: bytes, policy) -> float:
    sess = session(model_bytes)
    worst = 0.0
    for batch in check_windows(det):
        expected = reference_scores(det, batch)
        got = sess.run(None, {"waveform": batch})
        worst = max(worst, float(np.max(np.abs(got[0].astype(np.float64) - expected))))
        if policy is not None:
            worst = max(worst, float(np.max(np.abs(got[1].astype(np.float64) - policy.llr(expected)))))
    return worst


class _quiet:
    """Silence the exporter's and the quantiser's warnings (tracer notes about constant shapes that the input
    rule makes constant)."""

    def __enter__(self):
        import logging
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore")
        self._level = logging.root.manager.disable
        logging.disable(logging.WARNING)  # the quantiser's advice to pre-process, logged on the root logger
        return self

    def __exit__(self, *exc):
        import logging

        logging.disable(self._level)
        return self._ctx.__exit__(*exc)


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("spoofbench")
    except Exception:  # not installed as a distribution (a source checkout)
        return ""
