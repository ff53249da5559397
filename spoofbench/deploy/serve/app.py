"""The FastAPI application of ``bench serve``: scoring (one file, a batch, asynchronous jobs, a live stream), API
keys, limits, metrics, health and the web page. Build it with :func:`create_app`; ``bench serve`` runs it with
uvicorn."""
from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
import time

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from spoofbench.protocols.errors import AudioError

from .audio import TooLong, decode_upload
from .jobs import JobStore
from .keys import KeyRecord, KeyStore
from .logs import log
from .metrics import ServiceMetrics
from .models import ServedModel
from .ratelimit import RateLimiter
from .schemas import BatchResult, JobInfo, ModelInfo, ScoreResult
from .settings import ServeSettings
from .streaming import FORMATS, STREAM_RATE, StreamBuffer, window_samples

ANONYMOUS = KeyRecord("anonymous", "", None, "")
_MULTIPART = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "WAV, FLAC, OGG or MP3; any sample rate and channel count"}}}}}}}
_MULTIPART_BATCH = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"],
    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}}


class BodyTooLarge(Exception):
    pass


class _InMemoryMultiPart(MultiPartParser):
    """Starlette's parser keeps uploads up to 1 MB in memory and spools larger ones to a temporary file; the
    body limit bounds them here, so they stay in memory (no audio is ever written to disk)."""

    spool_max_size = 1 << 62


