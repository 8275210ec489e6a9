"""Prometheus metrics of one runtime (its own registry, so tests can run several)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 900)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("herbmorph_events_received", "Events accepted into the journal", ["service"], registry=r)
        self.duplicates = Counter("herbmorph_events_duplicate", "Deliveries dropped as duplicates", ["service"], registry=r)
        self.done = Counter("herbmorph_events_done", "Events that ran to the end (result or error document)",
                            ["service"], registry=r)
        self.failed = Counter("herbmorph_events_failed", "Events given up after retries (runtime error document)",
                              ["service"], registry=r)
        self.retries = Counter("herbmorph_events_retried", "Event attempts that will be retried", ["service"], registry=r)
        self.documents = Counter("herbmorph_documents", "Handler outcomes", ["service", "outcome"], registry=r)
        self.latency = Histogram("herbmorph_stage_seconds", "Wall time of one event through a stage (supervisor "
                                 "download, script, upload)", ["service"], buckets=LATENCY_BUCKETS, registry=r)
        self.handler_latency = Histogram("herbmorph_handler_seconds", "Wall time inside the warm handler",
                                         ["service"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue = Gauge("herbmorph_queue_depth", "Journal events by state", ["service", "state"], registry=r)
        self.worker_rss = Gauge("herbmorph_worker_rss_bytes", "Resident memory of each warm worker",
                                ["service", "slot"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
