"""Per-key rate limit of ``bench serve``: a token bucket per key (``limit`` requests a minute, bursts of up to
``limit``)."""
from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    def __init__(self, per_minute: float, clock=time.monotonic):
        self.per_minute = float(per_minute)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def take(self, who: str) -> float:
        """0.0 when ``who`` may make a request now (one token taken), else the seconds until it may."""
        if not self.enabled:
            return 0.0
        rate = self.per_minute / 60.0
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(who, (self.per_minute, now))
            tokens = min(self.per_minute, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return math.ceil((1.0 - tokens) / rate * 1000) / 1000
