"""The collector's Prometheus metrics, on a registry of its own so several apps can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.accepted = Counter(
            "driftline_collector_events_accepted",
            "Items acknowledged by Kafka on the events or labels topic.",
            ["stream", "transport"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "driftline_collector_events_rejected",
            "Items rejected and dead-lettered, by reason (invalid, wrong_stream, wrong_device, too_large...).",
            ["stream", "transport", "reason"],
            registry=self.registry,
        )
        self.refused = Counter(
            "driftline_collector_requests_refused",
            "Requests refused whole: unauthorized, forbidden, unknown_stream, too_large, kafka_unavailable.",
            ["transport", "reason"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "driftline_collector_batch_size",
            "Items per request or per replay batch.",
            ["transport"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.send_latency = Histogram(
            "driftline_collector_kafka_send_seconds",
            "Time from handing a batch to the producer until Kafka acknowledged all of it.",
            ["transport"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
