"""The Prometheus metrics of ``bench serve`` (``/metrics``), in a registry of the app's own."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30)
SCORE_BUCKETS = (-20, -10, -5, -3, -2, -1, -0.5, 0, 0.5, 1, 2, 3, 5, 10, 20)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServiceMetrics:
    def __init__(self):
        self.registry = r = CollectorRegistry()
        self.requests = Counter("spoofbench_requests", "HTTP requests answered", ["endpoint", "model", "status"],
                                registry=r)
        self.latency = Histogram("spoofbench_request_seconds", "Time from request to response",
                                 ["endpoint", "model"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("spoofbench_requests_in_flight", "Requests being processed", registry=r)
        self.decisions = Counter("spoofbench_decisions", "Decisions given", ["model", "decision"], registry=r)
        self.scores = Histogram("spoofbench_score", "Scores given (higher = bona fide)", ["model"],
                                buckets=SCORE_BUCKETS, registry=r)
        self.flags = Counter("spoofbench_audio_flags", "Audio quality flags raised", ["model", "flag"], registry=r)
        self.batch_units = Histogram("spoofbench_batch_units", "Windows (or waves) per model call", ["model"],
                                     buckets=BATCH_BUCKETS, registry=r)
        self.batch_requests = Histogram("spoofbench_batch_requests", "Requests served by one model call",
                                        ["model"], buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("spoofbench_batch_seconds", "Duration of one model call", ["model"],
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.queue = Gauge("spoofbench_queue_depth", "Work waiting for the model", ["model"], registry=r)
        self.drift_psi = Gauge("spoofbench_score_drift_psi", "Population stability index of the last live scores "
                               "against the dev scores saved with the model (NaN until 30 scores)", ["model"],
                               registry=r)
        self.drift_ks = Gauge("spoofbench_score_drift_ks", "Kolmogorov-Smirnov distance of the last live scores "
                              "to the dev scores at the dev deciles (NaN until 30 scores)", ["model"], registry=r)
        self.stream_latency = Histogram("spoofbench_stream_latency_seconds", "WebSocket stream: from the chunk "
                                        "that completes an interval to its score being sent", ["model"],
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.rejected = Counter("spoofbench_rejected", "Requests refused before scoring", ["reason"], registry=r)

    def watch_model(self, name: str, batcher, drift) -> None:
        """Gauges read when scraped: queue depth and drift."""
        self.queue.labels(name).set_function(batcher.queued)
        if drift is not None:
            self.drift_psi.labels(name).set_function(drift.psi)
            self.drift_ks.labels(name).set_function(drift.ks)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
