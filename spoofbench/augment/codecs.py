"""Real codecs: each spec encodes the waveform with the named encoder and decodes it again, in memory.

PyAV (FFmpeg's libraries inside its wheel) runs MP3, AAC (in an M4A container), Opus, AMR-NB, G.722, G.711
A-law/µ-law and G.726; pedalboard runs GSM full rate (PyAV's wheel has no GSM encoder). The audio is resampled
to a rate the codec takes (narrowband codecs: 8 kHz), decoded, resampled back to the input rate and aligned
with the input (codec delay removed, same length), so that scores of clean and coded audio compare.

A missing encoder is an error when the spec is parsed (never a silent copy of the input); a file a codec cannot
process (too short, digital silence) raises :class:`TransformFailed`.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from .base import Transform, TransformError, TransformFailed, register_transform
from .signal import align_to, bandpass, parse_rate, resample

#: Shortest input a codec is asked to process: a few of its 20-30 ms frames.
MIN_SECONDS = 0.06
#: Largest codec delay searched for when aligning the decoded audio with the input.
MAX_DELAY_SECONDS = 0.1


@dataclass(frozen=True)
class CodecSpec:
    encoder: str                    # FFmpeg encoder name ("" for pedalboard's GSM)
    container: str                  # FFmpeg muxer
    rates: tuple[int, ...]          # sample rates the encoder takes
    bitrates: tuple[int, ...] | None = None   # allowed bit rates (None: any within the encoder's range)
    default_bitrate: int | None = None
    bitrate_range: tuple[int, int] | None = None
    demuxer: str | None = None      # for raw streams that cannot be probed


CODECS: dict[str, CodecSpec] = {
    "mp3": CodecSpec("libmp3lame", "mp3", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
                     default_bitrate=32000, bitrate_range=(8000, 320000)),
    "aac": CodecSpec("aac", "ipod", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
                     default_bitrate=32000, bitrate_range=(8000, 320000)),
    "opus": CodecSpec("libopus", "ogg", (8000, 12000, 16000, 24000, 48000), default_bitrate=12000,
                      bitrate_range=(6000, 510000)),
    "opus-nb": CodecSpec("libopus", "ogg", (8000,), default_bitrate=8000, bitrate_range=(6000, 510000)),
    "amr-nb": CodecSpec("libopencore_amrnb", "amr", (8000,),
                        bitrates=(4750, 5150, 5900, 6700, 7400, 7950, 10200, 12200), default_bitrate=12200),
    "g722": CodecSpec("g722", "g722", (16000,), demuxer="g722"),
    "g726": CodecSpec("g726", "wav", (8000,), bitrates=(16000, 24000, 32000, 40000), default_bitrate=32000),
    "alaw": CodecSpec("pcm_alaw", "wav", (8000,)),
    "ulaw": CodecSpec("pcm_mulaw", "wav", (8000,)),
    "gsm": CodecSpec("", "", (8000,)),
}


def _import_av():
    try:
        import av
    except ImportError:
        raise TransformError("codecs need PyAV: pip install 'spoofbench[robust]' (or pip install av)") from None
    return av


def check_encoder(name: str, spec: str) -> None:
    """Fail at parse time, with one line, when this installation lacks the encoder (never copy silently)."""
    if name == "gsm":
        try:
            import pedalboard
        except ImportError:
            raise TransformError(f"{spec!r}: GSM needs pedalboard: pip install 'spoofbench[robust]'") from None
        if not hasattr(pedalboard, "GSMFullRateCompressor"):
            raise TransformError(f"{spec!r}: this pedalboard has no GSMFullRateCompressor")
        return
    av = _import_av()
    encoder = CODECS[name].encoder
    try:
        av.codec.Codec(encoder, "w")
    except Exception:  # PyAV raises its own UnknownCodecError, whose class moved between versions
        raise TransformError(f"{spec!r}: this PyAV/FFmpeg build has no {encoder!r} encoder") from None


def codec_rate(codec: CodecSpec, sample_rate: int) -> int:
    """The highest rate the codec takes that does not exceed the input's (else its lowest)."""
    fitting = [r for r in codec.rates if r <= sample_rate]
    return max(fitting) if fitting else min(codec.rates)


