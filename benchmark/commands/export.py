"""``bench export``: a fitted neural detector (or a pre-trained preset) as an ONNX file that scores waveforms
as ``bench score`` does, checked against PyTorch after export (see :mod:`spoofbench.deploy.export`).

    bench export results/demo/models/rawnet2.small.det --format onnx --quantize int8
    bench export aasist.pretrained-la19 --out aasist-la19.onnx
"""
from __future__ import annotations

import os

import click


@click.command("export")
@click.argument("model", metavar="MODEL")
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="Output format.")
@click.option("--quantize", type=click.Choice(["int8"]), default=None,
              help="Also write a dynamically int8-quantised model (OUT with .int8.onnx).")
@click.option("--out", default=None, metavar="FILE", help="Output file (default: MODEL's name with .onnx).")
def export_command(model, fmt, quantize, out):
    """Export a neural detector (.det file or pre-trained preset) to ONNX, checked against PyTorch within 1e-4."""
    from spoofbench.deploy.export import TOLERANCE, export_onnx
    from spoofbench.deploy.models import load_model

    loaded = load_model(model)
    if out is None:
        base = os.path.basename(model)
        out = (base[:-len(".det")] if base.endswith(".det") else base) + ".onnx"
    result = export_onnx(loaded.detector, out, policy=loaded.policy, quantize=quantize,
                         description=loaded.description)
    meta = result.metadata
    outputs = "score, llr" if loaded.policy is not None else "score (no decision policy in the model: no llr)"
    click.echo(f"wrote {result.path} ({result.bytes / 1e6:.2f} MB): input waveform [batch, samples] at "
               f"{meta['sample_rate']} Hz, {meta['input_length']} samples read; outputs {outputs}")
    click.echo(f"checked: onnxruntime equals PyTorch within {result.max_abs_diff:.2g} (limit {TOLERANCE:g})")
    if result.int8_path:
        click.echo(f"wrote {result.int8_path} ({result.int8_bytes / 1e6:.2f} MB, int8): scores differ from float32 "
                   f"by up to {result.int8_max_abs_diff:.3g} on the check batches")
