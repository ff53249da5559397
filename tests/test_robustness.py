"""The degradation benchmark: condition names, the degraded-audio cache, and `bench robustness` / `bench run
--conditions` end to end on the tiny corpus (fast detectors; one small RawNet2 for the adversarial columns)."""
import json
import re

import numpy as np
import pytest
import soundfile as sf
from _tiny_corpus import bench, copy_corpus

from spoofbench.augment import Transform, TransformFailed, register_transform
from spoofbench.benchmark.robustness.conditions import STANDARD, parse_conditions
from spoofbench.benchmark.robustness.degraded_audio import AudioDigests, degrade_table
from spoofbench.detectors import register_detector
from spoofbench.detectors.spectral_lr import SpectralLR
from spoofbench.protocols import load_trials
from spoofbench.protocols.errors import ConfigError

pytestmark = pytest.mark.usefixtures("private_cache")


class _FailsOnSome(Transform):
    """Gain that cannot process utterances whose id ends in 1 or 7 (as a codec refuses a file too short)."""

    spec = "test-picky"

    def transform(self, wave, sample_rate, rng):
        raise AssertionError("apply is overridden")

    def apply(self, wave, sample_rate, *, seed=0, utt_id=""):
        if utt_id[-1] in "17":
            raise TransformFailed(f"{utt_id}: too short for this codec")
        return np.asarray(wave, np.float32) * np.float32(0.5)


class _Broken(Transform):
    spec = "test-broken"

    def transform(self, wave, sample_rate, rng):
        raise RuntimeError("a bug in the transform")


@register_detector("robust-seeded-lr", presets={"default": {}}, default_preset="default")
class SeededLR(SpectralLR):
    """Spectral LR on a seeded half of the training trials (each seed another model)."""

    def __init__(self, n_bands: int = 16, seed: int = 0):
        super().__init__(n_bands=n_bands)
        self.seed = seed

    def fit(self, train, dev=None):
        keep = np.random.default_rng(self.seed).random(len(train)) < 0.5
        keep[np.flatnonzero(train.y == 1)[:2]] = keep[np.flatnonzero(train.y == 0)[:2]] = True
        return super().fit(train[keep], dev)


register_transform("test-picky", "test-picky", "test: fails on some files")(lambda arg: _FailsOnSome())
register_transform("test-broken", "test-broken", "test: always raises")(lambda arg: _Broken())


# ---- condition names -------------------------------------------------------------------------------------------
def test_conditions_clean_first_sets_expanded_once():
    conds = parse_conditions(["noise:white@10dB", "clean", "gain:-6dB", "noise:white@10dB", "adv:pgd@40dB"])
    assert [c.spec for c in conds] == ["clean", "noise:white@10dB", "gain:-6dB", "adv:pgd@40dB"]
    assert [c.kind for c in conds] == ["clean", "transform", "transform", "whitebox"]
    t = parse_conditions(["adv:transfer=rawnet2.small@30dB"])[1]
    assert (t.kind, t.source, t.attack.method, t.attack.snr_db, t.spec) == \
        ("transfer", "rawnet2.small", "pgd", 30.0, "adv:transfer=rawnet2.small@30dB")


def test_named_sets_hold_what_they_promise():
    assert 14 <= len(STANDARD) <= 18
    families = {s.split(":")[0].split("@")[0] for s in STANDARD}
    assert {"codec", "noise", "reverb", "resample"} <= families
    # every noise level and codec bitrate of the standard set feeds the degradation plots
    assert sum(bool(re.fullmatch(r"noise:\w+@-?\d+dB", s)) for s in STANDARD) >= 3
    assert sum(bool(re.fullmatch(r"codec:[\w-]+@\d+k", s)) for s in STANDARD) >= 3


@pytest.mark.parametrize("bad, hint", [("standrd", "did you mean 'standard'"), ("bogus", "valid: condition sets"),
                                       ("noise:purple@3dB", "noise:"), ("adv:cw@40dB", "adv:fgsm@SNRdB")])
def test_unknown_condition_is_one_line_naming_the_valid_ones(bad, hint):
    with pytest.raises(ConfigError) as info:
        parse_conditions([bad])
    message = str(info.value)
    assert "\n" not in message and hint in message


