"""What ``bench serve`` is told: limits, batching, security. Defaults are safe for a public-facing service."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeSettings:
    max_batch: int = 32                 # windows (or waves) per model call
    max_wait_ms: float = 5.0            # how long a batch waits for requests still being decoded
    max_upload_mb: float = 20.0         # request body limit (413 above)
    max_audio_seconds: float = 600.0    # duration limit of one file (413 above)
    max_batch_files: int = 32           # files of one /v1/score/batch request
    rate_limit_per_minute: float = 0.0  # per key (0: none); 429 above
    stream_interval_ms: int = 500       # default period of the stream's scores
    max_stream_seconds: float = 3600.0  # audio of one stream session
    max_jobs: int = 1000                # asynchronous jobs held at once
    job_keep_seconds: float = 3600.0    # how long a finished job's result is kept

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
