"""``WS /v1/stream``: live audio in, a rolling score out. The client sends 16 kHz mono PCM chunks (binary
frames, 16-bit little-endian by default, or 32-bit float); every ``interval`` of audio received the service
scores the last ``window`` of audio (the model's input length, tiled while less has arrived, as ``bench score``
tiles a short file) and sends the score and decision. Scores never queue up: when the model is slower than the
interval, the next score is of the newest audio."""
from __future__ import annotations

import numpy as np

from spoofbench.protocols.audio import resample

STREAM_RATE = 16000
FORMATS = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}
#: The window of models that score whole utterances (no input length of their own), in seconds.
DEFAULT_WINDOW_SECONDS = 4.0


class StreamBuffer:
    """The last ``window`` samples of a stream and when the next score is due."""

    def __init__(self, interval: int, window: int, max_samples: int, fmt: str = "s16le"):
        self.interval, self.window, self.max_samples = int(interval), int(window), int(max_samples)
        self.dtype = FORMATS[fmt]
        self._buffer = np.zeros(0, dtype=np.float32)
        self._partial = b""  # bytes of a sample split between two chunks
        self.received = 0
        self.next_due = self.interval

    def feed(self, chunk: bytes) -> bool:
        """Add a chunk; True when a score is due (an interval boundary was crossed)."""
        data = self._partial + chunk
        usable = len(data) - len(data) % self.dtype.itemsize
        self._partial = data[usable:]
        samples = np.frombuffer(data[:usable], dtype=self.dtype).astype(np.float32)
        if self.dtype.kind == "i":
            samples /= 32768.0
        if not np.all(np.isfinite(samples)):
            raise ValueError("the chunk holds NaN or Inf samples")
        self._buffer = np.concatenate([self._buffer, samples])[-self.window:]
        self.received += len(samples)
        if self.received > self.max_samples:
            raise OverflowError(f"the stream passed the {self.max_samples / STREAM_RATE:g} s this service accepts "
                                "in one session")
        if self.received >= self.next_due:
            self.next_due = (self.received // self.interval + 1) * self.interval
            return True
        return False

    def current(self, rate: int) -> np.ndarray:
        """The window to score, at ``rate`` Hz."""
        wave = self._buffer.copy()
        return wave if rate == STREAM_RATE else resample(wave, STREAM_RATE, rate)

    @property
    def seconds(self) -> float:
        return self.received / STREAM_RATE


def window_samples(served) -> int:
    """The stream window (at 16 kHz) of a served model: its input length, else ``DEFAULT_WINDOW_SECONDS``."""
    n = getattr(served.detector, "n_samples", None)
    if n:
        return int(round(int(n) * STREAM_RATE / served.sample_rate))
    return int(DEFAULT_WINDOW_SECONDS * STREAM_RATE)
