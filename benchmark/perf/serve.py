"""``bench perf serve``: a bounded load test of ``bench serve`` on localhost, beside ``bench score`` offline.

For each model: ``bench score`` scores the files offline (its own files/s, from its summary), then ``bench
serve`` starts on a free localhost port and an asynchronous client sends a fixed number of requests (the
files in turn) at each concurrency, within a time bound: sustained requests/s, p50/p95/p99 latency, errors, and
requests/s as a share of the offline files/s. Last, a live stream paced in real time gives the chunk-to-score
latency of ``WS /v1/stream``.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import click
import numpy as np

from spoofbench.protocols.errors import BenchError


@click.command("serve")
@click.argument("inputs", nargs=-1, required=True, metavar="AUDIO...")
@click.option("--model", "models", multiple=True, required=True, metavar="[NAME=]FILE.det|PRESET",
              help="Model to test (repeat for several; each is served alone in turn).")
@click.option("--requests", "n_requests", type=click.IntRange(min=1), default=200, show_default=True,
              help="Requests per concurrency level.")
@click.option("--concurrency", default="1,8,32", show_default=True, help="Concurrent clients, comma-separated.")
@click.option("--time-limit", type=click.FloatRange(min=1), default=120.0, show_default=True,
              help="Seconds per concurrency level at most (requests not sent by then are not counted).")
@click.option("--max-files", type=click.IntRange(min=1), default=64, show_default=True,
              help="Files used (the first, sorted).")
@click.option("--max-batch", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--max-wait-ms", type=click.FloatRange(min=0), default=5.0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Torch threads (offline and served).")
@click.option("--stream-seconds", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Audio streamed in real time to WS /v1/stream (0: no stream test).")
@click.option("--windows/--no-windows", default=False, show_default=True,
              help="Ask for per-window scores (more windows through the model than `bench score` scores in its "
                   "default first-window mode; off compares the same work).")
@click.option("--json", "json_out", default=None, metavar="FILE", help="Also write the results as JSON.")
def perf_serve(inputs, models, n_requests, concurrency, time_limit, max_files, max_batch, max_wait_ms, threads,
               stream_seconds, windows, json_out):
    """Load test of `bench serve` on localhost: requests/s, p50/p95/p99 latency and errors at each
    concurrency, beside the files/s of `bench score` offline on the same files and model."""
    from tabulate import tabulate

    from spoofbench.benchmark.commands.score import collect_audio
    from spoofbench.protocols.files import write_text_atomic

    levels = _levels(concurrency)
    paths = sorted(collect_audio(inputs))[:max_files]
    blobs = [(os.path.basename(p), open(p, "rb").read()) for p in paths]
    rows, results = [], []
    for spec in models:
        offline = _offline_files_per_second(spec, paths, threads)
        with _served(spec, max_batch, max_wait_ms, threads) as url:
            asyncio.run(_load(url, blobs[:4], 1, 4, 60, windows))  # warm-up: first calls allocate
            for level in levels:
                r = asyncio.run(_load(url, blobs, level, n_requests, time_limit, windows))
                r.update(model=spec, offline_files_per_s=offline,
                         share_of_offline=r["requests_per_s"] / offline if offline else None)
                results.append(r)
                rows.append([spec, level, r["answered"], r["errors"], f"{r['requests_per_s']:.2f}",
                             f"{offline:.2f}", f"{100 * r['share_of_offline']:.0f} %", f"{r['p50_ms']:.0f}",
                             f"{r['p95_ms']:.0f}", f"{r['p99_ms']:.0f}"])
            stream = asyncio.run(_stream(url, stream_seconds)) if stream_seconds else None
            if stream:
                stream["model"] = spec
                results.append(stream)
                click.echo(f"{spec}: stream of {stream_seconds:g} s in real time, {stream['scores']} scores, "
                           f"first after {stream['first_score_audio_s']:.2f} s of audio; chunk-to-score latency "
                           f"p50 {stream['latency_ms_p50']:.0f} ms, p95 {stream['latency_ms_p95']:.0f} ms")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    click.echo(f"{len(paths)} files, {n_requests} requests per level (time limit {time_limit:g} s), max batch "
               f"{max_batch}, max wait {max_wait_ms:g} ms, per-window scores {'on' if windows else 'off'} "
               f"(cpus {os.cpu_count()}, load average {load:.2f}):")
    click.echo(tabulate(rows, headers=["model", "concurrency", "answered", "errors", "req/s", "offline files/s",
                                       "share", "p50 ms", "p95 ms", "p99 ms"]))
    click.echo("target: at concurrency 8, at least 80 % of the offline files/s, no errors")
    if json_out:
        write_text_atomic(json_out, json.dumps(results, indent=1))


def _levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise BenchError(f"--concurrency {text!r}: expected integers separated by commas") from None
    if not levels or min(levels) < 1:
        raise BenchError(f"--concurrency {text!r}: expected positive integers")
    return levels


def _offline_files_per_second(spec: str, paths: list[str], threads: int | None) -> float:
    """Files/s of ``bench score`` on ``paths`` (its own timing of the scoring, from its summary)."""
    from spoofbench.deploy.serve import parse_model_option

    _, source = parse_model_option(spec)
    with tempfile.TemporaryDirectory(prefix="bench-perf-serve-") as tmp:
        if source.endswith(".det"):
            which = ["--detector", _detector_name(source), "--checkpoint", source]
        else:
            which = ["--detector", source]
        cmd = [sys.executable, "-m", "spoofbench.benchmark.cli", "score", *which, "--out", os.path.join(tmp, "s.csv"),
               *paths]
        env = dict(os.environ)
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise BenchError(f"bench score failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        with open(os.path.join(tmp, "s.summary.json")) as fh:
            summary = json.load(fh)
    return summary["files"] / summary["seconds"]


def _detector_name(path: str) -> str:
    from spoofbench.detectors.model_file import read_detector_file

    return read_detector_file(path)[0]["detector"]


class _served:
    """``bench serve`` in a subprocess on a free localhost port (no keys: loopback only)."""

    def __init__(self, spec, max_batch, max_wait_ms, threads):
        self.cmd = [sys.executable, "-m", "spoofbench.benchmark.cli", "serve", "--model", spec, "--max-batch",
                    str(max_batch), "--max-wait-ms", str(max_wait_ms), "--log-level", "warning"]
        self.threads = threads
        if threads:
            self.cmd += ["--threads", str(threads)]

    def __enter__(self) -> str:
        import httpx

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = dict(os.environ)
        if self.threads:
            env["OMP_NUM_THREADS"] = str(self.threads)
        self.proc = subprocess.Popen(self.cmd + ["--port", str(port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"bench serve stopped: {self.proc.stderr.read()[-500:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise BenchError("bench serve did not become ready within 300 s")

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def _load(url: str, blobs, concurrency: int, n_requests: int, time_limit: float, windows: bool) -> dict:
    """``n_requests`` POST /v1/score (the files in turn) from ``concurrency`` clients, stopped at ``time_limit``."""
    import httpx

    latencies, errors = [], []
    next_index = 0
    deadline = time.perf_counter() + time_limit

    async def worker(client):
        nonlocal next_index
        while next_index < n_requests and time.perf_counter() < deadline:
            name, data = blobs[next_index % len(blobs)]
            next_index += 1
            t0 = time.perf_counter()
            try:
                response = await client.post("/v1/score", files={"file": (name, data)},
                                             params={"windows": str(windows).lower()})
                ok = response.status_code == 200
            except httpx.HTTPError as exc:
                ok, response = False, exc
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors.append(str(getattr(response, "status_code", response)))

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=max(time_limit, 30), limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000 if latencies else np.full(1, np.nan)
    return {"concurrency": concurrency, "sent": next_index, "answered": len(latencies), "errors": len(errors),
            "error_kinds": sorted(set(errors)), "seconds": wall, "requests_per_s": len(latencies) / wall,
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99))}


async def _stream(url: str, seconds: float, chunk_ms: int = 100) -> dict:
    """Stream ``seconds`` of noise in real time; the latencies the service reports per score."""
    from websockets.asyncio.client import connect

    rate = 16000
    wave = (np.random.default_rng(0).normal(0, 0.1, int(seconds * rate)).clip(-1, 1) * 32767).astype("<i2")
    step = rate * chunk_ms // 1000
    scores = []
    async with connect(url.replace("http", "ws", 1) + "/v1/stream") as ws:
        json.loads(await ws.recv())

        async def receive():
            while True:
                message = json.loads(await ws.recv())
                if message["type"] != "score":
                    return message
                scores.append(message)

        listener = asyncio.create_task(receive())
        started = time.perf_counter()
        for i in range(0, len(wave), step):
            await ws.send(wave[i:i + step].tobytes())
            await asyncio.sleep(max(0.0, started + (i + step) / rate - time.perf_counter()))  # real time
        await ws.send(json.dumps({"type": "end"}))
        end = await listener
    latencies = np.asarray([s["latency_ms"] for s in scores]) if scores else np.full(1, np.nan)
    return {"stream_seconds": seconds, "scores": len(scores),
            "first_score_audio_s": scores[0]["audio_s"] if scores else float("nan"),
            "latency_ms_p50": float(np.percentile(latencies, 50)),
            "latency_ms_p95": float(np.percentile(latencies, 95)), "end": end}
