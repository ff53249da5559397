"""``bench score``: score audio files or folders with a saved detector, an official RawNet2 or AASIST
checkpoint, or a pre-trained preset whose weights ship with spoofbench.

    bench score --detector rawnet2 --checkpoint rawnet2.det audio/ extra.flac --out scores.csv
    bench score --detector rawnet2 --official-checkpoint pre_trained_DF_RawNet2.pth --variant 2021 audio/
    bench score --detector aasist.pretrained-la19 audio/
    torchrun --nproc_per_node=4 $(command -v bench) score --detector rawnet2 --checkpoint rawnet2.det audio/

Writes ``path,score,flags`` (higher = bona fide) as CSV, atomically, and a summary (printed and as JSON beside
it). ``flags`` names files whose score should not be trusted (``short;silent``, see
:mod:`spoofbench.protocols.quality`). Unusable audio stops the command (``--on-bad-audio fail``, exit 2) or is
left out and listed (``skip``, exit 3 when anything was left out, as ``bench run`` finishing with failures).
"""
from __future__ import annotations

import json
import os
import time

import click

from spoofbench.protocols import quality
from spoofbench.protocols.errors import AudioError, BenchError, ConfigError
from spoofbench.protocols.files import write_text_atomic

AUDIO_EXTENSIONS = (".flac", ".wav", ".ogg", ".mp3", ".aiff", ".aif")
#: Exit status when some files were left out as unusable (``--on-bad-audio skip``): the scores written are
#: complete for the others, but not for everything asked for.
EXIT_SKIPPED = 3


def _from_official(name: str, preset: str | None, path: str, variant: str | None):
    """A detector holding an official checkpoint; ``variant`` defaults to the one the preset names."""
    if name == "rawnet2":
        from spoofbench.detectors.rawnet2 import RawNet2

        return RawNet2.from_official(path, variant or preset or "2021")  # rawnet2's presets name variants
    if name == "aasist":
        from spoofbench.detectors.aasist import AASIST

        by_preset = {"l": "aasist-l", "l.pretrained-la19": "aasist-l", "asvspoof5": "asvspoof5",
                     "pretrained-asv5": "asvspoof5"}
        return AASIST.from_official(path, variant or by_preset.get(preset or "", "aasist"))
    raise ConfigError(f"--official-checkpoint is for RawNet2 and AASIST checkpoints, not {name!r}")


