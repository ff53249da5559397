"""Micro-batching: concurrent requests are scored together. Requests put their work on a queue; one worker
thread per model (so the model never runs on the event loop) takes what is queued, up to ``max_batch`` units
(windows or waves), waits at most ``max_wait`` seconds for more while other requests are still being decoded,
runs the model once and hands each request its part of the result."""
from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Job:
    payload: object
    size: int
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    queued: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """``run_batch(payloads) -> results`` (one result per payload) runs in the worker thread; ``on_batch(units,
    requests, seconds)`` is told about each batch (metrics)."""

    def __init__(self, run_batch: Callable[[list], list], *, max_batch: int = 32, max_wait: float = 0.005,
                 name: str = "model", on_batch: Callable[[int, int, float], None] | None = None,
                 thread_init: Callable[[], None] | None = None):
        self.run_batch, self.max_batch, self.max_wait = run_batch, int(max_batch), float(max_wait)
        self.name, self.on_batch, self.thread_init = name, on_batch, thread_init
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._announced = 0  # requests being decoded that will submit soon: worth waiting for
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # ---- event-loop side ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name=f"scorer-{self.name}", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def announce(self, n: int = 1) -> None:
        """A request will submit work soon (its audio is being decoded)."""
        with self._lock:
            self._announced += n

    def withdraw(self, n: int = 1) -> None:
        with self._lock:
            self._announced = max(0, self._announced - n)

    async def submit(self, payload, size: int, *, announced: bool = False):
        """The result of ``payload`` (``size`` units), scored in some batch."""
        loop = asyncio.get_running_loop()
        job = _Job(payload, int(size), loop.create_future(), loop)
        if announced:
            self.withdraw()
        self._queue.put(job)
        return await job.future

    def queued(self) -> int:
        return self._queue.qsize()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then end the worker thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)

    # ---- worker-thread side -------------------------------------------------------------------
    def _work(self) -> None:
        if self.thread_init is not None:
            self.thread_init()
        carry: _Job | None = None  # a job that did not fit the last batch: it opens the next one
        stopping = False
        while not stopping:
            job = carry if carry is not None else self._queue.get()
            carry = None
            if job is None:
                break
            batch, units = [job], job.size
            deadline = time.perf_counter() + self.max_wait
            while units < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    left = deadline - time.perf_counter()
                    if left <= 0 or not self._announced:
                        break
                    try:
                        nxt = self._queue.get(timeout=min(left, 0.001))
                    except queue.Empty:
                        continue
                if nxt is None:
                    stopping = True
                    break
                if units + nxt.size > self.max_batch:
                    carry = nxt
                    break
                batch.append(nxt)
                units += nxt.size
            self._run(batch)
        if carry is not None:
            self._run([carry])

    def _run(self, batch: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            results = self.run_batch([j.payload for j in batch])
            error = None
        except Exception as exc:  # every request of the batch gets the error; the worker carries on
            results, error = None, exc
        if self.on_batch is not None:
            self.on_batch(sum(j.size for j in batch), len(batch), time.perf_counter() - started)
        for i, job in enumerate(batch):
            job.loop.call_soon_threadsafe(_settle, job.future, None if error else results[i], error)


def _settle(future: asyncio.Future, result, error) -> None:
    if future.done():  # the request was cancelled (client gone)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
