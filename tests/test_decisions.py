"""Calibrated decisions and the review band (spoofbench.deploy.decisions), and their place in the .det file."""
import json
import math

import numpy as np
import pytest

from spoofbench.deploy.decisions import (
    DecisionPolicy,
    fit_decision_policy,
    read_decisions,
    review_band,
)
from spoofbench.detectors.model_file import read_detector_file
from spoofbench.protocols.errors import BenchError, ConfigError


def _dev(seed=0, n_bona=300, n_spoof=700, gap=2.0):
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(gap, 1.0, n_bona), rng.normal(0.0, 1.0, n_spoof)])
    labels = np.concatenate([np.ones(n_bona, int), np.zeros(n_spoof, int)])
    return scores, labels


def _decided_errors(scores, labels, low, high):
    bona, spoof = scores[labels == 1], scores[labels == 0]
    spoof_decided = np.sum(spoof <= low) + np.sum(spoof > high)
    bona_decided = np.sum(bona <= low) + np.sum(bona > high)
    far = np.sum(spoof > high) / max(spoof_decided, 1)
    frr = np.sum(bona <= low) / max(bona_decided, 1)
    return far, frr


def _brute_force_band(scores, labels, target):
    """Fewest trials in review over every (low, high) pair of candidate thresholds meeting the target."""
    cands = np.concatenate([[-np.inf], np.unique(scores)])
    best = None
    for i, low in enumerate(cands):
        for high in cands[i:]:
            far, frr = _decided_errors(scores, labels, low, high)
            if far <= target + 1e-12 and frr <= target + 1e-12:
                inside = int(np.sum((scores > low) & (scores <= high)))
                best = inside if best is None else min(best, inside)
    return best


@pytest.mark.parametrize("target", [0.01, 0.05, 0.1])
def test_review_band_meets_its_target_on_dev_with_the_fewest_reviews(target):
    scores, labels = _dev(seed=1, n_bona=60, n_spoof=140)
    policy = fit_decision_policy(scores, labels, target_error=target)
    far, frr = _decided_errors(scores, labels, policy.review_low, policy.review_high)
    assert far <= target + 1e-12 and frr <= target + 1e-12
    reviewed = int(np.sum(policy.decide(scores) == "review"))
    assert reviewed == _brute_force_band(scores, labels, target)
    assert 0 < reviewed < scores.size   # overlapping classes: some review, not all


def test_review_band_coverage_is_close_to_the_target_on_a_large_dev_set():
    scores, labels = _dev(seed=2, n_bona=2000, n_spoof=5000)
    policy = fit_decision_policy(scores, labels, target_error=0.02)
    far, frr = _decided_errors(scores, labels, policy.review_low, policy.review_high)
    # at the narrowest band, the binding error rate sits at the target (within one trial of it)
    assert max(far, frr) == pytest.approx(0.02, abs=1.5 / 2000)
    assert max(far, frr) <= 0.02


def test_separable_dev_gets_an_empty_band():
    scores = np.array([0.0, 0.1, 0.2, 1.0, 1.1, 1.2])
    labels = np.array([0, 0, 0, 1, 1, 1])
    low, high = review_band(scores[labels == 1], scores[labels == 0], 0.0)
    assert low == high
    policy = fit_decision_policy(scores, labels, target_error=0.0)
    assert list(policy.decide(scores)) == ["spoof"] * 3 + ["bona fide"] * 3


def test_single_thresholds_meet_their_rates():
    scores, labels = _dev(seed=3)
    bona, spoof = scores[labels == 1], scores[labels == 0]
    policy = fit_decision_policy(scores, labels, target_far=0.01, target_frr=0.05)
    assert np.mean(spoof > policy.far_threshold) <= 0.01
    assert np.mean(spoof > np.nextafter(policy.far_threshold, -np.inf)) > 0.01   # lowest such threshold
    assert np.mean(bona <= policy.frr_threshold) <= 0.05
    decisions = policy.decide(scores, mode="far")
    assert set(decisions) == {"bona fide", "spoof"}
    assert np.mean(decisions[labels == 0] == "bona fide") <= 0.01
    eer_dec = policy.decide(scores, mode="eer")
    far, frr = np.mean(eer_dec[labels == 0] == "bona fide"), np.mean(eer_dec[labels == 1] == "spoof")
    assert abs(far - frr) < 0.02 and far == pytest.approx(policy.dev_eer, abs=0.01)


def test_calibration_is_the_logistic_regression_of_fusion():
    from spoofbench.benchmark.fusion import calibrate

    scores, labels = _dev(seed=4)
    policy = fit_decision_policy(scores, labels)
    test = np.linspace(-3, 5, 9)
    np.testing.assert_allclose(policy.llr(test), calibrate(scores, labels, test), rtol=1e-9, atol=1e-9)
    assert policy.weight > 0
    # the Bayes threshold is where the LLR crosses -ln 1.9
    assert policy.llr([policy.bayes_threshold])[0] == pytest.approx(-math.log(1.9))


