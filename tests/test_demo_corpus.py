"""The built-in demo corpus: exact 2019 LA layout, determinism, reuse, a working ASV, channel cues that do not
separate the classes, and artefacts that a real countermeasure does find."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from spoofbench.protocols import BenchError, ConfigError, detect_protocol, load_trials
from spoofbench.protocols.demo import ATTACKS, GENERATOR_VERSION, make_demo_corpus, read_demo_marker
from spoofbench.protocols.registry import asv_score_file

SMALL = dict(seed=11, n_train=24, n_dev=16, n_eval=32, n_speakers=(2, 2, 2), n_enrol=2, min_duration=0.8,
             max_duration=1.2, jobs=1)
# Big enough for EERs that mean something (40 bona fide / 120 spoofs per split), small enough for seconds.
MEDIUM = dict(seed=5, n_train=160, n_dev=16, n_eval=160, n_speakers=(4, 2, 4))


def eer(bona, spoof) -> float:
    """Equal error rate from sklearn's ROC (small local helper; higher score = bona fide)."""
    y = np.r_[np.ones(len(bona)), np.zeros(len(spoof))]
    fpr, tpr, _ = roc_curve(y, np.r_[bona, spoof])
    fnr = 1 - tpr
    i = np.nanargmin(np.abs(fnr - fpr))
    return float((fnr[i] + fpr[i]) / 2)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "small"
    make_demo_corpus(root, **SMALL)
    return root


@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "medium"
    make_demo_corpus(root, **MEDIUM)
    return root


def _digest(root) -> dict[str, str]:
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def test_layout_is_asvspoof2019_la(small):
    la = small / "LA"
    cm = la / "ASVspoof2019_LA_cm_protocols"
    assert sorted(os.listdir(cm)) == ["ASVspoof2019.LA.cm.dev.trl.txt", "ASVspoof2019.LA.cm.eval.trl.txt",
                                      "ASVspoof2019.LA.cm.train.trn.txt"]
    assert sorted(os.listdir(la / "ASVspoof2019_LA_asv_protocols")) == [
        f"ASVspoof2019.LA.asv.{s}.{g}.{k}.txt" for s in ("dev", "eval") for g, k in
        (("female", "trn"), ("gi", "trl"), ("male", "trn"))]
    assert sorted(os.listdir(la / "ASVspoof2019_LA_asv_scores")) == [
        "ASVspoof2019.LA.asv.dev.gi.trl.scores.txt", "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"]
    train = (cm / "ASVspoof2019.LA.cm.train.trn.txt").read_text().splitlines()
    assert len(train) == 24
    for line in train:
        spk, utt, dash, system, key = line.split(" ")
        assert spk.startswith("LA_00") and utt.startswith("LA_T_") and len(utt) == 12 and dash == "-"
        assert (key, system == "-") in (("bonafide", True), ("spoof", False))
    info = sf.info(str(la / "ASVspoof2019_LA_train/flac" / f"{train[0].split()[1]}.flac"))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", 16000, 1)
    # dev/eval folders also hold the ASV enrolment files, which are not CM trials (as in ASVspoof 2019)
    n_dev_files = len(os.listdir(la / "ASVspoof2019_LA_dev/flac"))
    assert n_dev_files == 16 + 2 * 2
    marker = read_demo_marker(small)
    assert marker["version"] == GENERATOR_VERSION and marker["params"]["seed"] == 11
    assert marker["counts"]["eval"] == {"bonafide": 8, "spoof": 24, "enrol": 4}
    assert "demo corpus" in (small / "README.md").read_text()