# ---- the degraded-audio cache ----------------------------------------------------------------------------------
def test_cache_applies_each_condition_once_and_lists_failures(corpus, tmp_path):
    table = load_trials(corpus, split="eval")[:12]
    calls = []

    def apply(wave, rate, utt):
        calls.append(utt)
        if utt == table["utt_id"][3]:
            raise TransformFailed("silent file")
        return wave * np.float32(0.5)

    digests = AudioDigests()
    first = degrade_table(table, "half", apply, tmp_path / "c", digests, progress=False)
    assert first.created == 11 and len(first.table) == 11
    assert first.failed == [(table["utt_id"][3], "silent file")]
    assert table["utt_id"][3] not in set(first.table["utt_id"])
    src, _ = sf.read(table["path"][0], dtype="float32")
    out, rate = sf.read(first.table["path"][0], dtype="float32")
    assert rate == sf.info(table["path"][0]).samplerate and sf.info(first.table["path"][0]).subtype == "FLOAT"
    np.testing.assert_allclose(out, 0.5 * src, atol=1e-7)
    again = degrade_table(table, "half", apply, tmp_path / "c", digests, progress=False)
    assert again.created == 0 and list(again.table["path"]) == list(first.table["path"])
    assert len(calls) == 12 + 1  # the failed file is tried again (a failure is not cached), the rest are reused
    other = degrade_table(table, "quarter", apply, tmp_path / "c", digests, progress=False)
    assert not set(other.table["path"]) & set(first.table["path"])  # another condition, other entries


def test_cache_entry_follows_the_audio_content(corpus, tmp_path):
    root = copy_corpus(corpus, tmp_path / "corpus")
    table = load_trials(root, split="eval")[:2]
    before = degrade_table(table, "c", lambda w, r, u: w, tmp_path / "c", AudioDigests(), progress=False)
    wave, rate = sf.read(table["path"][0], dtype="float32")
    sf.write(table["path"][0], wave[::-1].copy(), rate)
    after = degrade_table(table, "c", lambda w, r, u: w, tmp_path / "c", AudioDigests(), progress=False)
    assert after.table["path"][0] != before.table["path"][0] and after.table["path"][1] == before.table["path"][1]


def test_only_mask_keeps_the_other_trials_audio(corpus, tmp_path):
    table = load_trials(corpus, split="eval")[:6]
    spoof = ~table.is_bonafide
    d = degrade_table(table, "x", lambda w, r, u: w, tmp_path / "c", AudioDigests(), only=spoof, progress=False)
    assert d.created == int(spoof.sum())
    kept = [p for p, s in zip(d.table["path"], spoof) if not s]
    assert kept == [p for p, s in zip(table["path"], spoof) if not s]


# ---- end to end -----------------------------------------------------------------------------------------------
def test_bench_robustness_end_to_end(corpus, tmp_path):
    out = tmp_path / "rob"
    args = ("robustness", "--detectors", "spectral-lr,rawnet2.small", "--data", corpus, "--out", out,
            "--set", "rawnet2.small.epochs=1", "--conditions",
            "gain:-20dB,noise:white@0dB,test-picky,adv:fgsm@30dB,adv:transfer=rawnet2.small@fgsm@30dB", "--no-plots",
            "--max-count", 50)
    r = bench(*args)
    assert r.exit_code == 0, r.output
    data = json.loads((out / "robustness.json").read_text())
    specs = ["clean", "gain:-20dB", "noise:white@0dB", "test-picky", "adv:fgsm@30dB",
             "adv:transfer=rawnet2.small@fgsm@30dB"]
    assert list(data["conditions"]) == specs
    systems = data["systems"]
    assert set(systems) == {"spectral-lr", "rawnet2.small", "fused-logreg", "fused-mean"}
    metrics = json.loads((out / "metrics.json").read_text())["systems"]
    for name in ("spectral-lr", "rawnet2.small", "fused-logreg"):  # clean = the run's own numbers
        assert systems[name]["clean"]["pooled"]["eer"] == pytest.approx(metrics[name]["pooled"]["eer"], abs=1e-9)
    for name, per in systems.items():
        for spec, m in per.items():
            p = m["pooled"]
            assert 0 <= p["eer"] <= 100 and p["n_bonafide"] > 0 and p["n_spoof"] > 0
            assert set(m["per_attack"]) and all("act_dcf_cal" in a for a in m["per_attack"].values())
            assert data["degradation"][name][spec]["eer"] == pytest.approx(p["eer"] - per["clean"]["pooled"]["eer"])
    # white-box attacks apply to the differentiable network only; fusions cannot be attacked as one
    assert "adv:fgsm@30dB" not in systems["spectral-lr"]
    assert "differentiable" in data["not_applicable"]["spectral-lr"]["adv:fgsm@30dB"]
    assert "adv:fgsm@30dB" in data["not_applicable"]["fused-mean"]
    adv = systems["rawnet2.small"]["adv:fgsm@30dB"]["pooled"]
    assert 0 <= adv["attack_success_rate"] <= 100 and adv["n_rejected_clean"] >= 1
    # the transfer condition reaches every system and every fusion (the same audio for all)
    assert all("adv:transfer=rawnet2.small@fgsm@30dB" in per for per in systems.values())
    # a condition that cannot process some files skips those trials, for that condition only
    failed = data["conditions"]["test-picky"]["failed_trials"]
    n_eval = data["conditions"]["test-picky"]["n_trials"]
    assert failed and all(u[-1] in "17" for u, _ in failed)
    p = systems["spectral-lr"]["test-picky"]["pooled"]
    assert p["n_bonafide"] + p["n_spoof"] == n_eval - len(failed)
    p = systems["spectral-lr"]["gain:-20dB"]["pooled"]
    assert p["n_bonafide"] + p["n_spoof"] == n_eval
    report = (out / "report.md").read_text()
    assert "## Robustness: EER (%) per condition (eval)" in report and "attack success rate" in report
    assert "test-picky" in report and "skipped for that condition only" in report
    for ext in ("md", "csv", "tex"):
        assert (out / "tables" / f"robustness_eer.{ext}").is_file()
    # the same command again scores nothing and gives the same numbers
    again = bench(*args)
    assert again.exit_code == 0, again.output
    assert "scored" not in again.output.replace("robustness.json", "")
    assert json.loads((out / "robustness.json").read_text())["systems"] == systems


