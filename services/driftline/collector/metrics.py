"""The collector's Prometheus metrics, on a registry of its own so several apps can live in one process.

With several collector workers (``collector.workers``), every process writes its values to the
files of prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by
``driftline collector`` before it starts them), and /metrics of any worker reports the sum.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from driftline.rules import metric_names as names

BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.accepted = Counter(
            names.COLLECTOR_EVENTS_ACCEPTED,
            "Items acknowledged by Kafka on the events or labels topic.",
            ["stream", "transport"],
            registry=self.registry,
        )
        self.rejected = Counter(
            names.COLLECTOR_EVENTS_REJECTED,
            "Items rejected and dead-lettered, by reason; streams not configured are labelled (unknown).",
            ["stream", "transport", "reason"],
            registry=self.registry,
        )
        self.clamped = Counter(
            names.COLLECTOR_EVENTS_CLAMPED,
            "Items accepted with their time set to when the collector received them: they were further ahead of "
            "its clock than the stream's max_clock_skew_s (future_events = clamp).",
            ["stream", "transport"],
            registry=self.registry,
        )
        self.refused = Counter(
            names.COLLECTOR_REQUESTS_REFUSED,
            "Requests refused whole: unauthorized, forbidden, unknown_stream (not dead-lettered), too_large, "
            "unsupported_media_type, not_json, invalid, too_deep, empty (dead-lettered), kafka_unavailable "
            "(on MQTT: each time Kafka did not take a message).",
            ["transport", "reason"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            names.COLLECTOR_BATCH_SIZE,
            "Items per request or per replay batch.",
            ["transport"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.send_latency = Histogram(
            names.COLLECTOR_KAFKA_SEND_SECONDS,
            "Time from handing a batch to the producer until Kafka acknowledged all of it.",
            ["transport"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.mqtt_held = Gauge(
            names.COLLECTOR_MQTT_HELD_MESSAGES,
            "MQTT messages Kafka did not take, held unacknowledged until the next retry round.",
            registry=self.registry,
            multiprocess_mode="livesum",  # summed over the workers alive
        )
        self.mqtt_retry_rounds = Counter(
            names.COLLECTOR_MQTT_RETRY_ROUNDS,
            "Retry rounds of the MQTT bridge: after one pause, every held message is resent.",
            registry=self.registry,
        )

    @property
    def exposition(self) -> CollectorRegistry:
        """The registry /metrics reports: this process's, or with several workers, the sum over all of them."""
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            return self.registry
        summed = CollectorRegistry()
        MultiProcessCollector(summed)
        return summed
