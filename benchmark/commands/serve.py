"""``bench serve``: a scoring service over saved detectors (FastAPI + uvicorn; see ``spoofbench.deploy.serve``).

    bench serve --model results/demo/models/rawnet2.small.det --keys keys.json
    bench serve --model la19=aasist.pretrained-la19 --model small=rawnet2.det --port 8000 --rate-limit 600
"""
from __future__ import annotations

import ipaddress
import socket

import click

from spoofbench.protocols.errors import ConfigError


@click.command("serve")
@click.option("--model", "model_specs", multiple=True, required=True, metavar="[NAME=]FILE.det|PRESET",
              help="A saved detector (.det) or a pre-trained preset; repeat for several (the first is the default).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--keys", "keys_file", default=None, metavar="FILE",
              help="API keys file (bench keys add); without it, no key is asked for (loopback addresses only).")
@click.option("--no-auth", is_flag=True, help="Serve without keys on a non-loopback address (behind a gateway).")
@click.option("--max-batch", type=click.IntRange(min=1), default=32, show_default=True,
              help="Windows per model call (micro-batching).")
@click.option("--max-wait-ms", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="How long a batch waits for requests still being decoded.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=20.0, show_default=True)
@click.option("--max-audio-seconds", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True)
@click.option("--rate-limit", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Requests a minute per key (0: no limit).")
@click.option("--stream-interval-ms", type=click.IntRange(50, 60000), default=500, show_default=True,
              help="Default period of the live stream's scores.")
@click.option("--device", default=None, help="auto, cpu or cuda (detectors that have the option).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Torch threads of the model workers.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def serve_command(model_specs, host, port, keys_file, no_auth, max_batch, max_wait_ms, max_upload_mb,
                  max_audio_seconds, rate_limit, stream_interval_ms, device, threads, log_level):
    """Serve detectors over HTTP: scores, decisions, jobs, a live stream, metrics and a web page.

    POST /v1/score, /v1/score/batch and /v1/jobs, WS /v1/stream, /healthz, /readyz, /metrics, the page at /
    and the OpenAPI page at /docs."""
    import uvicorn

    from spoofbench.deploy.serve import KeyStore, ServeSettings, create_app, load_model, parse_model_option
    from spoofbench.deploy.serve.logs import log_config

    if keys_file is None and not no_auth and not _loopback(host):
        raise ConfigError(f"--host {host} is reachable from other machines: give --keys FILE (bench keys add), "
                          "or --no-auth when a gateway in front checks access")
    keys = KeyStore.load(keys_file) if keys_file else None
    names = [parse_model_option(s) for s in model_specs]
    seen = set()
    for name, _ in names:
        if name in seen:
            raise ConfigError(f"--model: the name {name!r} is given twice; name them NAME=FILE")
        seen.add(name)
    settings = ServeSettings(max_batch=max_batch, max_wait_ms=max_wait_ms, max_upload_mb=max_upload_mb,
                             max_audio_seconds=max_audio_seconds, rate_limit_per_minute=rate_limit,
                             stream_interval_ms=stream_interval_ms)
    models = [load_model(name, spec, device=device, threads=threads, max_batch=max_batch,
                         max_wait=max_wait_ms / 1000) for name, spec in names]
    if keys is not None:
        unknown = sorted({m for r in keys.records.values() for m in (r.models or ())} - seen)
        if unknown:
            click.echo(f"warning: {keys_file} grants models this service does not hold: {', '.join(unknown)}",
                       err=True)
    app = create_app(models, settings, keys)
    config = uvicorn.Config(app, host=host, port=port, log_config=log_config(log_level), access_log=False,
                            timeout_graceful_shutdown=30, ws_max_size=1 << 20, server_header=False)
    server = _graceful_server(config)
    server.run()
    if not server.started:  # e.g. the port is taken (uvicorn logged why)
        raise click.exceptions.Exit(1)


def _graceful_server(config):
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """Exits with status 0 after the graceful shutdown that SIGTERM or Ctrl-C starts (in-flight requests
        answered, queued work scored, workers stopped); uvicorn itself re-raises the signal afterwards, so the
        process would end as killed by it."""

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()

    return GracefulServer(config)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, None))
        except OSError:
            return False