def test_partial_failure_exits_3_and_keeps_the_rest(corpus, tmp_path):
    out = tmp_path / "rob"
    r = bench("robustness", "--detectors", "spectral-lr", "--data", corpus, "--out", out, "--fusion", "none",
              "--conditions", "test-broken,gain:-6dB")
    assert r.exit_code == 3, r.output
    assert "test-broken" in r.stderr and "a bug in the transform" in r.stderr
    data = json.loads((out / "robustness.json").read_text())
    assert data["conditions"]["test-broken"]["status"] == "failed"
    assert data["systems"]["spectral-lr"]["gain:-6dB"]["pooled"]["eer"] >= 0
    assert (out / "plots" / "robustness_heatmap.png").is_file()


@pytest.mark.parametrize("conditions, message", [
    ("codex:mp3@16k", "unknown transform 'codex'"),
    ("adv:transfer=other@40dB", "'other' is not a system of this run"),
])
def test_bad_conditions_stop_before_any_work(corpus, tmp_path, conditions, message):
    out = tmp_path / "rob"
    r = bench("robustness", "--detectors", "spectral-lr", "--data", corpus, "--out", out, "--conditions", conditions)
    assert r.exit_code == 2 and message in r.stderr
    assert r.stderr.count("\n") == 1 and not (out / "scores").exists()


def test_degrade_dev_without_conditions_is_refused(corpus, tmp_path):
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", tmp_path / "run", "--degrade-dev")
    assert r.exit_code == 2 and "--degrade-dev applies the --conditions to dev" in r.stderr
    assert not (tmp_path / "run" / "scores").exists()


def test_bench_run_conditions_adds_the_section(corpus, tmp_path):
    out = tmp_path / "run"
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", out, "--fusion", "none",
              "--bootstrap", 0, "--no-plots", "--conditions", "noise:white@5dB,chain(gain:-6dB, noise:white@20dB)",
              "--degrade-dev")
    assert r.exit_code == 0, r.output
    data = json.loads((out / "robustness.json").read_text())  # a chain's commas do not split the list
    assert list(data["conditions"]) == ["clean", "noise:white@5dB", "chain(gain:-6dB,noise:white@20dB)"]
    assert data["systems"]["spectral-lr"]["noise:white@5dB"]["dev"]["n_trials"] > 0  # --degrade-dev reached it
    assert "## Robustness" in (out / "report.md").read_text() and "Robustness" in (out / "report.html").read_text()


def test_seeds_give_one_row_per_seed_and_fusions_keep_unseeded_members(corpus, tmp_path):
    out = tmp_path / "run"
    r = bench("robustness", "--detectors", "spectral-lr,robust-seeded-lr", "--seeds", "1,2", "--data", corpus,
              "--out", out, "--conditions", "gain:-6dB", "--no-plots")
    assert r.exit_code == 0, r.output
    systems = json.loads((out / "robustness.json").read_text())["systems"]
    assert set(systems) == {"spectral-lr", "robust-seeded-lr.seed1", "robust-seeded-lr.seed2", "fused-logreg.seed1",
                            "fused-mean.seed1", "fused-logreg.seed2", "fused-mean.seed2"}
    per_seed = json.loads((out / "metrics.json").read_text())["per_seed"]
    for seed in (1, 2):  # clean = the run's own fusion of that seed
        clean = systems[f"fused-mean.seed{seed}"]["clean"]["pooled"]["eer"]
        assert clean == pytest.approx(per_seed[str(seed)]["systems"]["fused-mean"]["pooled"]["eer"], abs=1e-9)
        assert "gain:-6dB" in systems[f"fused-mean.seed{seed}"]


