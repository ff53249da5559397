"""Codecs really run: outputs differ from the input, come back at the input rate and length, lined up with it;
a narrowband codec removes the band above 4 kHz; bad input raises TransformFailed, bad specs one line."""
import numpy as np
import pytest

from spoofbench.augment import TransformError, TransformFailed, parse_transform
from spoofbench.augment import codecs as codec_module

RATE = 16000


def speechlike(n=RATE, rate=RATE, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    f0 = 130 + 20 * np.sin(2 * np.pi * 2 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 40) if k * 160 < rate / 2)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)
    return (0.15 * envelope * voiced + 0.01 * rng.standard_normal(n)).astype(np.float32)


def band_energy(wave, rate, low, high):
    spec = np.abs(np.fft.rfft(wave.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1 / rate)
    return float(spec[(freqs >= low) & (freqs < high)].sum())


CODEC_SPECS = ["codec:mp3@16k", "codec:aac@32k", "codec:opus@12k", "codec:opus@6k", "codec:opus-nb@8k",
               "codec:amr-nb@12.2k", "codec:gsm", "codec:g722", "codec:alaw", "codec:ulaw", "codec:g726@32k", "pstn"]


@pytest.mark.parametrize("spec", CODEC_SPECS)
def test_codec_runs_and_lines_up(spec):
    x = speechlike()
    y = parse_transform(spec).apply(x, RATE, seed=0, utt_id="u1")
    assert y.dtype == np.float32 and y.shape == x.shape
    err = float(np.mean((y - x) ** 2) / np.mean(x ** 2))
    assert err > 1e-6, f"{spec}: output equals the input"
    # aligned: the output correlates with the input at lag 0 far better than a 5 ms shift would
    lag0 = float(np.dot(x, y))
    shifted = float(np.dot(x[80:], y[:-80]))
    assert lag0 > 0 and lag0 > shifted, spec


@pytest.mark.parametrize("spec", ["codec:opus-nb@8k", "codec:amr-nb@12.2k", "codec:gsm", "codec:alaw", "codec:ulaw",
                                  "pstn"])
def test_narrowband_codecs_remove_the_upper_band(spec):
    x = speechlike()
    y = parse_transform(spec).apply(x, RATE, seed=0, utt_id="u1")
    ratio_in = band_energy(x, RATE, 4200, 8000) / band_energy(x, RATE, 0, 4000)
    ratio_out = band_energy(y, RATE, 4200, 8000) / band_energy(y, RATE, 0, 4000)
    assert ratio_out < 0.05 * ratio_in


def test_codecs_work_at_other_rates():
    for rate in (8000, 22050, 44100):
        x = speechlike(rate // 2, rate)
        for spec in ("codec:mp3@32k", "codec:opus@12k", "codec:gsm"):
            y = parse_transform(spec).apply(x, rate, seed=0, utt_id="u")
            assert y.shape == x.shape and not np.array_equal(x, y)


def test_decoded_at_the_codec_rate(monkeypatch):
    """The encoder really ran at the codec's own rate (8 kHz for AMR-NB, 16 kHz for G.722)."""
    seen = []
    real = codec_module.encode_decode_av

    def spy(wave, rate, codec, bitrate):
        out = real(wave, rate, codec, bitrate)
        seen.append((codec.encoder, rate, len(wave), len(out)))
        return out

    monkeypatch.setattr(codec_module, "encode_decode_av", spy)
    x = speechlike()
    parse_transform("codec:amr-nb@12.2k").apply(x, RATE)
    parse_transform("codec:g722").apply(x, RATE)
    assert seen[0][:2] == ("libopencore_amrnb", 8000) and abs(seen[0][3] - seen[0][2]) < 0.1 * seen[0][2]
    assert seen[1][:2] == ("g722", 16000) and abs(seen[1][3] - seen[1][2]) < 0.1 * seen[1][2]


def test_lower_bitrate_degrades_more():
    x = speechlike()
    errs = [float(np.mean((parse_transform(f"codec:opus@{b}k").apply(x, RATE) - x) ** 2)) for b in (6, 32)]
    assert errs[0] > errs[1]


def test_deterministic_bytes():
    x = speechlike()
    t = parse_transform("codec:mp3@16k")
    assert t.apply(x, RATE).tobytes() == t.apply(x, RATE).tobytes()


def test_too_short_and_silent_input_fail():
    t = parse_transform("codec:opus@12k")
    with pytest.raises(TransformFailed, match="too short"):
        t.apply(speechlike(100), RATE)
    with pytest.raises(TransformFailed, match="silence"):
        t.apply(np.zeros(RATE, np.float32), RATE)


def test_missing_encoder_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(codec_module.CODECS, "mp3", codec_module.CodecSpec("no_such_encoder", "mp3", (16000,),
                                                                           default_bitrate=32000))
    with pytest.raises(TransformError, match="no 'no_such_encoder' encoder"):
        parse_transform("codec:mp3@32k")


@pytest.mark.parametrize("spec, message", [
    ("codec:flac", "unknown codec 'flac'; valid: mp3, aac"),
    ("codec:amr-nb@13k", "amr-nb bit rates: 4.75k"),
    ("codec:g722@64k", "fixed bit rate"),
    ("codec:opus@2k", "bit rate must be 6k to 510k"),
    ("codec:mp3@fast", "expected a rate like"),
    ("resample:abc", "expected a rate like"),
    ("pstn:8k", "takes no argument"),
])
def test_bad_codec_specs(spec, message):
    with pytest.raises(TransformError, match=message.replace("(", r"\(")) as err:
        parse_transform(spec)
    assert "\n" not in str(err.value)


def test_canonical_specs():
    assert parse_transform("codec:mp3@16000").spec == "codec:mp3@16k"
    assert parse_transform("codec:opus").spec == "codec:opus@12k"
    assert parse_transform("codec:gsm").spec == "codec:gsm"


@pytest.mark.parametrize("rate_spec, cutoff", [("8k", 4000), ("11.025k", 5512.5)])
def test_resample_removes_the_band_above_nyquist(rate_spec, cutoff):
    x = speechlike()
    y = parse_transform(f"resample:{rate_spec}").apply(x, RATE)
    assert y.shape == x.shape
    assert band_energy(y, RATE, cutoff + 200, 8000) < 1e-3 * band_energy(x, RATE, cutoff + 200, 8000)
    # the band below is kept (and in place)
    low_in, low_out = band_energy(x, RATE, 100, cutoff - 500), band_energy(y, RATE, 100, cutoff - 500)
    assert low_out == pytest.approx(low_in, rel=0.05)
    assert float(np.dot(x, y)) / float(np.dot(x, x)) > 0.8
