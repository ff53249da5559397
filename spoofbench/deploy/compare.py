"""Formats of one model measured side by side (``bench perf export``, ``bench distill``): file size, latency at
a few batch sizes on CPU, real-time factor and eval EER, for PyTorch float32, the engine's fast modes, ONNX
float32 and ONNX int8."""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .export import export_onnx, input_length, session

#: Seconds of audio per input of a whole-utterance model (LFCC-LCNN) in the latency measurement.
WHOLE_SECONDS = 4.0


@dataclass
class FormatResult:
    model: str
    format: str
    bytes: int | None
    latency_ms: dict = field(default_factory=dict)   # batch -> median milliseconds per forward
    rtf: float | None = None                          # at the largest batch: seconds per second of audio
    eer: float | None = None                          # eval EER (fraction)
    note: str = ""

    def as_dict(self) -> dict:
        return {"model": self.model, "format": self.format, "bytes": self.bytes,
                "latency_ms": {str(k): v for k, v in self.latency_ms.items()}, "rtf": self.rtf, "eer": self.eer,
                "note": self.note}


def eval_windows(det, paths) -> list[np.ndarray]:
    """The network input of each file as ``bench score`` makes it (first window, tiled; or the whole file)."""
    from spoofbench.detectors.neural.data import fit_length
    from spoofbench.protocols import load_audio

    n = input_length(det)
    waves = [load_audio(p, det.sample_rate) for p in paths]
    return [fit_length(w, n) if n is not None else w for w in waves]


def _median_ms(fn, reps: int) -> float:
    fn()  # warm-up (packing, allocations)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def _scores_in_batches(run_batch, windows: list[np.ndarray], batch: int) -> np.ndarray:
    """Scores of every window; same-length windows go ``batch`` at a time, others one by one."""
    out = []
    same = len({len(w) for w in windows}) == 1
    step = batch if same else 1
    for i in range(0, len(windows), step):
        out.append(np.asarray(run_batch(np.stack(windows[i:i + step]).astype(np.float32)), dtype=np.float64))
    return np.concatenate(out)


def _eer(scores: np.ndarray, y: np.ndarray) -> float:
    from spoofbench.benchmark.metrics import eer

    return eer(scores[y == 1], scores[y == 0])


def compare_formats(name: str, det, windows: list[np.ndarray], y: np.ndarray, *, file_bytes: int | None,
                    batches=(1, 8), reps: int = 5, fast_modes=("int8", "bf16"), onnx=True, int8=True,
                    threads: int | None = None, keep_dir: str | None = None, echo=lambda m: None) -> list[FormatResult]:
    """Every format of ``det``: latency on random inputs of the model's length, EER on ``windows`` (labels ``y``,
    1 = bona fide). ``keep_dir``: where the ONNX files go (else a temporary folder)."""
    from spoofbench.detectors.devices import torch_threads
    from spoofbench.detectors.neural.inference import prepare_inference, score_batches, supported_fast_mode

    det.check_fitted()
    n = input_length(det) or int(WHOLE_SECONDS * det.sample_rate)
    seconds = n / det.sample_rate
    rng = np.random.default_rng(0)
    inputs = {b: (0.1 * rng.standard_normal((b, n))).astype(np.float32) for b in batches}
    cpu = torch.device("cpu")
    results = []
    with torch_threads(threads):
        modes = ["off"] + [m for m in fast_modes if m != "off"]
        for mode in modes:
            used = supported_fast_mode(mode)
            if used != mode:
                results.append(FormatResult(name, f"pytorch {mode}", None, note=f"not native here (ran as {used}); "
                                                                                  "skipped"))
                continue
            model, autocast = prepare_inference(det.model_.float().cpu().eval(), mode, det.int8_modules)

            def run(x, model=model, autocast=autocast):
                return score_batches(model, torch.from_numpy(x), cpu, len(x), autocast, det.score_rule)

            label = "pytorch float32" if mode == "off" else f"pytorch {mode}"
            echo(f"  {name}: {label}")
            results.append(_measure(name, label, file_bytes, run, inputs, windows, y, reps, seconds))
        if onnx:
            folder = keep_dir or tempfile.mkdtemp(prefix="spoofbench-perf-")
            path = os.path.join(folder, f"{_file_safe(name)}.onnx")
            exported = export_onnx(det, path, quantize="int8" if int8 else None)
            for label, file, size in (("onnx float32", exported.path, exported.bytes),
                                      ("onnx int8", exported.int8_path, exported.int8_bytes)):
                if file is None:
                    continue
                echo(f"  {name}: {label}")
                sess = session(file, threads)

                def run(x, sess=sess):
                    return sess.run(["score"], {"waveform": x})[0]

                results.append(_measure(name, label, size, run, inputs, windows, y, reps, seconds))
    return results


def _measure(name, label, size, run, inputs, windows, y, reps, seconds) -> FormatResult:
    result = FormatResult(name, label, size)
    for b, x in inputs.items():
        result.latency_ms[b] = _median_ms(lambda x=x: run(x), reps)
    biggest = max(inputs)
    result.rtf = result.latency_ms[biggest] / 1000 / (biggest * seconds)
    if len(windows):
        result.eer = _eer(_scores_in_batches(run, windows, biggest), np.asarray(y))
    return result


def format_table(results: list[FormatResult], batches) -> str:
    """A Markdown table of the results."""
    headers = ["model", "format", "size MB"] + [f"latency b{b} ms" for b in batches] + ["RTF", "eval EER %"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in results:
        cells = [r.model, r.format, f"{r.bytes / 1e6:.3f}" if r.bytes else "—"]
        cells += [f"{r.latency_ms[b]:.2f}" if b in r.latency_ms else "—" for b in batches]
        cells += [f"{r.rtf:.5f}" if r.rtf is not None else "—", f"{100 * r.eer:.2f}" if r.eer is not None else "—"]
        if r.note:
            cells[-1] += f" ({r.note})"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _file_safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