def test_degrade_dev_gives_dev_metrics_and_matched_calibration(corpus, tmp_path):
    out = tmp_path / "rob"
    args = ("robustness", "--detectors", "spectral-lr,robust-seeded-lr", "--data", corpus, "--out", out,
            "--fusion", "mean", "--conditions", "gain:-20dB,test-picky", "--degrade-dev", "--no-plots",
            "--max-count", 50)
    r = bench(*args)
    assert r.exit_code == 0, r.output
    data = json.loads((out / "robustness.json").read_text())
    assert data["settings"]["dev"].startswith("each condition applied to dev too")
    n_dev = len(load_trials(corpus, split="dev", max_count=50))
    for name in ("spectral-lr", "fused-mean"):
        per = data["systems"][name]
        clean = per["clean"]["pooled"]
        # clean: the matched dev is the clean dev, so both calibrations are the same one
        assert clean["act_dcf_matched"] == pytest.approx(clean["act_dcf_cal"], abs=1e-12)
        assert clean["threshold_matched"] == pytest.approx(clean["threshold"], abs=1e-12)
        assert per["clean"]["dev"]["n_trials"] == n_dev
        for spec in ("gain:-20dB", "test-picky"):
            assert 0 <= per[spec]["dev"]["pooled"]["eer"] <= 100
            assert all("act_dcf_matched" in a for a in per[spec]["per_attack"].values())
    # 20 dB quieter shifts every log-spectrum score by a constant: the EER stays, the clean-dev calibration is
    # off (worse than deciding by the prior alone, actDCF > 1), the matched one is not
    gain, clean = (data["systems"]["robust-seeded-lr"][c]["pooled"] for c in ("gain:-20dB", "clean"))
    assert gain["eer"] == pytest.approx(clean["eer"], abs=1e-9)
    assert gain["act_dcf_cal"] > 1.2 and gain["act_dcf_matched"] < gain["act_dcf_cal"] - 0.2
    assert gain["threshold_matched"] != pytest.approx(gain["threshold"], abs=0.5)
    # dev trials the condition cannot process are listed and left out of that condition's dev only
    failed_dev = data["conditions"]["test-picky"]["failed_dev_trials"]
    assert failed_dev and all(u[-1] in "17" for u, _ in failed_dev)
    assert data["systems"]["spectral-lr"]["test-picky"]["dev"]["n_trials"] == n_dev - len(failed_dev)
    assert len(list((out / "robustness" / "scores" / "spectral-lr").glob("*.dev.txt"))) == 2
    report = (out / "report.md").read_text()
    assert "Calibration: actDCF calibrated on clean dev / on the condition's own dev" in report
    assert (out / "tables" / "robustness_calibration.md").is_file()
    again = bench(*args)  # dev scores are reused as eval ones are
    assert again.exit_code == 0 and "scored" not in again.output.replace("robustness.json", "")
    assert json.loads((out / "robustness.json").read_text())["systems"] == data["systems"]


def test_snr_plot_splits_noise_from_attacks_and_keeps_the_legend_off_the_data(monkeypatch):
    from spoofbench.benchmark import plots
    from spoofbench.benchmark.robustness import report
    from spoofbench.benchmark.robustness.results import RobustnessResult

    specs = ["noise:white@20dB", "noise:white@0dB", "noise:pink@10dB", "adv:fgsm@40dB", "adv:pgd@40dB",
             "codec:mp3@16k"]
    result = RobustnessResult(conditions=parse_conditions(specs), systems=["a", "b"])
    result.cells = {s: {c: {"pooled": {"eer": 10.0 + i + j}} for j, c in enumerate(["clean", *specs])}
                    for i, s in enumerate(result.systems)}
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, stem, formats: figures.append(fig) or [f"{stem}.png"])
    assert report.plot_eer_vs_snr(result, "snr") == ["snr.png"]
    fig = figures[-1]
    assert [ax.get_title() for ax in fig.axes] == ["additive noise", "adversarial perturbation (spoofs only)"]
    assert fig.legends and not any(ax.get_legend() for ax in fig.axes)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["a", "b", "fgsm", "pgd", "pink", "white"]
    def series(ax):  # the data lines (the clean references are horizontal lines without markers)
        return [ln for ln in ax.get_lines() if ln.get_marker() not in ("None", "", None)]

    white = [tuple(ln.get_xdata()) for ln in series(fig.axes[0]) if len(ln.get_xdata()) > 1]
    assert white == [(20.0, 0.0), (20.0, 0.0)]  # one white-noise line per system, worse SNR to the right
    assert fig.axes[0].xaxis_inverted()
    # fgsm and pgd at one budget: told apart by their markers
    assert {ln.get_marker() for ln in series(fig.axes[1])} == {"o", "s"}
    assert report.plot_eer_vs_bitrate(RobustnessResult(conditions=parse_conditions(["pstn"]), systems=["a"]),
                                      "none") == []