def test_dict_round_trip_is_json_and_exact():
    scores, labels = _dev(seed=5)
    policy = fit_decision_policy(scores, labels, target_error=0.0)   # may give infinite thresholds
    data = json.loads(json.dumps(policy.to_dict()))
    again = DecisionPolicy.from_dict(data)
    assert again == policy
    assert len(again.dev_quantiles) == 101


def test_bad_input_gets_one_line_errors():
    with pytest.raises(BenchError, match="both bona fide and spoof"):
        fit_decision_policy([0.1, 0.2], [1, 1])
    with pytest.raises(BenchError, match="NaN"):
        fit_decision_policy([0.1, np.nan], [1, 0])
    with pytest.raises(ConfigError, match="target_error"):
        fit_decision_policy([0.1, 0.2], [1, 0], target_error=1.5)
    with pytest.raises(BenchError, match="lacks"):
        DecisionPolicy.from_dict({"version": 1, "weight": 1.0}, source="x.det")
    policy = fit_decision_policy(*_dev(seed=6))
    with pytest.raises(ConfigError, match="unknown decision mode"):
        policy.decide([0.0], mode="nope")


def test_policy_is_saved_with_the_model_and_old_files_still_load(corpus, tmp_path):
    from spoofbench import load_trials
    from spoofbench.detectors import Detector, create_detector

    det = create_detector("spectral-lr").fit(load_trials(corpus, split="train"))
    old = tmp_path / "old.det"
    det.save(old)                                   # as every file before policies existed
    assert read_decisions(old) is None
    assert not hasattr(Detector.load(old), "decisions_")

    policy = fit_decision_policy(*_dev(seed=7))
    new = tmp_path / "new.det"
    det.save(new, decisions=policy)
    assert read_decisions(new) == policy
    loaded = Detector.load(new)
    assert DecisionPolicy.from_dict(loaded.decisions_) == policy
    again = tmp_path / "again.det"
    loaded.save(again)                              # a loaded model keeps its policy when saved again
    assert read_decisions(again) == policy
    state_new, state_again = read_detector_file(new)[1], read_detector_file(again)[1]
    assert state_new.keys() == state_again.keys()
    for key in state_new:
        np.testing.assert_array_equal(state_new[key], state_again[key])


def test_bench_run_saves_policies_and_reports_operating_points(corpus, tmp_path, monkeypatch):
    from _tiny_corpus import bench

    from spoofbench import load_trials
    from spoofbench.benchmark.scorefiles import read_scores

    monkeypatch.setenv("SPOOFBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", out, "--fusion", "calibrate",
              "--bootstrap", 20, "--no-plots")
    assert r.exit_code == 0, r.output
    policy = read_decisions(out / "models" / "spectral-lr.det")
    assert policy is not None
    # the policy is the one fitted on the system's dev scores
    dev = load_trials(corpus, split="dev")
    by_utt = read_scores(out / "scores" / "spectral-lr.dev.txt")
    dev_scores = np.array([by_utt[u] for u in dev["utt_id"]])
    assert policy == fit_decision_policy(dev_scores, dev.y)
    report = (out / "report.md").read_text()
    assert "Operating points on eval" in report
    section = report.split("Operating points on eval")[1]
    first_cells = [line.split("|")[1].strip() for line in section.split("## Detectors")[0].splitlines()
                   if line.startswith("|") and not line.startswith("|--")]
    assert first_cells.count("spectral-lr") == 5 and first_cells.count("spectral-lr+cal") == 5
    # the manifest vouches for the rewritten model: a second run reuses everything and rewrites nothing
    before = (out / "models" / "spectral-lr.det").read_bytes()
    r = bench("run", "--detectors", "spectral-lr", "--data", corpus, "--out", out, "--fusion", "calibrate",
              "--bootstrap", 20, "--no-plots")
    assert r.exit_code == 0 and "cached: spectral-lr" in r.output
    assert (out / "models" / "spectral-lr.det").read_bytes() == before


def test_bench_score_prints_the_decision_of_a_model_with_a_policy(corpus, tmp_path):
    from _tiny_corpus import bench

    from spoofbench import load_trials
    from spoofbench.detectors import create_detector

    det = create_detector("spectral-lr").fit(load_trials(corpus, split="train"))
    dev = load_trials(corpus, split="dev")
    policy = fit_decision_policy(det.score(dev), dev.y, target_error=0.05)
    model = tmp_path / "m.det"
    det.save(model, decisions=policy)
    files = list(dev["path"][:6])
    out = tmp_path / "scores.csv"
    r = bench("score", "--detector", "spectral-lr", "--checkpoint", model, *files, "--out", out)
    assert r.exit_code == 0, r.output
    lines = out.read_text().splitlines()
    assert lines[0] == "path,score,flags,llr,decision"
    for line in lines[1:]:
        fields = line.split(",")
        score, llr, decision = float(fields[1]), float(fields[3]), fields[4]
        assert llr == pytest.approx(policy.llr([score])[0], abs=1e-5)
        assert decision == policy.decide([score])[0]
    assert "decisions (the model's policy" in r.output
