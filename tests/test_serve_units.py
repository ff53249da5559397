"""The service's parts alone: micro-batcher, stream buffer, drift statistics, rate limiter, upload decoding."""
import asyncio
import io
import threading

import numpy as np
import pytest
import soundfile as sf

from spoofbench.deploy.serve.audio import TooLong, decode_upload
from spoofbench.deploy.serve.batching import MicroBatcher
from spoofbench.deploy.serve.drift import DriftMonitor, reference_quantiles
from spoofbench.deploy.serve.ratelimit import RateLimiter
from spoofbench.deploy.serve.streaming import StreamBuffer
from spoofbench.protocols.audio import load_audio
from spoofbench.protocols.errors import AudioError


def test_micro_batcher_groups_waiting_requests_and_keeps_each_result_with_its_request():
    calls, entered, gate = [], threading.Event(), threading.Event()

    def run_batch(payloads):
        entered.set()
        gate.wait(5)  # the first call holds the model while the other requests queue up
        calls.append(list(payloads))
        return [p * 10 for p in payloads]

    batcher = MicroBatcher(run_batch, max_batch=4, max_wait=0.0)

    async def main():
        batcher.start()
        first = asyncio.create_task(batcher.submit(0, 1))
        await asyncio.to_thread(entered.wait, 5)
        rest = [asyncio.create_task(batcher.submit(i, 1)) for i in range(1, 9)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(first, *rest)

    results = asyncio.run(main())
    batcher.stop()
    assert results == [i * 10 for i in range(9)]
    assert calls == [[0], [1, 2, 3, 4], [5, 6, 7, 8]]  # at most max_batch a call, first come first served


def test_micro_batcher_gives_every_request_of_a_failed_batch_the_error_and_carries_on():
    def run_batch(payloads):
        if "bad" in payloads:
            raise RuntimeError("model failed")
        return payloads

    batcher = MicroBatcher(run_batch, max_batch=8, max_wait=0.0)

    async def main():
        batcher.start()
        with pytest.raises(RuntimeError):
            await batcher.submit("bad", 1)
        return await batcher.submit("good", 1)

    assert asyncio.run(main()) == "good"
    batcher.stop()
    assert not batcher.alive


def test_stream_buffer_joins_split_samples_and_says_when_a_score_is_due():
    buffer = StreamBuffer(interval=4, window=6, max_samples=100)
    samples = (np.arange(1, 11) * 1000).astype("<i2").tobytes()
    due = [buffer.feed(samples[i:i + 3]) for i in range(0, len(samples), 3)]  # odd byte counts
    assert buffer.received == 10
    assert due.count(True) == 2  # at 4 and 8 samples
    assert buffer.current(16000) * 32768 == pytest.approx(np.arange(5, 11) * 1000)
    with pytest.raises(OverflowError):
        buffer.feed(b"\0\0" * 100)


def test_drift_is_near_zero_on_the_dev_distribution_and_large_when_shifted():
    rng = np.random.default_rng(0)
    dev = rng.normal(0, 1, 5000)
    same, shifted = DriftMonitor(reference_quantiles(dev)), DriftMonitor(reference_quantiles(dev))
    assert np.isnan(same.psi())  # too few live scores
    for x in rng.normal(0, 1, 500):
        same.add(x)
    for x in rng.normal(1.5, 1, 500):
        shifted.add(x)
    assert same.psi() < 0.1 and same.ks() < 0.1
    assert shifted.psi() > 0.5 and shifted.ks() > 0.4


def test_rate_limiter_allows_the_budget_then_says_how_long_to_wait():
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one a second, bursts of 60
    assert all(limiter.take("k") == 0 for _ in range(60))
    assert limiter.take("k") == pytest.approx(1.0)
    assert limiter.take("other") == 0
    now[0] = 1.0
    assert limiter.take("k") == 0
    assert RateLimiter(0).take("k") == 0


def test_uploads_decode_as_bench_score_loads_files(tmp_path):
    wave = np.random.default_rng(1).normal(0, 0.1, (22050, 2)).clip(-1, 1)
    path = tmp_path / "x.flac"
    sf.write(path, wave, 22050, subtype="PCM_16")
    decoded = decode_upload(path.read_bytes(), "x.flac", sample_rate=16000, min_samples=8000, max_seconds=10)
    assert decoded.wave.dtype == np.float32
    np.testing.assert_array_equal(decoded.wave, load_audio(path, 16000))
    assert decoded.flags == ["resampled", "downmixed"] and decoded.channels == 2
    with pytest.raises(TooLong):
        decode_upload(path.read_bytes(), "x.flac", sample_rate=16000, min_samples=8000, max_seconds=0.5)
    with pytest.raises(AudioError, match="cannot read audio header"):
        decode_upload(b"not audio", "y.wav", sample_rate=16000, min_samples=1, max_seconds=None)
    nan = io.BytesIO()
    sf.write(nan, np.full(100, np.nan), 16000, format="WAV", subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        decode_upload(nan.getvalue(), "n.wav", sample_rate=16000, min_samples=1, max_seconds=None)