def encode_decode_av(wave: np.ndarray, rate: int, codec: CodecSpec, bitrate: int | None) -> np.ndarray:
    """Encode mono float audio at ``rate`` with PyAV into ``codec.container`` in memory and decode it back
    (float32 at ``rate``)."""
    av = _import_av()
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=codec.container) as out:
        stream = out.add_stream(codec.encoder, rate=rate, layout="mono")
        if bitrate:
            stream.bit_rate = int(bitrate)
        encoder_format = stream.codec_context.codec.audio_formats[0].name
        frame_size = stream.codec_context.frame_size or 1024
        resampler = av.AudioResampler(format=encoder_format, layout="mono", rate=rate)
        samples = np.asarray(wave, dtype=np.float32)
        for start in range(0, len(samples), frame_size):
            chunk = samples[start:start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    out.mux(packet)
        for converted in resampler.resample(None):
            for packet in stream.encode(converted):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buffer.seek(0)
    decoded = []
    with av.open(buffer, mode="r", format=codec.demuxer) as inp:
        stream = inp.streams.audio[0]
        to_float = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in inp.decode(stream):
            for converted in to_float.resample(frame):
                decoded.append(converted.to_ndarray().reshape(-1))
        for converted in to_float.resample(None):
            decoded.append(converted.to_ndarray().reshape(-1))
    return np.concatenate(decoded).astype(np.float32) if decoded else np.zeros(0, np.float32)


def encode_decode_gsm(wave: np.ndarray, rate: int) -> np.ndarray:
    """GSM 06.10 full rate through pedalboard (libgsm inside its wheel; it works at 8 kHz)."""
    import pedalboard

    out = pedalboard.GSMFullRateCompressor()(np.asarray(wave, dtype=np.float32)[None, :], rate)
    return np.asarray(out, dtype=np.float32).reshape(-1)


class Codec(Transform):
    """``codec:NAME[@BITRATE]``: encode and decode with a real encoder, back at the input rate."""

    def __init__(self, name: str, bitrate: int | None, spec: str):
        self.name, self.bitrate, self.spec = name, bitrate, spec
        self.codec = CODECS[name]

    def transform(self, wave, sample_rate, rng):
        return run_codec(wave, sample_rate, self.name, self.bitrate, self.spec)


def run_codec(wave: np.ndarray, sample_rate: int, name: str, bitrate: int | None, spec: str,
              prefilter: tuple[float, float] | None = None) -> np.ndarray:
    """Resample to the codec's rate (optionally band-pass there), encode, decode, resample back, align."""
    if len(wave) < MIN_SECONDS * sample_rate:
        raise TransformFailed(f"{spec}: input of {len(wave)} samples is too short for the codec "
                              f"(at least {MIN_SECONDS * 1000:.0f} ms)")
    if not np.any(wave):
        raise TransformFailed(f"{spec}: input is digital silence; the codec's effect could not be verified")
    codec = CODECS[name]
    rate = codec_rate(codec, sample_rate)
    # codecs take full-scale input: scale a loud file down to avoid clipping and undo it after decoding
    peak = float(np.max(np.abs(wave)))
    scale = 0.99 / peak if peak > 0.99 else 1.0
    at_rate = resample(wave * np.float32(scale), sample_rate, rate)
    if prefilter is not None:
        at_rate = bandpass(at_rate, rate, *prefilter)
    try:
        coded = encode_decode_gsm(at_rate, rate) if name == "gsm" else encode_decode_av(at_rate, rate, codec,
                                                                                        bitrate)
    except TransformError:
        raise
    except Exception as exc:  # FFmpeg's errors (av.error.*) vary with the file: this file is skipped
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise TransformFailed(f"{spec}: the codec failed on this audio ({first})") from None
    if coded.size == 0:
        raise TransformFailed(f"{spec}: the codec returned no audio")
    back = resample(coded, rate, sample_rate) / np.float32(scale)
    out = align_to(wave, back.astype(np.float32), int(MAX_DELAY_SECONDS * sample_rate))
    if np.array_equal(out, wave):
        raise TransformFailed(f"{spec}: the decoded audio equals the input: the codec did not run")
    return out


def parse_bitrate(text: str, spec: str) -> int:
    return int(round(parse_rate(text, spec)))


_CODEC_SYNTAX = ("codec:mp3|aac|opus|opus-nb@BITRATE, codec:amr-nb@4.75k..12.2k, codec:g726@16k|24k|32k|40k, "
                 "codec:gsm|g722|alaw|ulaw")


@register_transform("codec", _CODEC_SYNTAX, "encode and decode with a real codec (PyAV, pedalboard for GSM)")
def _codec(arg):
    name, _, rate_text = (arg or "").partition("@")
    spec = f"codec:{arg}"
    if name not in CODECS:
        raise TransformError(f"{spec!r}: unknown codec {name!r}; valid: {', '.join(CODECS)}")
    codec = CODECS[name]
    bitrate = None
    if rate_text:
        if codec.default_bitrate is None:
            raise TransformError(f"{spec!r}: {name} has a fixed bit rate; write codec:{name}")
        bitrate = parse_bitrate(rate_text, spec)
        if codec.bitrates is not None and bitrate not in codec.bitrates:
            allowed = ", ".join(f"{b / 1000:g}k" for b in codec.bitrates)
            raise TransformError(f"{spec!r}: {name} bit rates: {allowed}")
        if codec.bitrate_range is not None and not codec.bitrate_range[0] <= bitrate <= codec.bitrate_range[1]:
            low, high = (b / 1000 for b in codec.bitrate_range)
            raise TransformError(f"{spec!r}: {name} bit rate must be {low:g}k to {high:g}k")
    elif codec.default_bitrate is not None:
        bitrate = codec.default_bitrate
    check_encoder(name, spec)
    canonical = f"codec:{name}" + (f"@{bitrate / 1000:g}k" if bitrate is not None else "")
    return Codec(name, bitrate, canonical)


class PSTN(Transform):
    """A telephone line: 8 kHz, 300-3400 Hz band-pass, G.711 µ-law, back to the input rate."""

    spec = "pstn"

    def transform(self, wave, sample_rate, rng):
        return run_codec(wave, sample_rate, "ulaw", None, self.spec, prefilter=(300.0, 3400.0))


@register_transform("pstn", "pstn", "telephone channel: 8 kHz, 300-3400 Hz band-pass, G.711 µ-law")
def _pstn(arg):
    if arg:
        raise TransformError(f"'pstn:{arg}': pstn takes no argument")
    check_encoder("ulaw", "pstn")
    return PSTN()


class Resample(Transform):
    """Down to a lower rate and back up (soxr): the band above the lower rate's Nyquist is lost."""

    def __init__(self, rate: float):
        self.rate = rate
        self.spec = f"resample:{rate / 1000:g}k"

    def transform(self, wave, sample_rate, rng):
        # soxr takes fractional rates (11.025 kHz)
        import soxr

        low = soxr.resample(wave, sample_rate, self.rate, quality="HQ")
        back = soxr.resample(low, self.rate, sample_rate, quality="HQ").astype(np.float32)
        out = np.zeros(len(wave), dtype=np.float32)
        out[:min(len(back), len(wave))] = back[:len(wave)]
        return out


@register_transform("resample", "resample:8k|11.025k|22.05k|RATE", "resample down to RATE and back up")
def _resample(arg):
    spec = f"resample:{arg}"
    if not arg:
        raise TransformError("'resample': give the intermediate rate, e.g. resample:8k")
    rate = parse_rate(arg, spec)
    if not 1000 <= rate <= 384000:
        raise TransformError(f"{spec!r}: rate must be 1k to 384k")
    return Resample(rate)

