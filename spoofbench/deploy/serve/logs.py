"""Structured logs: one JSON object a line on stderr. Requests are logged with what they were (endpoint,
model, key name, status, duration, audio seconds, flags), never with audio, file names or keys."""
from __future__ import annotations

import json
import logging
import time

LOGGER = "spoofbench.serve"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).strip().splitlines()[-1]
        return json.dumps(entry, default=str)


def log_config(level: str = "info") -> dict:
    """A ``logging.config.dictConfig`` for the service and uvicorn: JSON lines on stderr, uvicorn's own access
    log off (the service logs each request itself)."""
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
            "handlers": {"stderr": handler},
            "loggers": {LOGGER: {"handlers": ["stderr"], "level": level, "propagate": False},
                        "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
                        "uvicorn.error": {"level": level},
                        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}}}


def log(level: int, message: str, **fields) -> None:
    logging.getLogger(LOGGER).log(level, message, extra={"fields": fields})