def test_protocol_and_metadata(small):
    assert detect_protocol(small) == "demo"
    t = load_trials(small)
    plain = load_trials(small, protocol="asvspoof2019-la")
    assert t["utt_id"].tolist() == plain["utt_id"].tolist()
    assert t.extra_columns == ["gender", "attack_type", "family", "vocoder", "source_speaker"]
    assert sorted(set(t.select(split="train")["attack"]) - {"-"}) == [f"A{i:02d}" for i in range(1, 7)]
    assert sorted(set(t.select(split="dev")["attack"]) - {"-"}) == [f"A{i:02d}" for i in range(1, 7)]
    assert sorted(set(t.select(split="eval")["attack"]) - {"-"}) == [f"A{i:02d}" for i in range(7, 20)]
    assert not set(t.select(split="train")["speaker"]) & set(t.select(split="eval")["speaker"])
    spoof = t.select(label="spoof")
    for attack, family in zip(spoof["attack"], spoof["family"]):
        assert ATTACKS[attack].family == family
    assert ATTACKS["A16"].vocoder == ATTACKS["A04"].vocoder and ATTACKS["A19"].vocoder == ATTACKS["A06"].vocoder
    vc = spoof[spoof["attack_type"] == "conversion"]
    assert len(vc) and all(s != "-" and s != t_ for s, t_ in zip(vc["source_speaker"], vc["speaker"]))
    assert set(t.select(label="bonafide")["attack_type"]) == {"-"}
    assert set(t["gender"]) == {"female", "male"}


