"""``bench distill``: train a small student on a teacher's scores (and the labels) and compare them.

    bench distill --teacher results/demo/models/aasist.small.det --student rawnet2.small --out student.det
    bench distill --teacher aasist.pretrained-la19 --student rawnet2.small --data /data/ASVspoof2019

Prints teacher vs student: parameters, model file size, latency at batch 1 and 8 (PyTorch float32, CPU), real-time
factor and eval EER; writes the student (with its decision policy fitted on dev) to ``--out``.
"""
from __future__ import annotations

import json
import os

import click


@click.command("distill")
@click.option("--teacher", required=True, metavar="MODEL", help="Teacher: a .det file or a pre-trained preset.")
@click.option("--student", "student_spec", required=True, metavar="PRESET", help="Student preset, e.g. rawnet2.small.")
@click.option("--data", default=None, metavar="DIR", help="Corpus (train, dev, eval; default: the demo corpus).")
@click.option("--weight", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Share of the teacher term in the loss (0: labels only, 1: teacher only).")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Softens the teacher's log-odds and the student's scores alike.")
@click.option("--set", "sets", multiple=True, metavar="PARAM=VALUE", help="Student hyperparameter (TOML value).")
@click.option("--baseline", is_flag=True, help="Also train the student on the labels only, for comparison.")
@click.option("--out", default="student.det", show_default=True, metavar="FILE", help="Where the student goes.")
@click.option("--json", "json_out", default=None, metavar="FILE", help="Also write the comparison as JSON.")
def distill_command(teacher, student_spec, data, weight, temperature, sets, baseline, out, json_out):
    """Train a small student on a teacher's scores and labels; report teacher vs student size, speed and EER."""
    from spoofbench.deploy.compare import compare_formats, eval_windows
    from spoofbench.deploy.decisions import fit_decision_policy
    from spoofbench.deploy.distill import make_student, teacher_policy
    from spoofbench.deploy.models import load_model
    from spoofbench.detectors import create_detector
    from spoofbench.protocols import load_trials
    from spoofbench.protocols.errors import ConfigError
    from spoofbench.protocols.files import write_text_atomic

    from ..config import parse_value
    from ..pipeline.corpus import ensure_demo_corpus

    params = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected PARAM=VALUE")
        params[key.strip()] = parse_value(value.strip())
    loaded = load_model(teacher)
    root = data or ensure_demo_corpus(log=lambda m: click.echo(m, err=True))
    train, dev, evl = (load_trials(root, split=s) for s in ("train", "dev", "eval"))
    policy = teacher_policy(loaded.detector, loaded.policy, dev)
    student = make_student(student_spec, loaded.detector, policy, weight=weight, temperature=temperature,
                           params=params)
    click.echo(f"distilling {loaded.source} into {student_spec} (weight {weight}, temperature {temperature}) "
               f"on {root}", err=True)
    student.fit(train, dev)
    del student._distillation  # the teacher is not part of the student
    student.save(out, decisions=fit_decision_policy(student.score(dev), dev.y),
                 provenance={"spec": student_spec, "distilled_from": loaded.source, "trained_on": f"{root} train"})
    rows = [("teacher", loaded.source, loaded.detector, loaded.file_bytes), ("student", out, student,
                                                                             os.path.getsize(out))]
    if baseline:
        plain = create_detector(student_spec, **params).fit(train, dev)
        base_path = os.path.splitext(out)[0] + ".labels-only.det"
        plain.save(base_path)
        rows.append(("student, labels only", base_path, plain, os.path.getsize(base_path)))
    results = []
    for role, source, det, size in rows:
        click.echo(f"measuring the {role}", err=True)
        windows = eval_windows(det, evl["path"])
        result = compare_formats(source, det, windows, evl.y, file_bytes=size, fast_modes=(), onnx=False)[0]
        results.append({"role": role, "model": source, "parameters": int(det.n_parameters()), **result.as_dict()})
    click.echo("| role | model | parameters | file MB | latency b1 ms | latency b8 ms | RTF | eval EER % |")
    click.echo("|---|---|---|---|---|---|---|---|")
    for r in results:
        size = f"{r['bytes'] / 1e6:.3f}" if r["bytes"] else "—"
        click.echo(f"| {r['role']} | {r['model']} | {r['parameters']:,} | {size} | {r['latency_ms']['1']:.2f} | "
                   f"{r['latency_ms']['8']:.2f} | {r['rtf']:.5f} | {100 * r['eer']:.2f} |")
    click.echo(f"wrote {out}")
    if json_out:
        write_text_atomic(json_out, json.dumps(results, indent=1))
