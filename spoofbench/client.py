"""A Python client of ``bench serve``.

    from spoofbench.client import Client
    client = Client("http://127.0.0.1:8000", api_key="sbk_...")
    result = client.score("call.wav")              # {"score": ..., "llr": ..., "decision": "bona fide", ...}
    results = client.score_batch(["a.flac", "b.mp3"])
    job = client.submit("long.flac"); result = client.wait(job["id"])

Errors of the service (401, 403, 413, 422, 429, ...) raise :class:`ServiceError` with its status and message.
"""
from __future__ import annotations

import os
import time

import httpx

from spoofbench.protocols.errors import BenchError


class ServiceError(BenchError):
    def __init__(self, status: int, detail: str, retry_after: float | None = None):
        self.status, self.detail, self.retry_after = status, detail, retry_after
        super().__init__(f"service answered {status}: {detail}")


class Client:
    def __init__(self, url: str = "http://127.0.0.1:8000", api_key: str | None = None, *, timeout: float = 60.0,
                 model: str | None = None):
        self.url, self.model = url.rstrip("/"), model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ---- scoring -------------------------------------------------------------------------------------
    def score(self, path: os.PathLike | str, *, model: str | None = None, windows: bool = True) -> dict:
        """Score one audio file: score, llr, decision, flags, per-window scores, model and version."""
        with open(path, "rb") as fh:
            files = {"file": (os.path.basename(path), fh.read())}
        return self._call("POST", "/v1/score", params=self._params(model, windows), files=files)

    def score_batch(self, paths, *, model: str | None = None, windows: bool = True) -> list[dict]:
        """Score several files in one request; a file the service could not use gets ``{"error": ...}``."""
        files = []
        for path in paths:
            with open(path, "rb") as fh:
                files.append(("files", (os.path.basename(path), fh.read())))
        return self._call("POST", "/v1/score/batch", params=self._params(model, windows), files=files)["results"]

    def submit(self, path: os.PathLike | str, *, model: str | None = None, windows: bool = True) -> dict:
        """Submit a (long) file as a background job; returns the job (``id``, ``status``)."""
        with open(path, "rb") as fh:
            files = {"file": (os.path.basename(path), fh.read())}
        return self._call("POST", "/v1/jobs", params=self._params(model, windows), files=files)

    def job(self, job_id: str) -> dict:
        return self._call("GET", f"/v1/jobs/{job_id}")

    def wait(self, job_id: str, *, timeout: float = 600.0, poll: float = 0.2) -> dict:
        """The result of a job once done (``ServiceError`` when it failed, ``TimeoutError`` after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] == "done":
                return job["result"]
            if job["status"] == "failed":
                raise ServiceError(job["error"]["status"], job["error"]["detail"])
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not finished after {timeout:g} s")
            time.sleep(poll)

    # ---- the rest ------------------------------------------------------------------------------------
    def models(self) -> list[dict]:
        return self._call("GET", "/v1/models")

    def ready(self) -> bool:
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def _params(self, model: str | None, windows: bool) -> dict:
        params = {"windows": "true" if windows else "false"}
        if model or self.model:
            params["model"] = model or self.model
        return params

    def _call(self, method: str, path: str, **kwargs):
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            retry = response.headers.get("retry-after")
            raise ServiceError(response.status_code, str(detail), float(retry) if retry else None)
        return response.json()
