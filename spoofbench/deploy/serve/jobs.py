"""Asynchronous jobs (long files): submitted, scored in the background, polled, their result kept for a while.
Held in memory only; a job is visible to the key that submitted it."""
from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field


@dataclass
class Job:
    id: str
    owner: str
    model: str
    status: str = "queued"   # queued, running, done, failed
    submitted: float = field(default_factory=time.time)
    finished: float | None = None
    result: dict | None = None
    error: dict | None = None
    task: asyncio.Task | None = field(default=None, repr=False)

    def public(self) -> dict:
        out = {"id": self.id, "status": self.status, "model": self.model,
               "submitted": _iso(self.submitted), "finished": _iso(self.finished) if self.finished else None}
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


class JobStore:
    def __init__(self, max_jobs: int = 1000, keep_seconds: float = 3600.0):
        self.max_jobs, self.keep_seconds = int(max_jobs), float(keep_seconds)
        self._jobs: dict[str, Job] = {}

    def __len__(self) -> int:
        return len(self._jobs)

    def create(self, owner: str, model: str) -> Job | None:
        """A new job, or None when the store is full of unfinished jobs."""
        self._expire()
        if len(self._jobs) >= self.max_jobs:
            return None
        job = Job(secrets.token_hex(12), owner, model)
        self._jobs[job.id] = job
        return job

    def get(self, job_id: str, owner: str) -> Job | None:
        self._expire()
        job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def running(self) -> list[Job]:
        return [j for j in self._jobs.values() if j.status in ("queued", "running")]

    def _expire(self) -> None:
        now = time.time()
        old = [k for k, j in self._jobs.items() if j.finished is not None and now - j.finished > self.keep_seconds]
        for key in old:
            del self._jobs[key]


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
