"""The transform families' promised properties: SNR on target, band-pass, packet loss, reverberation, time and
pitch; determinism for (seed, utterance id); the spec parser and the augment= notation."""
import numpy as np
import pytest
import soundfile as sf
from test_augment_codecs import band_energy, speechlike

from spoofbench.augment import (
    Augmentation,
    TransformError,
    TransformFailed,
    available_transforms,
    parse_augment,
    parse_transform,
    split_specs,
)
from spoofbench.augment.noise import coloured_noise
from spoofbench.augment.signal import signal_power

RATE = 16000


def snr_of(clean, noisy):
    return 10 * np.log10(signal_power(clean) / signal_power(noisy.astype(np.float64) - clean))


@pytest.fixture
def speech_folder(tmp_path):
    folder = tmp_path / "speech"
    (folder / "a").mkdir(parents=True)
    for i in range(4):
        sf.write(folder / "a" / f"s{i}.wav", speechlike(RATE // 2 + 1000 * i, RATE, seed=10 + i), RATE)
    sf.write(folder / "long.flac", speechlike(3 * RATE, RATE, seed=20), RATE)
    return folder


@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
@pytest.mark.parametrize("snr", [0, 10, 25])
def test_generated_noise_hits_the_snr(colour, snr):
    x = speechlike()
    y = parse_transform(f"noise:{colour}@{snr}dB").apply(x, RATE, seed=3, utt_id="u")
    assert abs(snr_of(x, y) - snr) < 0.5


def test_noise_colours_have_their_slopes():
    rng = np.random.default_rng(0)
    for exponent, low_high_db in ((0, (-1, 1)), (1, (8, 12)), (2, (18, 22))):
        noise = coloured_noise(1 << 16, exponent, rng)
        # power in 100-200 Hz vs 1000-2000 Hz (same octave width): 1/f -> 10 dB, 1/f^2 -> 20 dB
        ratio = 10 * np.log10(band_energy(noise, RATE, 100, 200) / band_energy(noise, RATE, 1000, 2000) * 10)
        assert low_high_db[0] < ratio < low_high_db[1], (exponent, ratio)


def test_folder_and_babble_noise_hit_the_snr(speech_folder):
    x = speechlike()
    for spec in (f"noise:dir={speech_folder}@5dB", f"noise:babble={speech_folder}@5dB"):
        y = parse_transform(spec).apply(x, RATE, seed=1, utt_id="u")
        assert abs(snr_of(x, y) - 5) < 0.5, spec


def test_folder_paths_with_spaces_commas_and_parentheses_go_in_quotes(speech_folder, tmp_path):
    odd = tmp_path / "My Noises, (2024)+more"
    speech_folder.rename(odd)
    x = speechlike()
    for quoted in (f'noise:dir="{odd}"@5dB', f"noise:dir='{odd}' @ 5dB"):
        t = parse_transform(quoted)
        assert t.spec == f'noise:dir="{odd}"@5dB'  # canonical: quoted again, so it parses back
        assert parse_transform(t.spec).spec == t.spec
        assert abs(snr_of(x, t.apply(x, RATE, seed=1, utt_id="u")) - 5) < 0.5
    chained = parse_transform(f'chain(gain:-3dB, noise:dir="{odd}"@10dB)')
    assert chained.spec == f'chain(gain:-3dB,noise:dir="{odd}"@10dB)'
    assert split_specs(f'noise:dir="{odd}"@5dB,pstn') == [f'noise:dir="{odd}"@5dB', "pstn"]
    aug = parse_augment(f'0.5*noise:dir="{odd}"@5dB+0.5*gain:-6dB')
    assert [p for p, _ in aug.terms] == [0.5, 0.5]
    with pytest.raises(TransformError, match="unclosed quote"):
        parse_transform(f'noise:dir="{odd}@5dB')
    # without quotes the comma and parentheses are the grammar's: a one-line error, not a wrong folder
    with pytest.raises(TransformError, match="malformed spec"):
        parse_transform(f"noise:dir={odd}@5dB")


def test_babble_bound_by_the_caller(speech_folder):
    x = speechlike()
    babble = parse_transform("chain(noise:babble@10dB,gain:0dB)")
    assert babble.needs_speech
    with pytest.raises(TransformError, match="has no speech to mix.*noise:babble=/path/to/speech@10dB"):
        babble.apply(x, RATE)
    bound = babble.bind_speech(sorted(speech_folder.rglob("*.wav")))
    assert not bound.needs_speech
    assert abs(snr_of(x, bound.apply(x, RATE, utt_id="u")) - 10) < 0.5


def test_empty_noise_folder_is_a_clear_error(tmp_path):
    with pytest.raises(TransformError, match="no audio files"):
        parse_transform(f"noise:dir={tmp_path}@5dB")
    with pytest.raises(TransformError, match="neither a folder nor a list file"):
        parse_transform(f"noise:dir={tmp_path}/missing@5dB")


@pytest.mark.parametrize("low, high", [(300, 3400), (1000, 2000)])
def test_bandpass_removes_energy_outside_the_band(low, high):
    x = speechlike() + 0.05 * np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    y = parse_transform(f"bandpass:{low}-{high}").apply(x, RATE)
    total = band_energy(x, RATE, 0, RATE / 2)
    outside = band_energy(y, RATE, 0, low / 2) + band_energy(y, RATE, high * 1.5, RATE / 2)
    assert outside < 1e-4 * total
    inside_in, inside_out = band_energy(x, RATE, low * 1.3, high / 1.1), band_energy(y, RATE, low * 1.3, high / 1.1)
    assert inside_out == pytest.approx(inside_in, rel=0.1)


def test_packet_loss_drops_20ms_frames():
    x = speechlike(4 * RATE) + 0.3
    y = parse_transform("packetloss:20%").apply(x, RATE, seed=0, utt_id="u")
    frames = (y == 0).reshape(-1, 320)
    assert set(frames.sum(axis=1).tolist()) <= {0, 320}  # whole frames lost
    assert 0.12 < frames.all(axis=1).mean() < 0.28
    kept = ~(y == 0)
    assert np.array_equal(y[kept], x[kept])


@pytest.mark.parametrize("rt60", [0.3, 0.6, 1.0])
def test_simulated_rooms_decay_in_rt60(rt60):
    import pyroomacoustics as pra

    from spoofbench.augment.rooms import simulated_rirs

    for rir in simulated_rirs(rt60, RATE):
        assert pra.experimental.measure_rt60(rir, fs=RATE) == pytest.approx(rt60, rel=0.1)


def test_reverb_simulated_and_from_files(tmp_path):
    x = speechlike()
    y = parse_transform("reverb:rt60=0.6").apply(x, RATE, seed=0, utt_id="u")
    assert y.shape == x.shape and signal_power(y) == pytest.approx(signal_power(x), rel=1e-3)
    # the reverberant tail smears the signal: its envelope varies less than the dry one
    assert 0.2 < float(np.corrcoef(x, y)[0, 1]) < 0.99
    rir = np.zeros(4000, np.float32)
    rir[100], rir[1100] = 1.0, 0.5  # direct path + one echo 62.5 ms later
    (tmp_path / "rirs").mkdir()
    sf.write(tmp_path / "rirs" / "echo.wav", rir, RATE)
    z = parse_transform(f"reverb:dir={tmp_path / 'rirs'}").apply(x, RATE, seed=0, utt_id="u")
    expected = x.astype(np.float64).copy()
    expected[1000:] += 0.5 * x[:-1000]
    expected *= np.sqrt(signal_power(x) / signal_power(expected))
    assert np.allclose(z, expected, atol=1e-4)


def test_stretch_and_pitch():
    x = speechlike()
    assert len(parse_transform("stretch:1.25").apply(x, RATE)) == pytest.approx(len(x) / 1.25, abs=300)
    y = parse_transform("pitch:+2").apply(x, RATE)
    assert len(y) == len(x)
    # the harmonic comb moves up by 2 semitones: the spectral centroid of the low band rises ~12 %
    def centroid(w):
        spec = np.abs(np.fft.rfft(w)) ** 2
        f = np.fft.rfftfreq(len(w), 1 / RATE)
        m = f < 2000
        return float((spec[m] * f[m]).sum() / spec[m].sum())
    assert 1.06 < centroid(y) / centroid(x) < 1.2


def test_clip_and_gain():
    x = speechlike()
    y = parse_transform("clip:0.5").apply(x, RATE)
    assert np.max(np.abs(y)) == pytest.approx(0.5 * np.max(np.abs(x)), rel=1e-6)
    assert np.allclose(parse_transform("gain:-6dB").apply(x, RATE), x * 10 ** (-6 / 20), rtol=1e-6)
    assert parse_transform("clip:-6dB").spec == "clip:-6dB"


ALL_SPECS = ["gain:3dB", "clip:0.3", "noise:white@10dB", "noise:pink@5dB", "noise:brown@20dB", "codec:mp3@32k",
             "codec:gsm", "resample:8k", "pstn", "bandpass:300-3400", "packetloss:10%", "stretch:1.05",
             "pitch:+1", "reverb:rt60=0.3", "rawboost:4", "chain(codec:mp3@32k,noise:white@20dB)"]


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_same_seed_same_bytes_and_other_seeds_differ(spec):
    x = speechlike()
    t = parse_transform(spec)
    a = t.apply(x, RATE, seed=5, utt_id="LA_T_1")
    assert a.tobytes() == parse_transform(spec).apply(x, RATE, seed=5, utt_id="LA_T_1").tobytes()
    assert a.dtype == np.float32 and np.all(np.isfinite(a))
    random_kind = spec.split(":")[0] in ("noise", "packetloss", "reverb", "rawboost", "chain")
    if random_kind:  # other seeds and utterances draw otherwise (reverb: among a bank of 8 rooms)
        assert len({t.apply(x, RATE, seed=s, utt_id="LA_T_1").tobytes() for s in range(5, 9)}) > 1
        assert len({t.apply(x, RATE, seed=5, utt_id=f"LA_T_{i}").tobytes() for i in range(1, 5)}) > 1


@pytest.mark.parametrize("rate", [8000, 22050, 48000])
def test_every_family_works_at_other_rates(rate):
    x = speechlike(rate // 2, rate)
    for spec in ALL_SPECS:
        y = parse_transform(spec).apply(x, rate, seed=0, utt_id="u")
        assert np.all(np.isfinite(y)) and len(y) > 0, spec


@pytest.mark.parametrize("spec, message", [
    ("", "empty transform spec; valid: "),
    ("nosie:white@5dB", "unknown transform 'nosie' .*did you mean 'noise'.*valid: .*rawboost:1..8"),
    ("noise:white", "expected noise:white"),
    ("noise:purple@5dB", "unknown noise 'purple'"),
    ("noise:white@5", "expected a level like 10dB"),
    ("rawboost:9", "rawboost:N with N = 1 to 8"),
    ("reverb:rt60=9", "rt60 must be 0.05 to 3"),
    ("bandpass:3400-300", "0 < LOW < HIGH"),
    ("packetloss:10", "packetloss:N%"),
    ("stretch:3", "0.5 <= FACTOR <= 2"),
    ("pitch:0", "0 < |SEMITONES| <= 12"),
    ("chain(gain:1dB", "malformed spec"),
    ("chain(gain:1dB,)", "empty item"),
    ("gain:1dB,gain:2dB", "write chain"),
])
def test_spec_errors_are_one_line(spec, message):
    with pytest.raises(TransformError, match=message) as err:
        parse_transform(spec)
    assert "\n" not in str(err.value)


def test_spec_lists_split_at_top_level_commas_only():
    assert split_specs("chain(gain:-6dB, noise:white@20dB), codec:gsm,,rawboost:3") == [
        "chain(gain:-6dB, noise:white@20dB)", "codec:gsm", "rawboost:3"]
    assert split_specs("chain(chain(gain:1dB,gain:2dB),pstn)") == ["chain(chain(gain:1dB,gain:2dB),pstn)"]
    for bad in ("chain(gain:1dB,pstn", "pstn),gain:1dB"):
        with pytest.raises(TransformError, match="unbalanced parentheses"):
            split_specs(bad)


def test_input_a_transform_cannot_process_fails_clearly():
    silence, short = np.zeros(RATE, np.float32), speechlike(500)
    for spec, wave, message in (("noise:white@10dB", silence, "digital silence"),
                                ("stretch:1.1", short, "shorter than the 2048-sample"),
                                ("pitch:-1", short, "shorter than the 2048-sample")):
        with pytest.raises(TransformFailed, match=message):
            parse_transform(spec).apply(wave, RATE)


def test_registry_lists_every_family():
    names = set(available_transforms())
    assert {"gain", "clip", "noise", "codec", "pstn", "resample", "bandpass", "packetloss", "stretch", "pitch",
            "reverb", "rawboost"} <= names


def test_augment_notation():
    aug = parse_augment("0.5*rawboost:3 + 0.3*codec:mp3@32k")
    assert [(p, t.spec) for p, t in aug.terms] == [(0.5, "rawboost:3"), (0.3, "codec:mp3@32k")]
    assert aug.spec == "0.5*rawboost:3+0.3*codec:mp3@32k"
    assert parse_augment("rawboost:3").spec == "rawboost:3"
    assert parse_augment(None) is None and parse_augment("none") is None
    signed = parse_augment("0.5*pitch:+1+0.5*gain:+3dB")
    assert [t.spec for _, t in signed.terms] == ["pitch:+1", "gain:3dB"]
    chained = parse_augment("0.4*chain(codec:mp3@32k,noise:white@20dB)+0.6*rawboost:5")
    assert [t.spec for _, t in chained.terms] == ["chain(codec:mp3@32k,noise:white@20dB)", "rawboost:5"]
    for bad, message in (("0.7*rawboost:3+0.6*rawboost:2", "add up to 1.3"), ("2*rawboost:3", r"must be in \(0, 1\]"),
                         ("rawboost:3+0.5*gain:1dB", "give each of several"), ("rawbost:3", "did you mean")):
        with pytest.raises(TransformError, match=message):
            parse_augment(bad)


def test_augment_draws_per_epoch_and_utterance():
    aug = Augmentation.parse("0.5*gain:6dB")
    x = speechlike(1000)
    picks = [aug.choose(1, f"u{i}\0epoch0") is not None for i in range(400)]
    assert 0.4 < np.mean(picks) < 0.6
    by_epoch = [aug.apply(x, RATE, seed=1, utt_id="u7", epoch=e).tobytes() == x.tobytes() for e in range(40)]
    assert 0 < sum(by_epoch) < 40  # clean in some epochs, augmented in others
    assert aug.apply(x, RATE, seed=1, utt_id="u7", epoch=3).tobytes() == \
        aug.apply(x, RATE, seed=1, utt_id="u7", epoch=3).tobytes()