def collect_audio(inputs) -> list[str]:
    """Files as given, folders walked recursively for audio files (sorted); duplicates dropped, order kept."""
    out, seen = [], set()
    for item in inputs:
        if os.path.isdir(item):
            found = []
            for folder, _, files in os.walk(item):
                found.extend(os.path.join(folder, f) for f in files if f.lower().endswith(AUDIO_EXTENSIONS))
            if not found:
                raise BenchError(f"{item}: folder holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
            candidates = sorted(found)
        elif os.path.isfile(item):
            candidates = [item]
        else:
            raise BenchError(f"{item}: no such file or folder")
        for path in candidates:
            if path not in seen:
                seen.add(path)
                out.append(path)
    return out


@click.command("score")
@click.argument("inputs", nargs=-1, required=True, metavar="PATH...")
@click.option("--detector", "spec", required=True, metavar="NAME[.PRESET]",
              help="Registered detector (with --official-checkpoint: its preset or --variant picks the model).")
@click.option("--checkpoint", default=None, metavar="FILE", help="Detector file written by Detector.save / bench run.")
@click.option("--official-checkpoint", default=None, metavar="FILE",
              help="RawNet2 or AASIST: an official state_dict (.pth), loaded with weights_only=True.")
@click.option("--variant", default=None,
              help="With --official-checkpoint: RawNet2 2021 (ASVspoof 2021 baseline), icassp21 or asvspoof5; "
                   "AASIST aasist, aasist-l or asvspoof5 (default: the preset named in --detector, else 2021 / "
                   "aasist).")
@click.option("--out", default="scores.csv", show_default=True, metavar="FILE", help="CSV of path,score.")
@click.option("--mode", type=click.Choice(["first", "sliding"]), default=None,
              help="RawNet2: score the official first window (default) or average sliding windows.")
@click.option("--hop", type=int, default=None, help="Sliding-window hop in samples (default: half a window).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Windows per forward pass.")
@click.option("--device", default=None, help="auto, cpu or cuda (detectors that have the option).")
@click.option("--fast", type=click.Choice(["off", "bf16", "int8", "int8+bf16"]), default=None,
              help="RawNet2: reduced-precision inference (changes the scores slightly).")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Audio-loading worker processes.")
@click.option("--on-bad-audio", type=click.Choice(["skip", "fail"]), default="fail", show_default=True,
              help="Audio that cannot be decoded (missing, empty, corrupt, NaN/Inf): stop naming the file (fail, "
                   "exit 2), or leave it out, list it and score the rest (skip, exit 3).")
def score_command(inputs, spec, checkpoint, official_checkpoint, variant, out, mode, hop, batch_size, device, fast,
                  workers, on_bad_audio):
    """Score audio files and folders (any length) with a trained or pre-trained detector; higher score = bona fide."""
    from spoofbench.detectors import create_detector, get_entry, load_detector, split_spec
    from spoofbench.detectors.neural import distributed as dist_utils

    if checkpoint is not None and official_checkpoint is not None:
        raise ConfigError("give one of --checkpoint FILE or --official-checkpoint FILE, not both")
    name, preset = split_spec(spec)
    get_entry(name)  # unknown names fail here with a suggestion
    if official_checkpoint is not None:
        det = _from_official(name, preset, official_checkpoint, variant)
    elif checkpoint is None:  # a pre-trained preset (its weights ship with spoofbench) needs no file
        det = create_detector(spec)
        if det.needs_training:
            raise ConfigError(f"{spec} is not a pre-trained preset: give --checkpoint FILE (a trained detector) "
                              f"or --official-checkpoint FILE")
    else:
        det = load_detector(checkpoint)
        if det.name != name:
            raise BenchError(f"{checkpoint}: holds a {det.name!r} detector, not {name!r}")
    overrides = {"score_mode": mode, "window_hop": hop, "eval_batch_size": batch_size, "device": device,
                 "fast_inference": fast, "num_workers": workers}
    valid = set(det.get_params())
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in valid:
            raise ConfigError(f"{name} has no option {key!r} (given by the command line)")
        det.set_params(**{key: value})
    paths = collect_audio(inputs)
    paths, checks, skipped = _usable_audio(paths, on_bad_audio)
    duration = float(sum(c.duration for c in checks))
    flags = _flags(det, checks)
    if dist_utils.launched_by_torchrun():  # under torchrun: join the group, so that only rank 0 writes
        dist_utils.init_from_env(str(det.get_params().get("device") or "cpu"))
    started = time.perf_counter()
    scores = det.score_files(paths)
    elapsed = time.perf_counter() - started
    if dist_utils.rank() != 0:
        return
    policy = _decision_policy(det, checkpoint)
    if policy is None:
        write_text_atomic(out, "path,score,flags\n" + "".join(f"{_csv_field(p)},{s:.8f},{';'.join(f)}\n"
                                                              for p, s, f in zip(paths, scores, flags)))
    else:  # the model carries a calibration and thresholds fitted on dev: the decision too
        llrs, decisions = policy.llr(scores), policy.decide(scores)
        write_text_atomic(out, "path,score,flags,llr,decision\n" + "".join(
            f"{_csv_field(p)},{s:.8f},{';'.join(f)},{v:.6f},{d}\n"
            for p, s, f, v, d in zip(paths, scores, flags, llrs, decisions)))
    flag_counts = {name: sum(name in f for f in flags) for name in quality.FLAGS}
    n_flagged = sum(bool(f) for f in flags)
    summary = {"detector": det.name, "checkpoint": checkpoint or official_checkpoint, "files": len(paths),
               "audio_seconds": round(duration, 3), "seconds": round(elapsed, 3),
               "real_time_factor": round(elapsed / duration, 6) if duration else None,
               "score_mean": float(scores.mean()), "score_std": float(scores.std()),
               "score_min": float(scores.min()), "score_max": float(scores.max()),
               "above_zero": int((scores > 0).sum()), "out": out,
               "flagged": n_flagged, "flag_counts": {k: v for k, v in flag_counts.items() if v},
               "flag_thresholds": quality.thresholds(quality.min_samples_of(det), det.sample_rate),
               "skipped": [{"path": p, "problem": problem} for p, problem in skipped]}
    if det.pretrained_info() is not None:  # which shipped weights scored (name, sha256, trained on, licence)
        summary["pretrained"] = det.pretrained_info()
    for key in ("score_mode", "fast_inference", "n_samples"):
        if key in valid:
            summary[key] = det.get_params()[key]
    if policy is not None:
        summary["decisions"] = {d: int((decisions == d).sum()) for d in ("bona fide", "spoof", "review")}
    summary_path = os.path.splitext(out)[0] + ".summary.json"
    write_text_atomic(summary_path, json.dumps(summary, indent=1))
    click.echo(f"scored {len(paths)} files ({duration:.1f} s of audio) in {elapsed:.1f} s "
               f"(real-time factor {summary['real_time_factor']}); scores: mean {summary['score_mean']:.3f}, "
               f"min {summary['score_min']:.3f}, max {summary['score_max']:.3f}, {summary['above_zero']} above 0")
    if n_flagged:
        counts = ", ".join(f"{v} {k}" for k, v in summary["flag_counts"].items())
        click.echo(f"{n_flagged} of {len(paths)} files flagged: {counts} (their scores are unreliable; "
                   f"see the flags column)")
    if policy is not None:
        click.echo("decisions (the model's policy, fitted on dev): " + ", ".join(
            f"{n} {d}" for d, n in summary["decisions"].items()))
    click.echo(f"wrote {out} and {summary_path}")
    if skipped:
        click.echo(f"warning: {len(skipped)} of {len(paths) + len(skipped)} files could not be used and were not "
                   f"scored (listed in {summary_path}):", err=True)
        for path, problem in skipped:
            click.echo(f"  {path}: {problem}", err=True)
        click.get_current_context().exit(EXIT_SKIPPED)


def _decision_policy(det, checkpoint):
    """The calibration and thresholds saved with the model (``bench run`` fits them on dev), or None."""
    data = getattr(det, "decisions_", None)
    if not isinstance(data, dict):
        return None
    from spoofbench.deploy.decisions import DecisionPolicy

    return DecisionPolicy.from_dict(data, source=str(checkpoint))


def _usable_audio(paths: list[str], on_bad_audio: str):
    """Decode every file before any scoring: (usable paths, their checks, [(path, problem)] of the others).
    With ``fail`` the first unusable file stops the command with one line naming it."""
    from spoofbench.protocols.describe import check_audio_files

    checks = check_audio_files(paths, None, decode=True)
    bad = [(p, c.problem) for p, c in zip(paths, checks) if c.problem]
    if bad and on_bad_audio == "fail":
        more = f" ({len(bad) - 1} more unusable files)" if len(bad) > 1 else ""
        raise AudioError(bad[0][0], f"{bad[0][1]}{more}; --on-bad-audio skip scores the other files")
    if len(bad) == len(paths):
        raise AudioError(paths[0] if len(paths) == 1 else f"{len(paths)} files",
                         "no file could be used: " + "; ".join(f"{p}: {problem}" for p, problem in bad[:3]))
    good = [(p, c) for p, c in zip(paths, checks) if not c.problem]
    return [p for p, _ in good], [c for _, c in good], bad


def _flags(det, checks) -> list[list[str]]:
    min_samples = quality.min_samples_of(det)
    return [quality.quality_flags(c, sample_rate=det.sample_rate, min_samples=min_samples) for c in checks]


def _csv_field(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text