class _BodyLimit:
    """413 for a body over the limit: at once from Content-Length, or while it streams in (chunked uploads)."""

    def __init__(self, app, limit: int, metrics: ServiceMetrics):
        self.app, self.limit, self.metrics = app, int(limit), metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            self.metrics.rejected.labels("too_large").inc()
            response = JSONResponse({"detail": _too_large(self.limit)}, status_code=413,
                                    headers={"Connection": "close"})
            return await response(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge()
            return message

        return await self.app(scope, limited, send)


class _Observe:
    """Every HTTP request: counted, timed and logged as one JSON line (what the endpoint put in
    ``request.state``: model, key name, audio seconds, flags; never audio, file names or keys)."""

    def __init__(self, app, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_observed(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            endpoint = getattr(scope.get("route"), "path", "other")
            state = scope.get("state") or {}
            model = state.get("model", "")
            self.metrics.requests.labels(endpoint, model, str(status)).inc()
            if endpoint.startswith("/v1/"):
                self.metrics.latency.labels(endpoint, model).observe(seconds)
                log(logging.INFO, "request", method=scope["method"], endpoint=endpoint, status=status, model=model,
                    key=state.get("key"), ms=round(seconds * 1000, 2), **state.get("log", {}))


def _too_large(limit: int) -> str:
    return f"request body is larger than the {limit / 1048576:.3g} MB this service accepts"


def create_app(models: list[ServedModel], settings: ServeSettings | None = None, keys: KeyStore | None = None,
               ) -> FastAPI:
    """The service. ``keys`` None: no authentication (``bench serve`` allows that on a loopback address only)."""
    settings = settings or ServeSettings()
    by_name = {m.name: m for m in models}
    default_model = models[0].name
    metrics = ServiceMetrics()
    limiter = RateLimiter(settings.rate_limit_per_minute)
    jobs = JobStore(settings.max_jobs, settings.job_keep_seconds)
    state = {"ready": False}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        for m in models:
            m.batcher.on_batch = _batch_metrics(metrics, m.name)
            m.batcher.start()
            metrics.watch_model(m.name, m.batcher, m.drift)
        state["ready"] = True
        log(logging.INFO, "ready", models=[m.describe() for m in models], auth=keys is not None,
            settings=settings.__dict__)
        try:
            yield
        finally:
            state["ready"] = False  # /readyz says so while in-flight work finishes
            pending = [j.task for j in jobs.running() if j.task is not None]
            if pending:
                log(logging.INFO, "shutdown: waiting for jobs", jobs=len(pending))
                await asyncio.wait(pending, timeout=30)
            for m in models:
                await asyncio.to_thread(m.batcher.stop)
            log(logging.INFO, "stopped")

    app = FastAPI(title="spoofbench scoring service", version=_version(), lifespan=lifespan,
                  description="Speech anti-spoofing scores (higher = bona fide), calibrated log-likelihood ratios "
                              "and decisions (`bona fide`, `spoof`, `review`). Send `Authorization: Bearer KEY`.")
    app.state.settings, app.state.metrics, app.state.models = settings, metrics, by_name
    app.add_middleware(_BodyLimit, limit=settings.max_upload_bytes, metrics=metrics)
    app.add_middleware(_Observe, metrics=metrics)  # outermost: sees every answer, the early 413s included

    @app.exception_handler(BodyTooLarge)
    async def _body_too_large(request, exc):
        metrics.rejected.labels("too_large").inc()
        return JSONResponse({"detail": _too_large(settings.max_upload_bytes)}, status_code=413,
                            headers={"Connection": "close"})

    # ---- access control ------------------------------------------------------------------------------
    def authenticate(authorization: str | None, query_key: str | None = None) -> KeyRecord:
        if keys is None:
            return ANONYMOUS
        token = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                token = value.strip()
        token = token or query_key
        if not token:
            metrics.rejected.labels("no_key").inc()
            raise HTTPException(401, "missing API key: send the header 'Authorization: Bearer KEY'",
                                headers={"WWW-Authenticate": "Bearer"})
        record = keys.find(token)
        if record is None:
            metrics.rejected.labels("bad_key").inc()
            raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
        return record

    def admit(request: Request, model: str | None) -> tuple[KeyRecord, ServedModel]:
        """Key, model access and rate limit of a request, in that order (401, 404/403, 429)."""
        record = authenticate(request.headers.get("authorization"))
        request.state.key = record.name
        name = model or default_model
        if name not in by_name:
            yours = [m for m in by_name if record.may_use(m)]
            raise HTTPException(404, f"no model {name!r}; your key may use {', '.join(yours) or 'none'}")
        if not record.may_use(name):
            metrics.rejected.labels("forbidden").inc()
            raise HTTPException(403, f"key {record.name!r} may not use model {name!r}")
        request.state.model = name
        wait = limiter.take(record.name if keys is not None else (request.client.host if request.client else "-"))
        if wait:
            metrics.rejected.labels("rate_limited").inc()
            raise HTTPException(429, f"rate limit of {settings.rate_limit_per_minute:g} requests a minute reached; "
                                     f"retry in {wait:.1f} s", headers={"Retry-After": str(max(1, round(wait)))})
        return record, by_name[name]

    async def read_files(request: Request, field: str, max_files: int) -> list[tuple[str, bytes]]:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise HTTPException(415, f"send the audio as multipart/form-data, field {field!r}")
        parser = _InMemoryMultiPart(request.headers, request.stream(), max_files=max_files, max_fields=8,
                                    max_part_size=settings.max_upload_bytes)
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise HTTPException(400, f"malformed multipart body: {exc.message}") from None
        files = []
        for item in form.getlist(field):
            if isinstance(item, UploadFile):
                files.append((item.filename or "upload", await item.read()))
        if not files:
            raise HTTPException(422, f"no file in the form field {field!r}")
        return files

    async def score_bytes(served: ServedModel, name: str, data: bytes, per_window: bool) -> dict:
        """The JSON of one uploaded file (raises HTTPException for unusable audio)."""
        started = time.perf_counter()
        served.batcher.announce()
        try:
            decoded = await asyncio.to_thread(decode_upload, data, name, sample_rate=served.sample_rate,
                                              min_samples=served.min_samples,
                                              max_seconds=settings.max_audio_seconds)
        except TooLong as exc:
            served.batcher.withdraw()
            metrics.rejected.labels("too_long").inc()
            raise HTTPException(413, exc.problem) from None
        except AudioError as exc:
            served.batcher.withdraw()
            metrics.rejected.labels("bad_audio").inc()
            raise HTTPException(422, f"unusable audio: {exc.problem}") from None
        except BaseException:
            served.batcher.withdraw()
            raise
        score, windows, spans = await served.score_wave(decoded.wave, per_window=per_window, announced=True)
        llr, decision = served.decide(score)
        metrics.scores.labels(served.name).observe(score)
        if decision is not None:
            metrics.decisions.labels(served.name, decision).inc()
        for flag in decoded.flags:
            metrics.flags.labels(served.name, flag).inc()
        return {"model": served.name, "model_version": served.version, "detector": served.detector.name,
                "score": score, "llr": llr, "decision": decision, "flags": decoded.flags,
                "duration_s": round(decoded.seconds, 4), "sample_rate": decoded.native_rate,
                "channels": decoded.channels,
                "windows": None if windows is None else [{"start_s": round(a, 4), "end_s": round(b, 4), "score": s}
                                                         for (a, b), s in zip(spans, windows)],
                "processing_ms": round((time.perf_counter() - started) * 1000, 3)}

    # ---- pages and operations ------------------------------------------------------------------------
    static = importlib.resources.files("spoofbench.deploy.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    async def index():
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Models loaded and their workers running")
    async def readyz():
        dead = [m.name for m in models if not m.batcher.alive]
        if not state["ready"] or dead:
            return JSONResponse({"status": "not ready", "stopped_models": dead}, status_code=503)
        return {"status": "ready", "models": list(by_name)}

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def prometheus_metrics():
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/models", tags=["scoring"], response_model=list[ModelInfo], summary="The models your key may use")
    async def list_models(request: Request):
        record = authenticate(request.headers.get("authorization"))
        request.state.key = record.name
        return [m.describe() for m in models if record.may_use(m.name)]

    # ---- scoring ---------------------------------------------------------------------------------------
    @app.post("/v1/score", tags=["scoring"], response_model=ScoreResult, openapi_extra=_MULTIPART,
              summary="Score one audio file (multipart field `file`)")
    async def score(request: Request, model: str | None = Query(None, description="model name (default: the first)"),
                    windows: bool = Query(True, description="per-window scores for audio longer than one window")):
        _, served = admit(request, model)
        (name, data), = await read_files(request, "file", 1)
        result = await score_bytes(served, name, data, windows)
        request.state.log = {"audio_s": result["duration_s"], "flags": result["flags"], "bytes": len(data),
                             "decision": result["decision"]}
        return result

    @app.post("/v1/score/batch", tags=["scoring"], response_model=BatchResult, openapi_extra=_MULTIPART_BATCH,
              summary="Score several files (multipart field `files`, repeated)")
    async def score_batch(request: Request, model: str | None = Query(None),
                          windows: bool = Query(True)):
        _, served = admit(request, model)
        files = await read_files(request, "files", settings.max_batch_files)

        async def one(name, data):
            try:
                return await score_bytes(served, name, data, windows)
            except HTTPException as exc:
                return {"error": {"status": exc.status_code, "detail": exc.detail}}

        results = await asyncio.gather(*(one(n, d) for n, d in files))
        request.state.log = {"files": len(files), "failed": sum("error" in r for r in results)}
        return {"model": served.name, "results": results}

    @app.post("/v1/jobs", tags=["jobs"], status_code=202, response_model=JobInfo, openapi_extra=_MULTIPART,
              summary="Submit a (long) file for scoring in the background; poll GET /v1/jobs/{id}")
    async def submit_job(request: Request, model: str | None = Query(None), windows: bool = Query(True)):
        record, served = admit(request, model)
        (name, data), = await read_files(request, "file", 1)
        job = jobs.create(record.name, served.name)
        if job is None:
            raise HTTPException(503, f"{settings.max_jobs} jobs are unfinished; retry later")

        async def run():
            job.status = "running"
            try:
                job.result = await score_bytes(served, name, data, windows)
                job.status = "done"
            except HTTPException as exc:
                job.error, job.status = {"status": exc.status_code, "detail": exc.detail}, "failed"
            except Exception as exc:  # a model failure: the job says so, the service carries on
                job.error, job.status = {"status": 500, "detail": f"scoring failed: {type(exc).__name__}"}, "failed"
                log(logging.ERROR, "job failed", job=job.id, error=str(exc)[:200])
            finally:
                job.finished = time.time()

        job.task = asyncio.create_task(run())
        return job.public()

    @app.get("/v1/jobs/{job_id}", tags=["jobs"], response_model=JobInfo, summary="A job's status and result")
    async def get_job(request: Request, job_id: str):
        record = authenticate(request.headers.get("authorization"))
        request.state.key = record.name
        job = jobs.get(job_id, record.name)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r} for this key (finished jobs are kept "
                                     f"{settings.job_keep_seconds:g} s)")
        request.state.model = job.model
        return job.public()

    # ---- live stream -------------------------------------------------------------------------------------
    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket, model: str | None = None, interval_ms: int | None = None,
                     format: str = "s16le", api_key: str | None = None):
        await ws.accept()
        try:
            record = authenticate(ws.headers.get("authorization"), api_key)
            name = model or default_model
            if name not in by_name:
                raise HTTPException(404, f"no model {name!r}")
            if not record.may_use(name):
                raise HTTPException(403, f"key {record.name!r} may not use model {name!r}")
            if limiter.take(record.name if keys is not None else "stream"):
                raise HTTPException(429, "rate limit reached")
            if format not in FORMATS:
                raise HTTPException(422, f"format must be one of {', '.join(FORMATS)}")
            interval = int(interval_ms or settings.stream_interval_ms)
            if not 50 <= interval <= 60000:
                raise HTTPException(422, "interval_ms must be between 50 and 60000")
        except HTTPException as exc:
            await ws.send_json({"type": "error", "status": exc.status_code, "detail": exc.detail})
            await ws.close(code=1008)
            return
        served = by_name[name]
        buffer = StreamBuffer(interval * STREAM_RATE // 1000, window_samples(served),
                              int(settings.max_stream_seconds * STREAM_RATE), format)
        await ws.send_json({"type": "ready", "model": name, "model_version": served.version,
                            "sample_rate": STREAM_RATE, "format": format, "interval_ms": interval,
                            "window_s": buffer.window / STREAM_RATE})
        latencies: list[float] = []
        busy: asyncio.Task | None = None
        due: float | None = None  # arrival time of a chunk whose score is still to be computed

        async def score_now(arrived: float):
            nonlocal due
            while arrived is not None:
                due = None
                wave, seconds = buffer.current(served.sample_rate), buffer.seconds
                score, _, _ = await served.score_wave(wave, per_window=False, track=False)
                llr, decision = served.decide(score)
                latency = time.perf_counter() - arrived
                latencies.append(latency)
                metrics.stream_latency.labels(name).observe(latency)
                await ws.send_json({"type": "score", "audio_s": round(seconds, 3), "score": score, "llr": llr,
                                    "decision": decision, "latency_ms": round(latency * 1000, 2)})
                arrived = due  # a newer interval completed meanwhile: score the newest audio

        started = time.perf_counter()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    if buffer.feed(message["bytes"]):
                        arrived = time.perf_counter()
                        if busy is None or busy.done():
                            busy = asyncio.create_task(score_now(arrived))
                        else:
                            due = arrived
                elif message.get("text") is not None and '"end"' in message["text"]:
                    if busy is not None:
                        await busy
                    await ws.send_json({"type": "end", "audio_s": round(buffer.seconds, 3), "scores": len(latencies),
                                        **_latency_summary(latencies)})
                    await ws.close()
                    break
        except (ValueError, OverflowError) as exc:
            await ws.send_json({"type": "error", "status": 413 if isinstance(exc, OverflowError) else 422,
                                "detail": str(exc)})
            await ws.close(code=1009 if isinstance(exc, OverflowError) else 1003)
        except WebSocketDisconnect:
            pass
        finally:
            if busy is not None and not busy.done():
                busy.cancel()
            log(logging.INFO, "stream", model=name, key=record.name, audio_s=round(buffer.seconds, 3),
                scores=len(latencies), seconds=round(time.perf_counter() - started, 3), **_latency_summary(latencies))

    return app


def _latency_summary(latencies: list[float]) -> dict:
    if not latencies:
        return {}
    ms = np.asarray(latencies) * 1000
    return {"latency_ms_p50": round(float(np.percentile(ms, 50)), 2),
            "latency_ms_p95": round(float(np.percentile(ms, 95)), 2),
            "latency_ms_max": round(float(ms.max()), 2)}


def _batch_metrics(metrics: ServiceMetrics, name: str):
    def record(units: int, requests: int, seconds: float) -> None:
        metrics.batch_units.labels(name).observe(units)
        metrics.batch_requests.labels(name).observe(requests)
        metrics.batch_seconds.labels(name).observe(seconds)
    return record


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spoofbench")
    except PackageNotFoundError:
        return "0"
