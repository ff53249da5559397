"""The demo corpus generator: plan the files, render them (speech, attacks, channel), run the ASV, write the
ASVspoof 2019 LA layout. The package docstring (:mod:`spoofbench.protocols.demo`) describes the corpus.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from ..asvspoof import LA2019_ASV_SCORE_DIR, LA2019_CM_DIR, LA2019_SPLITS
from ..errors import BenchError, ConfigError
from ..files import write_text_atomic
from .asv import asv_features, asv_scores
from .layout import (
    ASV_PROTO_DIR,
    ATTACKS,
    GENERATOR_VERSION,
    MARKER,
    METADATA,
    METADATA_COLUMNS,
    SPEAKER_BASE,
    SPLIT_ATTACKS,
    SPLIT_LETTER,
    SPLITS,
    read_demo_marker,
)
from .speech import SAMPLE_RATE as SR
from .speech import Speaker, synthesize_utterance


@dataclass(frozen=True)
class DemoParams:
    """Everything that determines the corpus bytes (together with :data:`GENERATOR_VERSION`)."""

    seed: int = 0
    n_train: int = 300
    n_dev: int = 200
    n_eval: int = 450
    bonafide_fraction: float = 0.25
    n_speakers: tuple = (8, 6, 8)          # train, dev, eval (disjoint speakers, half female)
    n_enrol: int = 4                       # ASV enrolment files per dev/eval speaker
    min_duration: float = 1.0
    max_duration: float = 3.0

    def counts(self, split: str) -> tuple[int, int]:
        total = {"train": self.n_train, "dev": self.n_dev, "eval": self.n_eval}[split]
        n_bona = _bonafide_count(total, self.bonafide_fraction)
        return n_bona, total - n_bona

    def validate(self) -> None:
        if not 0 < self.bonafide_fraction < 1:
            raise ConfigError(f"demo corpus: bonafide_fraction must be in (0, 1), got {self.bonafide_fraction}")
        for split in SPLITS:
            n_bona, n_spoof = self.counts(split)
            if n_bona < 2 or n_spoof < len(SPLIT_ATTACKS[split]):
                raise ConfigError(f"demo corpus: the {split} split needs at least 2 bona fide trials and one "
                                  f"spoof per attack ({len(SPLIT_ATTACKS[split])}); got {n_bona} and {n_spoof} "
                                  f"(at least {minimum_trials(split, self.bonafide_fraction)} trials with "
                                  f"bonafide_fraction {self.bonafide_fraction})")
        if not 0.5 <= self.min_duration <= self.max_duration <= 30:
            raise ConfigError(f"demo corpus: need 0.5 <= min_duration <= max_duration <= 30 s, got "
                              f"{self.min_duration}, {self.max_duration}")
        if len(self.n_speakers) != 3 or min(self.n_speakers) < 2 or self.n_speakers[1] > 10 \
                or self.n_speakers[2] > 68 or self.n_speakers[0] > 900:
            raise ConfigError("demo corpus: n_speakers = (train, dev, eval) with 2..900, 2..10, 2..68 speakers")
        if self.n_enrol < 1:
            raise ConfigError("demo corpus: n_enrol must be at least 1")


def minimum_trials(split: str, bonafide_fraction: float) -> int:
    """The fewest CM trials of ``split`` that give 2 bona fide trials and one spoof per attack of the split
    (the split sizes :meth:`DemoParams.validate` accepts are exactly those from this number on)."""
    n_attacks = len(SPLIT_ATTACKS[split])
    # both counts grow with n; start just below the bounds round() allows: n*f >= 1.5, n*(1-f) >= attacks - 0.5
    n = max(n_attacks + 2, int(1.5 / bonafide_fraction) - 1, int((n_attacks - 0.5) / (1 - bonafide_fraction)) - 1)
    while True:
        n_bona = _bonafide_count(n, bonafide_fraction)
        if n_bona >= 2 and n - n_bona >= n_attacks:
            return n
        n += 1


def _bonafide_count(total: int, bonafide_fraction: float) -> int:
    return int(round(total * bonafide_fraction))


# --------------------------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------------------------
def make_demo_corpus(root: os.PathLike | str, *, seed: int = 0, n_train: int = 300, n_dev: int = 200,
                     n_eval: int = 450, bonafide_fraction: float = 0.25, n_speakers: tuple = (8, 6, 8),
                     n_enrol: int = 4, min_duration: float = 1.0, max_duration: float = 3.0,
                     jobs: int | None = None, force: bool = False, progress: bool = False) -> dict:
    """Build the demo corpus at ``root`` and return its description (the content of ``demo_corpus.json``).

    ``n_train``/``n_dev``/``n_eval``: CM trials per split, of which ``bonafide_fraction`` are bona fide
    (the spoofs are spread evenly over the split's attacks). ``n_speakers``: speakers in train, dev, eval.
    ``n_enrol``: ASV enrolment files per dev/eval speaker (in the flac folders, not in the CM protocols).
    Durations are drawn uniformly in [``min_duration``, ``max_duration``] seconds for both classes.

    The same parameters give the same bytes. If ``root`` already holds a demo corpus built by this generator
    version with the same parameters it is reused as it is (nothing is written; if files are missing it is
    rebuilt); a different demo corpus is replaced only with ``force=True``; a folder that is not a demo
    corpus is never touched. The corpus is
    built in a temporary sibling folder and moved into place, so an interrupted build leaves nothing behind.
    ``jobs``: processes rendering audio (same bytes whatever the number); ``None`` uses up to 2 CPU cores
    for corpora of more than 200 files and one process otherwise.
    """
    params = DemoParams(seed=int(seed), n_train=int(n_train), n_dev=int(n_dev), n_eval=int(n_eval),
                        bonafide_fraction=float(bonafide_fraction), n_speakers=tuple(int(n) for n in n_speakers),
                        n_enrol=int(n_enrol), min_duration=float(min_duration), max_duration=float(max_duration))
    params.validate()
    root = os.path.abspath(os.fspath(root))
    existing = read_demo_marker(root)
    same = existing is not None and existing.get("version") == GENERATOR_VERSION \
        and existing.get("params") == _params_json(params)
    if same and _looks_complete(root, existing):
        return existing
    # (the same corpus with files missing is rebuilt without asking: it is ours and it is broken)
    if not same and os.path.exists(root) and (not os.path.isdir(root) or os.listdir(root)):
        if existing is None:
            raise BenchError(f"{root}: exists and is not a demo corpus; refusing to overwrite it "
                             f"(choose an empty or new folder)")
        if not force:
            raise BenchError(f"{root}: holds a demo corpus built with other parameters or generator version "
                             f"{existing.get('version')}; pass --force to replace it")
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(root)}.building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        info = _build(tmp, params, jobs=jobs, progress=progress)
        if os.path.exists(root):
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def _params_json(params: DemoParams) -> dict:
    return json.loads(json.dumps(asdict(params)))


def _looks_complete(root: str, info: dict) -> bool:
    n_files = sum(info.get("files", {}).values()) if isinstance(info.get("files"), dict) else -1
    found = 0
    for split in SPLITS:
        folder = os.path.join(root, "LA", LA2019_SPLITS[split][1], "flac")
        if os.path.isdir(folder):
            found += sum(1 for name in os.listdir(folder) if name.endswith(".flac"))
    return found == n_files


# --------------------------------------------------------------------------------------------------------------
# plan: who says what
# --------------------------------------------------------------------------------------------------------------
def _speakers(params: DemoParams) -> dict[str, list[Speaker]]:
    rng = np.random.default_rng(np.random.SeedSequence([params.seed, 1]))
    out = {}
    for split, n in zip(SPLITS, params.n_speakers):
        out[split] = [Speaker.random(f"LA_{SPEAKER_BASE[split] + i:04d}", "female" if i % 2 == 0 else "male", rng)
                      for i in range(n)]
    return out


def _plan(params: DemoParams, speakers: dict[str, list[Speaker]]) -> list[dict]:
    """One job per FLAC file, in a fixed order; each carries its own seed so rendering order is free."""
    rng = np.random.default_rng(np.random.SeedSequence([params.seed, 2]))
    jobs = []
    for s_index, split in enumerate(SPLITS):
        spk = speakers[split]
        n_bona, n_spoof = params.counts(split)
        n_enrol = params.n_enrol * len(spk) if split != "train" else 0
        ids = rng.choice(9_000_000, size=n_bona + n_spoof + n_enrol, replace=False) + 1_000_000
        utts = [f"LA_{SPLIT_LETTER[split]}_{i:07d}" for i in ids]
        entries = []
        for i in range(n_bona):
            entries.append(dict(role="trial", key="bonafide", attack="-", speaker=i % len(spk), source=-1))
        attacks = SPLIT_ATTACKS[split]
        for i in range(n_spoof):
            attack = attacks[i % len(attacks)]
            target = (i // len(attacks)) % len(spk)
            source = -1
            if ATTACKS[attack].source == "other":
                source = int((target + 1 + rng.integers(len(spk) - 1)) % len(spk))
            entries.append(dict(role="trial", key="spoof", attack=attack, speaker=target, source=source))
        if split != "train":
            for s in range(len(spk)):
                for _ in range(params.n_enrol):
                    entries.append(dict(role="enrol", key="bonafide", attack="-", speaker=s, source=-1))
        trial_order = rng.permutation(n_bona + n_spoof)  # protocol order: shuffled, no label runs
        for rank, idx in enumerate(list(trial_order) + list(range(n_bona + n_spoof, len(entries)))):
            e = entries[idx]
            jobs.append(dict(e, split=split, utt_id=utts[idx], order=rank,
                             seed=[params.seed, 3, s_index, int(idx)]))
    return jobs


# --------------------------------------------------------------------------------------------------------------
# rendering one file
# --------------------------------------------------------------------------------------------------------------
_SPEAKER_CACHE: dict[tuple, dict] = {}


def _speaker_stats(speaker: Speaker, seed: int) -> dict:
    """Long-term spectrum and mean MFCCs of a speaker from two reference utterances (for the conversions)."""
    key = (seed, speaker)
    if key not in _SPEAKER_CACHE:
        from .vocoders import long_term_spectrum, mfcc_analysis

        rng = np.random.default_rng(np.random.SeedSequence([seed, 4, int(speaker.speaker_id[3:])]))
        ref = np.concatenate([synthesize_utterance(speaker, 3 * SR, rng) for _ in range(2)])
        _SPEAKER_CACHE[key] = {"lts": long_term_spectrum(ref), "mfcc_mean": mfcc_analysis(ref, 24, 60).mean(axis=1)}
    return _SPEAKER_CACHE[key]


def _spoof_speech(attack_id: str, target: Speaker, source: Speaker | None, n: int, rng: np.random.Generator,
                  seed: int) -> np.ndarray:
    from . import vocoders as v

    material: list[np.ndarray] = []   # what the attack starts from, for the final spectral match

    def own() -> np.ndarray:
        material.append(synthesize_utterance(target, n, rng))
        return material[-1]

    def other() -> np.ndarray:
        return synthesize_utterance(source, n, rng)

    def sf_vc(x: np.ndarray) -> np.ndarray:
        return v.spectral_filter_vc(x, rng, target.vtl / source.vtl, _speaker_stats(source, seed)["lts"],
                                    _speaker_stats(target, seed)["lts"])

    recipes: dict[str, Callable[[], np.ndarray]] = {
        "A01": lambda: v.harmonic_noise_vocoder(own(), rng),
        "A02": lambda: v.lpc_vocoder(own(), rng, order=16, smooth_f0=5, smooth_envelope=5),
        "A03": lambda: v.mfcc_vocoder(own(), rng, n_mfcc=20, n_mels=60),
        "A04": lambda: v.unit_concatenation([own(), own()], n, rng),
        "A05": lambda: v.pitch_shift_vc(other(), rng, target.f0 / source.f0),
        "A06": lambda: sf_vc(other()),
        "A07": lambda: v.lpc_vocoder(own(), rng, order=12, mixed=True, smooth_f0=9),
        "A08": lambda: v.harmonic_noise_vocoder(own(), rng, noise_above_hz=4000.0, n_ceps=20),
        "A09": lambda: v.channel_vocoder(own(), rng),
        "A10": lambda: v.mel_griffin_lim(own(), rng, n_mels=80, n_iter=32),
        "A11": lambda: v.mel_griffin_lim(own(), rng, n_mels=40, n_iter=8, smooth_frames=3),
        "A12": lambda: v.random_phase_harmonic(own(), rng),
        "A13": lambda: sf_vc(v.harmonic_noise_vocoder(other(), rng)),
        "A14": lambda: v.mfcc_vocoder(own(), rng, n_mfcc=13, n_mels=40, n_iter=16),
        "A15": lambda: v.griffin_lim(v.pitch_shift_vc(other(), rng, target.f0 / source.f0), rng, n_iter=16),
        "A17": lambda: v.lpc_filter_vc(other(), rng, target.vtl / source.vtl),
        "A18": lambda: v.mfcc_vc(other(), rng, _speaker_stats(source, seed)["mfcc_mean"],
                                 _speaker_stats(target, seed)["mfcc_mean"]),
    }
    recipes["A16"] = recipes["A04"]   # as in ASVspoof 2019: A16 is A04 and A19 is A06
    recipes["A19"] = recipes["A06"]
    y = recipes[attack_id]()
    # Equalise the long-term spectrum to the target's speech (the material itself, or for conversions
    # a fresh utterance of the target): spectral balance and bandwidth then carry no label.
    reference = material[0] if material else synthesize_utterance(target, n, rng)
    y = v.match_long_term_spectrum(y[:n], reference)
    if len(y) < n:
        y = np.pad(y, (0, n - len(y)))
    y = y[:n]
    if not np.all(np.isfinite(y)) or not np.any(y):
        raise RuntimeError(f"attack {attack_id} produced an invalid signal")  # a bug, not user input
    return y


def _channel(speech: np.ndarray, lead: int, tail: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The same random channel for every file: silence padding, band-pass, tilt, noise, level."""
    from scipy.signal import butter, lfilter, sosfilt

    x = np.concatenate([np.zeros(lead), speech, np.zeros(tail)])
    highpass, lowpass = rng.uniform(60, 200), rng.uniform(3800, 7600)
    x = sosfilt(butter(4, [highpass, lowpass], "bandpass", fs=SR, output="sos"), x)
    tilt = rng.uniform(-0.3, 0.3)
    x = lfilter([1.0, -tilt], [1.0], x)
    speech_rms = np.sqrt(np.mean(x[lead:lead + len(speech)] ** 2)) + 1e-12
    snr = rng.uniform(30, 50)
    x = x + rng.standard_normal(len(x)) * speech_rms * 10 ** (-snr / 20)
    level = rng.uniform(-28, -20)
    x *= 10 ** (level / 20) / np.sqrt(np.mean(x ** 2))
    peak = np.max(np.abs(x))
    if peak > 0.98:
        x *= 0.98 / peak
    return x, {"highpass_hz": round(highpass, 1), "lowpass_hz": round(lowpass, 1), "tilt": round(tilt, 3),
               "snr_db": round(snr, 1), "level_dbfs": round(level, 2)}


def _render(job: dict, speakers: dict[str, list[Speaker]], params: DemoParams, out_dir: str) -> dict:
    from ..audio import write_audio

    rng_len, rng_speech, rng_channel = (np.random.default_rng(s)
                                        for s in np.random.SeedSequence(job["seed"]).spawn(3))
    spk = speakers[job["split"]]
    target = spk[job["speaker"]]
    source = spk[job["source"]] if job["source"] >= 0 else None
    # Duration and silences come from their own stream: identical distributions for both classes.
    duration = rng_len.uniform(params.min_duration, params.max_duration)
    lead, tail = rng_len.uniform(0.05, 0.35), rng_len.uniform(0.05, 0.3)
    n_total = int(round(duration * SR))
    n_lead, n_tail = int(lead * SR), int(tail * SR)
    n_speech = n_total - n_lead - n_tail
    if job["key"] == "bonafide":
        speech = synthesize_utterance(target, n_speech, rng_speech)
    else:
        speech = _spoof_speech(job["attack"], target, source, n_speech, rng_speech, params.seed)
    wave, channel = _channel(speech, n_lead, n_tail, rng_channel)
    folder = os.path.join(out_dir, "LA", LA2019_SPLITS[job["split"]][1], "flac")
    write_audio(os.path.join(folder, job["utt_id"] + ".flac"), wave.astype(np.float32), SR)
    attack = ATTACKS.get(job["attack"])
    meta = {"utt_id": job["utt_id"], "split": job["split"], "role": job["role"], "speaker": target.speaker_id,
            "gender": target.gender, "key": job["key"], "attack": job["attack"],
            "attack_type": attack.attack_type if attack else "-", "family": attack.family if attack else "-",
            "vocoder": attack.vocoder if attack else "-",
            "source_speaker": source.speaker_id if source is not None else "-",
            "duration_s": round(n_total / SR, 4), "lead_s": round(n_lead / SR, 3), "tail_s": round(n_tail / SR, 3),
            **channel}
    # The ASV needs features of train bona fide (UBM), enrolment files and dev/eval trials only.
    needs_asv = job["split"] != "train" or job["key"] == "bonafide"
    return {"meta": meta, "asv_features": asv_features(wave) if needs_asv else None}


def _render_many(args) -> list[dict]:
    from threadpoolctl import threadpool_limits

    jobs, speakers, params, out_dir = args
    # The matrices here are small: a multi-threaded BLAS only spins (measured 6x slower with 2 threads).
    with threadpool_limits(1):
        return [_render(job, speakers, params, out_dir) for job in jobs]


# --------------------------------------------------------------------------------------------------------------
# writing the corpus
# --------------------------------------------------------------------------------------------------------------
def _build(out_dir: str, params: DemoParams, *, jobs: int, progress: bool) -> dict:
    speakers = _speakers(params)
    plan = _plan(params, speakers)
    for split in SPLITS:
        os.makedirs(os.path.join(out_dir, "LA", LA2019_SPLITS[split][1], "flac"), exist_ok=True)
    results = _run_jobs(plan, speakers, params, out_dir, jobs, progress)
    for job, res in zip(plan, results):
        res["meta"]["order"] = job["order"]
    metas = [r["meta"] for r in results]
    la = os.path.join(out_dir, "LA")
    _write_cm_protocols(la, metas)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        asv = asv_scores(results, params.seed)
    _write_asv_files(la, metas, asv)
    _write_metadata(out_dir, metas)
    info = _describe(params, speakers, metas, asv)
    write_text_atomic(os.path.join(out_dir, "README.md"), _readme(info))
    # written last: its presence marks a complete corpus
    write_text_atomic(os.path.join(out_dir, MARKER), json.dumps(info, indent=2) + "\n")
    return info


def _run_jobs(plan, speakers, params, out_dir, jobs, progress):
    from tqdm import tqdm

    if jobs is None:
        jobs = min(2, os.cpu_count() or 1) if len(plan) > 200 else 1

    chunks = [plan[i:i + 16] for i in range(0, len(plan), 16)]
    bar = tqdm(total=len(plan), desc="demo corpus", unit="file", disable=None if progress else True, leave=False)
    results: list[dict] = []
    try:
        if jobs > 1:
            from ..workers import worker_pool  # workers that end with this process (kill, Ctrl-C)

            with worker_pool(jobs) as pool:
                for chunk_result in pool.map(_render_many, [(c, speakers, params, out_dir) for c in chunks]):
                    results.extend(chunk_result)
                    bar.update(len(chunk_result))
        else:
            for chunk in chunks:
                results.extend(_render_many((chunk, speakers, params, out_dir)))
                bar.update(len(chunk))
    finally:
        bar.close()
    return results


def _write_cm_protocols(la: str, metas: list[dict]) -> None:
    for split in SPLITS:
        rows = sorted((m for m in metas if m["split"] == split and m["role"] == "trial"), key=lambda m: m["order"])
        lines = [f"{m['speaker']} {m['utt_id']} - {m['attack']} {m['key']}" for m in rows]
        write_text_atomic(os.path.join(la, LA2019_CM_DIR, LA2019_SPLITS[split][0]), "\n".join(lines) + "\n")


def _write_asv_files(la: str, metas: list[dict], asv: dict) -> None:
    for split in ("dev", "eval"):
        for gender in ("female", "male"):
            enrol: dict[str, list[str]] = {}
            for m in metas:
                if m["split"] == split and m["role"] == "enrol" and m["gender"] == gender:
                    enrol.setdefault(m["speaker"], []).append(m["utt_id"])
            lines = [f"{spk} {','.join(sorted(utts))}" for spk, utts in sorted(enrol.items())]
            write_text_atomic(os.path.join(la, ASV_PROTO_DIR, f"ASVspoof2019.LA.asv.{split}.{gender}.trn.txt"),
                              "\n".join(lines) + "\n")
        rows = asv[split]
        write_text_atomic(os.path.join(la, ASV_PROTO_DIR, f"ASVspoof2019.LA.asv.{split}.gi.trl.txt"),
                          "".join(f"{c} {u} {s} {k}\n" for c, u, s, k, _ in rows))
        write_text_atomic(os.path.join(la, LA2019_ASV_SCORE_DIR, f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt"),
                          "".join(f"{s} {k} {score:.6f}\n" for _, _, s, k, score in rows))


def _write_metadata(out_dir: str, metas: list[dict]) -> None:
    rows = sorted(metas, key=lambda m: (SPLITS.index(m["split"]), m["role"] != "trial", m["order"]))
    lines = ["\t".join(METADATA_COLUMNS)] + ["\t".join(str(m[c]) for c in METADATA_COLUMNS) for m in rows]
    write_text_atomic(os.path.join(out_dir, METADATA), "\n".join(lines) + "\n")


def _describe(params: DemoParams, speakers, metas, asv) -> dict:
    counts = {}
    for split in SPLITS:
        trials = [m for m in metas if m["split"] == split and m["role"] == "trial"]
        counts[split] = {"bonafide": sum(m["key"] == "bonafide" for m in trials),
                         "spoof": sum(m["key"] == "spoof" for m in trials),
                         "enrol": sum(m["split"] == split and m["role"] == "enrol" for m in metas)}
    seconds = sum(m["duration_s"] for m in metas)
    return {
        "generator": "spoofbench-demo", "version": GENERATOR_VERSION, "params": _params_json(params),
        "layout": "ASVspoof 2019 LA", "sample_rate": SR,
        "counts": counts,
        "files": {split: counts[split]["bonafide"] + counts[split]["spoof"] + counts[split]["enrol"]
                  for split in SPLITS},
        "hours": round(seconds / 3600, 4),
        "attacks": {split: list(SPLIT_ATTACKS[split]) for split in SPLITS},
        "speakers": {split: [{"speaker": s.speaker_id, "gender": s.gender, "f0_hz": round(s.f0, 1),
                              "vtl": round(s.vtl, 3)} for s in speakers[split]] for split in SPLITS},
        "asv_trials": {split: {k: sum(r[3] == k for r in asv[split]) for k in ("target", "nontarget", "spoof")}
                       for split in asv},
    }


def _readme(info: dict) -> str:
    p = info["params"]
    lines = [
        "# spoofbench demo corpus (synthetic; not real speech)",
        "",
        f"Built by `bench data demo` (generator version {info['version']}, seed {p['seed']}). It is a toy corpus "
        "for trying the toolkit end to end: the bona fide speech is synthetic (a source-filter model), the "
        "spoofs are classic signal-processing vocoders and conversions of it. Numbers measured on it say "
        "nothing about real corpora.",
        "",
        "Layout: ASVspoof 2019 LA (`LA/ASVspoof2019_LA_*`): FLAC 16 kHz 16-bit, CM protocols "
        "`SPEAKER UTT - SYSTEM KEY`, ASV enrolment and trial lists, ASV scores `CM_KEY ASV_KEY SCORE` from a "
        "GMM-UBM verifier run on this audio. `metadata/utterances.tsv` describes every file. The dev and eval "
        "folders also hold the ASV enrolment files, which are not CM trials.",
        "",
        "| split | bona fide | spoof | enrolment files | attacks |",
        "|---|---|---|---|---|",
    ]
    for split in SPLITS:
        c = info["counts"][split]
        atk = info["attacks"][split]
        lines.append(f"| {split} | {c['bonafide']} | {c['spoof']} | {c['enrol']} | {atk[0]}-{atk[-1]} |")
    lines += ["", "| attack | type | family | system |", "|---|---|---|---|"]
    for a in ATTACKS.values():
        lines.append(f"| {a.attack_id} | {a.attack_type} | {a.family} | {a.vocoder} |")
    lines += ["", "A16 is A04 and A19 is A06 (as in ASVspoof 2019). Every file passes through the same random "
              "channel (duration, silences, band-pass, tilt, noise, level), drawn independently of its label.", ""]
    return "\n".join(lines)