def test_asv_files_are_consistent_and_the_asv_works(medium):
    la = medium / "LA"
    for split in ("dev", "eval"):
        trials = (la / f"ASVspoof2019_LA_asv_protocols/ASVspoof2019.LA.asv.{split}.gi.trl.txt").read_text().split("\n")
        scores_path = asv_score_file(medium, split)
        assert scores_path == str(la / f"ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt")
        scores = open(scores_path).read().split("\n")
        trials, scores = [x.split() for x in trials if x], [x.split() for x in scores if x]
        assert len(trials) == len(scores)
        for (_claimed, _utt, src, key), (src2, key2, value) in zip(trials, scores):
            assert (src, key) == (src2, key2) and key in ("target", "nontarget", "spoof")
            float(value)
        cm = {line.split()[1]: line.split() for line in
              (la / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{split}.trl.txt").read_text().splitlines()}
        assert {utt for _, utt, _, _ in trials} == set(cm)
    values = {k: np.array([float(v) for s, kk, v in scores if kk == k]) for k in ("target", "nontarget", "spoof")}
    assert eer(values["target"], values["nontarget"]) < 0.2     # a working speaker verifier (eval)
    threshold = np.sort(values["target"])[len(values["target"]) // 10]
    accepted = np.mean(values["spoof"] >= threshold)
    assert 0.05 < accepted < 1.0                                 # spoofs fool it sometimes: t-DCF is defined


def test_same_seed_same_bytes_other_seed_other_bytes(small, tmp_path):
    again = tmp_path / "again"
    make_demo_corpus(again, **SMALL)
    assert _digest(again) == _digest(small)
    other = tmp_path / "other"
    make_demo_corpus(other, **{**SMALL, "seed": 12})
    a, b = _digest(small), _digest(other)
    assert a.keys() != b.keys() or all(a[k] != b[k] for k in a if k.endswith(".flac"))


def test_parallel_rendering_gives_the_same_bytes(small, tmp_path):
    make_demo_corpus(tmp_path / "par", **{**SMALL, "jobs": 2})
    assert _digest(tmp_path / "par") == _digest(small)


def test_reuse_force_and_refusal(tmp_path):
    root = tmp_path / "c"
    params = {**SMALL, "n_train": 12, "n_dev": 8, "n_eval": 24}
    info = make_demo_corpus(root, **params)
    marker = root / "demo_corpus.json"
    stamp = marker.stat().st_mtime_ns
    assert make_demo_corpus(root, **params) == info and marker.stat().st_mtime_ns == stamp   # reused
    with pytest.raises(BenchError, match="other parameters .* pass --force"):
        make_demo_corpus(root, **{**params, "seed": 1})
    make_demo_corpus(root, **{**params, "seed": 1}, force=True)
    assert read_demo_marker(root)["params"]["seed"] == 1
    # an incomplete corpus (a file lost) is rebuilt, not reused
    victim = next((root / "LA/ASVspoof2019_LA_train/flac").iterdir())
    victim.unlink()
    make_demo_corpus(root, **{**params, "seed": 1})
    assert victim.exists()
    with pytest.raises(ConfigError, match="at least 2 bona fide trials and one spoof per attack"):
        make_demo_corpus(tmp_path / "x", n_eval=10)
    assert not list(tmp_path.glob(".*building*"))  # no temporary folder left behind


def _channel_cues(path):
    """Duration, level and bandwidth cues of one file."""
    x, rate = sf.read(path)
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    cumulative = np.cumsum(power)
    rolloff = freqs[np.searchsorted(cumulative, 0.95 * cumulative[-1])]
    smooth = np.convolve(power, np.ones(101) / 101, mode="same")
    level = 10 * np.log10(smooth + 1e-20)
    bandwidth = freqs[np.nonzero(level > level.max() - 30)[0].max()]
    return [len(x) / rate, 10 * np.log10(np.mean(x ** 2)), 20 * np.log10(np.max(np.abs(x))), rolloff, bandwidth]


def _cue_eer(train_x, train_y, test_x, test_y):
    clf = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced")).fit(train_x, train_y)
    s = clf.decision_function(test_x)
    return eer(s[test_y == 1], s[test_y == 0])


def test_channel_cues_do_not_separate_the_classes(medium):
    t = load_trials(medium)
    cues = np.array([_channel_cues(p) for p in t["path"]])
    train, test = t["split"] == "train", t["split"] == "eval"
    rate = _cue_eer(cues[train], t.y[train], cues[test], t.y[test])
    assert rate > 0.33, f"duration/level/bandwidth separate bona fide from spoof: EER {rate:.1%}"
    # The same classifier does find a cue when there is one (so the check above can fail):
    leaky = cues.copy()
    leaky[:, 0] += 2.5 * (t.y == 0)   # spoofs 2.5 s longer
    assert _cue_eer(leaky[train], t.y[train], leaky[test], t.y[test]) < 0.05


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 20 EM iterations on purpose
def test_a_real_countermeasure_finds_the_artefacts(medium):
    """Frame-level LFCCs with one Gaussian mixture per class (a small LFCC-GMM) detect the spoofs."""
    from scipy.fft import dct
    from sklearn.mixture import GaussianMixture

    edges = np.linspace(0, 256, 22)
    bins = np.arange(257)
    bank = np.stack([np.clip(np.minimum((bins - a) / (b - a), (c - bins) / (c - b)), 0, None)
                     for a, b, c in zip(edges[:-2], edges[1:-1], edges[2:])])

    def lfcc(path):
        x, _ = sf.read(path)
        frames = np.lib.stride_tricks.sliding_window_view(np.append(x[0], x[1:] - 0.97 * x[:-1]), 320)[::160]
        power = np.abs(np.fft.rfft(frames * np.hamming(320), 512, axis=1)) ** 2
        c = dct(np.log10(power @ bank.T + 1e-10), norm="ortho", axis=1)[:, :20]
        return np.hstack([c, np.gradient(c, axis=0)])

    t = load_trials(medium)
    feats = {u: lfcc(p) for u, p in zip(t["utt_id"], t["path"])}
    train = t.select(split="train")
    models = {label: GaussianMixture(16, covariance_type="diag", max_iter=20, random_state=0).fit(
        np.vstack([feats[u] for u in train["utt_id"][train.y == label]])) for label in (0, 1)}
    test = t.select(split="eval")
    s = np.array([models[1].score(feats[u]) - models[0].score(feats[u]) for u in test["utt_id"]])
    pooled = eer(s[test.y == 1], s[test.y == 0])
    assert pooled < 0.3, f"a small LFCC-GMM does not find the spoofs: EER {pooled:.1%}"
