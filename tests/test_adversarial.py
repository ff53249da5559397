"""White-box waveform attacks (detectors/neural/adversarial.py): budget as SNR, direction, determinism, the
detector's own input rule, and batches for adversarial training."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from spoofbench.detectors.neural.adversarial import (
    AttackSpec,
    input_index,
    parse_attack,
    perturb,
    perturb_batch,
)
from spoofbench.detectors.neural.data import fit_length, sliding_windows
from spoofbench.protocols.errors import ConfigError


class TinyNet(nn.Module):
    """A small non-linear network on fixed-length windows: (batch, 400) -> (batch, 2) logits."""

    def __init__(self, n: int = 400):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(1, 4, 9, stride=4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.tanh(self.conv(x[:, None, :])).mean(dim=2)
        return self.head(h)


def _score(model, wave, n=400):
    with torch.no_grad():
        logits = model(torch.from_numpy(fit_length(wave, n))[None])
    return float(logits[0, 1] - logits[0, 0])


def _snr(clean, adv):
    noise = adv.astype(np.float64) - clean
    return 10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum(noise ** 2))


@pytest.mark.parametrize("text, expected", [
    ("fgsm@40dB", AttackSpec("fgsm", 40.0, 1)), ("pgd@30dB", AttackSpec("pgd", 30.0, 10)),
    ("pgd20@25.5dB", AttackSpec("pgd", 25.5, 20)), (" pgd @ 40dB", AttackSpec("pgd", 40.0, 10)),
])
def test_parse_attack(text, expected):
    assert parse_attack(text) == expected
    assert parse_attack(expected.spec) == expected  # the canonical spec reads back


@pytest.mark.parametrize("text", ["fgsm", "pgd@40", "cw@40dB", "fgsm3@40dB", "pgd0@40dB", ""])
def test_parse_attack_rejects(text):
    with pytest.raises(ConfigError, match="^adversarial attack "):
        parse_attack(text)


@pytest.mark.parametrize("length, mode", [(1000, "first"), (250, "first"), (1300, "sliding"), (300, "sliding"),
                                          (777, "whole")])
def test_input_index_is_the_detectors_input_rule(length, mode):
    wave = np.random.default_rng(1).standard_normal(length).astype(np.float32)
    index = input_index(length, 400, mode, 150)
    expected = {"first": lambda: fit_length(wave, 400)[None], "sliding": lambda: sliding_windows(wave, 400, 150),
                "whole": lambda: wave[None]}[mode]()
    np.testing.assert_array_equal(wave[index], expected)


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
@pytest.mark.parametrize("snr", [40.0, 20.0])
def test_budget_direction_and_determinism(method, snr):
    model = TinyNet()
    rng = np.random.default_rng(0)
    waves = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (600, 300)]  # one longer, one tiled
    attack = AttackSpec(method, snr, 1 if method == "fgsm" else 10)
    up = perturb(model, waves, np.array([1, 1]), attack, n_samples=400)
    down = perturb(model, waves, np.array([0, 0]), attack, n_samples=400)
    for clean, a, b in zip(waves, up, down):
        assert a.shape == clean.shape and a.dtype == np.float32
        # FGSM spends the whole budget; PGD stays inside it (float32 rounding aside)
        if method == "fgsm":
            assert _snr(clean, a) == pytest.approx(snr, abs=0.01)
        else:
            assert _snr(clean, a) >= snr - 0.01
        assert _score(model, a) > _score(model, clean) > _score(model, b)
    again = perturb(model, waves, np.array([1, 1]), attack, n_samples=400)
    for a, b in zip(up, again):
        np.testing.assert_array_equal(a, b)


def test_only_the_samples_the_detector_reads_change():
    model = TinyNet()
    wave = 0.1 * np.random.default_rng(2).standard_normal(1000).astype(np.float32)
    (adv,) = perturb(model, [wave], np.array([1]), AttackSpec("pgd", 30.0, 5), n_samples=400)
    np.testing.assert_array_equal(adv[400:], wave[400:])  # first-window scoring reads samples 0..399 only
    assert np.any(adv[:400] != wave[:400])


def test_pgd_beats_fgsm_and_model_state_is_restored():
    model = TinyNet().train()
    wave = 0.1 * np.random.default_rng(3).standard_normal(400).astype(np.float32)
    fgsm = perturb(model, [wave], np.array([1]), AttackSpec("fgsm", 30.0, 1), n_samples=400)[0]
    pgd = perturb(model, [wave], np.array([1]), AttackSpec("pgd", 30.0, 20), n_samples=400)[0]
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    assert _score(model, pgd) >= _score(model, fgsm) - 1e-6


def test_silence_has_no_budget():
    model = TinyNet()
    (adv,) = perturb(model, [np.zeros(400, np.float32)], np.array([1]), AttackSpec("pgd", 40.0, 3), n_samples=400)
    np.testing.assert_array_equal(adv, 0)


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_perturb_batch_budget_per_row_and_padding(method):
    model = TinyNet()
    x = 0.1 * torch.randn(3, 400, generator=torch.Generator().manual_seed(4))
    x[2, 300:] = 0  # zero padding of a shorter utterance
    y = torch.tensor([0, 1, 0])
    adv = perturb_batch(model, x, 1 - y, AttackSpec(method, 30.0, 1 if method == "fgsm" else 5))
    for i in range(3):
        snr = _snr(x[i].numpy(), adv[i].numpy())
        assert snr >= 30.0 - 0.01 and (method == "pgd" or snr == pytest.approx(30.0, abs=0.01))
    assert torch.all(adv[2, 300:] == 0)
    with torch.no_grad():
        before, after = model(x), model(adv)
    diff_before, diff_after = before[:, 1] - before[:, 0], after[:, 1] - after[:, 0]
    assert diff_after[0] > diff_before[0] and diff_after[2] > diff_before[2]  # spoofs pushed to bona fide
    assert diff_after[1] < diff_before[1]                                        # bona fide pushed to spoof


def test_rawnet2_gradient_reaches_the_waveform():
    from spoofbench.detectors import create_detector

    det = create_detector("rawnet2.small")
    model = det.build_model().eval()
    wave = 0.05 * np.random.default_rng(5).standard_normal(int(det.n_samples)).astype(np.float32)
    (adv,) = perturb(model, [wave], np.array([1]), AttackSpec("pgd", 40.0, 3), n_samples=int(det.n_samples))
    assert _snr(wave, adv) >= 40.0 - 0.01
    with torch.no_grad():
        s = [float((lambda o: o[0, 1] - o[0, 0])(model(torch.from_numpy(w)[None]))) for w in (wave, adv)]
    assert s[1] > s[0]


def test_mix_adversarial_replaces_every_other_item():
    from spoofbench.detectors.neural.adversarial import mix_adversarial

    model = TinyNet()
    x = 0.1 * torch.randn(5, 400, generator=torch.Generator().manual_seed(6))
    mixed = mix_adversarial(model, x, torch.tensor([0, 1, 0, 1, 1]), AttackSpec("fgsm", 30.0, 1))
    for i in range(5):
        changed = not torch.equal(mixed[i], x[i])
        assert changed == (i % 2 == 0)
        if changed:
            assert _snr(x[i].numpy(), mixed[i].numpy()) == pytest.approx(30.0, abs=0.01)


def test_adversarial_training_changes_the_model_and_stays_reproducible(corpus):
    from spoofbench.detectors import create_detector
    from spoofbench.protocols import load_trials

    train = load_trials(corpus, split="train").select(max_count=16, seed=0)

    def fit(**extra):
        det = create_detector("rawnet2.small", epochs=1, batch_size=8, progress=False, **extra).fit(train)
        return det, {k: v.clone() for k, v in det.model_.state_dict().items()}

    _, plain = fit()
    det, adv = fit(adversarial_training="fgsm@30dB")
    _, adv_again = fit(adversarial_training="fgsm@30dB")
    assert any(not torch.equal(plain[k], adv[k]) for k in plain if plain[k].is_floating_point())
    for k in adv:
        torch.testing.assert_close(adv[k], adv_again[k], rtol=0, atol=0)
    assert det.get_params()["adversarial_training"] == "fgsm@30dB"
