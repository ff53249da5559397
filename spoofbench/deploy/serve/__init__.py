"""``bench serve``: a scoring service (FastAPI + uvicorn) over saved detectors.

    from spoofbench.deploy.serve import ServeSettings, create_app, load_model
    app = create_app([load_model("rawnet2", "rawnet2.det")], ServeSettings(max_batch=32))

Endpoints: ``POST /v1/score``, ``POST /v1/score/batch``, ``POST /v1/jobs`` + ``GET /v1/jobs/{id}``,
``WS /v1/stream``, ``GET /v1/models``, ``/healthz``, ``/readyz``, ``/metrics`` and the web page at ``/``.
"""
from .app import create_app
from .keys import KeyStore
from .models import load_model, parse_model_option
from .settings import ServeSettings

__all__ = ["KeyStore", "ServeSettings", "create_app", "load_model", "parse_model_option"]
