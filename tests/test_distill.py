"""Knowledge distillation (neural.training.Distillation, spoofbench.deploy.distill, `bench distill`)."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _tiny_corpus import bench
from _untrained import untrained

from spoofbench.benchmark.decisions import fit_decision_policy, read_decisions
from spoofbench.detectors.neural.training import Distillation
from spoofbench.protocols.errors import ConfigError

pytestmark = pytest.mark.usefixtures("private_cache")


def _policy(weight=1.0, bias=0.0):
    rng = np.random.default_rng(0)
    policy = fit_decision_policy(np.r_[rng.normal(1, 1, 40), rng.normal(-1, 1, 60)], np.r_[np.ones(40), np.zeros(60)])
    policy.weight, policy.bias = weight, bias
    return policy


def test_distillation_loss_mixes_labels_and_teacher():
    logits = torch.tensor([[0.2, 1.0], [1.5, -0.5], [0.0, 0.3]])
    y = torch.tensor([1, 0, 0])
    label_loss = F.cross_entropy(logits, y, reduction="none")
    teacher_odds = torch.tensor([2.0, -1.0, 0.5])
    x = torch.zeros(3, 10)
    for weight, temperature in [(0.0, 1.0), (1.0, 1.0), (0.3, 2.0)]:
        d = Distillation(lambda batch: teacher_odds, weight, temperature)
        got = d.mix(label_loss, logits, x, "difference")
        student = (logits[:, 1] - logits[:, 0]) / temperature
        soft = F.binary_cross_entropy_with_logits(student, torch.sigmoid(teacher_odds / temperature),
                                                  reduction="none") * temperature ** 2
        torch.testing.assert_close(got, (1 - weight) * label_loss + weight * soft)
    # the teacher term is smallest where the student agrees with the teacher
    d = Distillation(lambda batch: teacher_odds, 1.0)
    agree = torch.stack([torch.zeros(3), teacher_odds], dim=1)
    assert (d.mix(label_loss, agree, x, "difference") <= d.mix(label_loss, logits, x, "difference")).all()


def test_student_follows_the_teacher(corpus):
    """Two students, the same in all but the teacher (one calls everything bona fide, the other spoof), trained on
    the teacher alone (weight 1): each moves its scores toward its teacher. The teacher sees the student's crops."""
    from spoofbench import load_trials
    from spoofbench.deploy.distill import make_student

    train, dev = load_trials(corpus, split="train"), load_trials(corpus, split="dev")
    teacher = untrained("rawnet2.small")
    means, seen = {}, []
    for bias in (6.0, -6.0):
        student = make_student("rawnet2.small", teacher, _policy(weight=0.0, bias=bias), weight=1.0,
                               params={"epochs": 3, "batch_size": 4, "lr": 5e-3, "progress": False})
        inner = student._distillation.teacher
        student._distillation.teacher = lambda x, inner=inner: seen.append(tuple(x.shape)) or inner(x)
        student.fit(train)   # no dev: the last epoch is kept; batches of 4: BatchNorm statistics settle
        means[bias] = float(np.mean(student.score(dev)))
    assert seen and all(shape[1] == student.n_samples for shape in seen)
    assert means[6.0] > 0 > means[-6.0], means


def test_make_student_refuses_bad_students():
    from spoofbench.deploy.distill import make_student

    teacher = untrained("rawnet2.small")
    with pytest.raises(ConfigError, match="must be a neural detector preset that trains"):
        make_student("lfcc-gmm.small", teacher, _policy())
    with pytest.raises(ConfigError, match="weight"):
        make_student("rawnet2.small", teacher, _policy(), weight=1.5)


def test_bench_distill_writes_the_student_and_compares(corpus, tmp_path):
    teacher = untrained("rawnet2.small")
    teacher.save(tmp_path / "teacher.det", decisions=_policy(weight=2.0, bias=-0.5))
    out, report = tmp_path / "student.det", tmp_path / "distill.json"
    r = bench("distill", "--teacher", tmp_path / "teacher.det", "--student", "rawnet2.small", "--data", corpus,
              "--set", "epochs=1", "--set", "sinc_filters=8", "--set", "progress=false", "--out", out,
              "--json", report)
    assert r.exit_code == 0, r.output
    assert "| teacher |" in r.output and "| student |" in r.output
    assert read_decisions(out) is not None
    rows = json.loads(report.read_text())
    assert [row["role"] for row in rows] == ["teacher", "student"]
    assert rows[1]["parameters"] < rows[0]["parameters"]    # 8 sinc filters instead of 16
    for row in rows:
        assert 0 <= row["eer"] <= 1 and row["latency_ms"]["1"] > 0 and row["bytes"] > 0
