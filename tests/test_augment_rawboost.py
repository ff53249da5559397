"""RawBoost draws from the official distributions: on the input the official code processed
(tests/fixtures/rawboost_official_record.py), the statistics of our outputs (SNR, level, share of changed
samples, peak, spectral tilt) match those of the official outputs (two-sample Kolmogorov-Smirnov test, and the
ranges the official parameters imply)."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps_stats

from spoofbench.augment import parse_transform
from spoofbench.augment.rawboost import OFFICIAL

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from rawboost_official_record import RATE, stats  # noqa: E402
from rawboost_official_record import test_input as official_input  # noqa: E402

OFFICIAL_STATS = json.loads((FIXTURES / "rawboost_official.json").read_text())
DRAWS = 80  # ours; the official side has OFFICIAL_STATS["draws"]


@pytest.fixture(scope="module")
def ours():
    x = official_input().astype(np.float32).astype(np.float64)  # our transforms return float32
    out = {}
    for algo in range(1, 9):
        t = parse_transform(f"rawboost:{algo}")
        rows = [stats(x, t.apply(x, RATE, seed=seed, utt_id="fixture")) for seed in range(DRAWS)]
        out[algo] = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return out


def test_official_parameters():
    args = OFFICIAL_STATS["args"]
    assert (OFFICIAL.n_bands, OFFICIAL.min_f, OFFICIAL.max_f, OFFICIAL.min_bw, OFFICIAL.max_bw) == \
        (args["nBands"], args["minF"], args["maxF"], args["minBW"], args["maxBW"])
    assert (OFFICIAL.min_coeff, OFFICIAL.max_coeff, OFFICIAL.min_g, OFFICIAL.max_g, OFFICIAL.n_f) == \
        (args["minCoeff"], args["maxCoeff"], args["minG"], args["maxG"], args["N_f"])
    assert (OFFICIAL.min_bias_lin_nonlin, OFFICIAL.max_bias_lin_nonlin, OFFICIAL.p, OFFICIAL.g_sd) == \
        (args["minBiasLinNonLin"], args["maxBiasLinNonLin"], args["P"], args["g_sd"])
    assert (OFFICIAL.snr_min, OFFICIAL.snr_max) == (args["SNRmin"], args["SNRmax"])


@pytest.mark.parametrize("algo", range(1, 9))
def test_statistics_match_the_official_code(ours, algo):
    official = OFFICIAL_STATS["algorithms"][str(algo)]
    for name, theirs in official.items():
        theirs, mine = np.array(theirs), ours[algo][name]
        if np.ptp(theirs) < 1e-9:  # a constant statistic (e.g. every sample changed): equal within rounding
            assert np.allclose(mine, theirs[0], atol=1e-3), (algo, name)
            continue
        p = sps_stats.ks_2samp(theirs, mine).pvalue
        assert p > 1e-3, f"rawboost:{algo} {name}: distributions differ (KS p={p:.2g}; official median " \
                         f"{np.median(theirs):.4g}, ours {np.median(mine):.4g})"


@pytest.mark.parametrize("taps, low, high, fs", [(11, 20.0, 520.0, 16000), (99, 3000.0, 3900.0, 16000),
                                                 (51, 7500.0, 7999.999, 16000), (31, 100.0, 1100.0, 8000)])
def test_band_stop_design_equals_scipy_firwin(taps, low, high, fs):
    from scipy import signal as sps

    from spoofbench.augment.rawboost import _bandstop

    np.testing.assert_allclose(_bandstop(taps, low, high, fs),
                               sps.firwin(taps, [low, high], window="hamming", fs=fs), rtol=1e-9, atol=1e-12)


def test_algorithm_3_snr_range_and_algorithm_2_share(ours):
    snr = ours[3]["snr_db"]  # additive noise only: the SNR drawn, uniform in [10, 40] dB
    assert snr.min() >= 10 - 1e-6 and snr.max() <= 40 + 1e-6 and np.ptp(snr) > 20
    changed = ours[2]["changed"]  # impulsive noise: a share uniform in [0, 10] % of the samples
    assert changed.max() <= 0.10 and 0.03 < changed.mean() < 0.07


def test_rawboost_works_at_other_rates():
    for rate in (8000, 44100):
        x = official_input(rate // 2)
        for algo in (1, 3, 4):
            y = parse_transform(f"rawboost:{algo}").apply(x, rate, seed=1, utt_id="u")
            assert y.shape == x.shape and np.all(np.isfinite(y)) and not np.allclose(x, y)
