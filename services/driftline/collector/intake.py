"""The one path every item takes into Kafka: validate, publish the valid, dead-letter the rest, count."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from driftline.collector.ingest import INGESTED, Accepted, RawItems, Rejected, Result, StreamRules, check_items
from driftline.collector.metrics import CollectorMetrics
from driftline.collector.publisher import KafkaUnavailable, Publisher, Record
from driftline.config.settings import Settings
from driftline.kafkaio.deadletter import dead_letter_headers, dead_letter_payload

#: The ``stream`` label of items whose stream is not configured: the name comes from the sender
#: (an MQTT topic), so labelling by it would let any device create metric series at will.
UNKNOWN_STREAM = "(unknown)"


class Ingestor:
    """Shared by the HTTP app, the MQTT bridge, replay and the simulator."""

    def __init__(self, settings: Settings, publisher: Publisher, metrics: CollectorMetrics | None = None):
        self.settings = settings
        self.publisher = publisher
        self.metrics = metrics or CollectorMetrics()
        self._rules = {name: StreamRules.of(name, config) for name, config in settings.streams.items()}

    def rules(self, stream: str) -> StreamRules:
        """What items of ``stream`` are checked against; ConfigError for a stream that is not configured."""
        try:
            return self._rules[stream]
        except KeyError:
            self.settings.stream(stream)  # raises ConfigError naming the configured streams
            raise

    def topic_for(self, kind: str) -> str:
        return self.settings.topics.events.name if kind == "events" else self.settings.topics.labels.name

    def records(self, results: list[Result], kind: str, stream: str, device_id: str | None, transport: str):
        """The Kafka records for checked items: accepted ones keyed by model key, rejected ones as dead letters."""
        topic = self.topic_for(kind)
        out: list[Record] = []
        for result in results:
            if isinstance(result, Accepted):
                out.append((topic, result.key.encode(), result.value, None))
            else:
                device = device_id or _claimed_device(result)
                out.append(self.dead_letter(result.payload, result.reason, result.error, stream, device, transport))
        return out

    def dead_letter(
        self,
        payload: bytes,
        reason: str,
        error: str,
        stream: str,
        device: str | None,
        transport: str,
        size: str | None = None,
    ) -> Record:
        """The dead-letter record of ``payload`` (its head only when too big for Kafka; ``size``: see
        :func:`~driftline.kafkaio.deadletter.dead_letter_payload`)."""
        kept, truncated = dead_letter_payload(payload, size)
        # The headers keep the stream as sent, even an unknown one: the metrics cannot.
        headers = dead_letter_headers(error, transport, device, stream, reason=reason, truncated=truncated)
        return (self.settings.topics.deadletter.name, (device or stream).encode(), kept, headers)

    async def refuse_async(
        self, payload: bytes, reason: str, error: str, stream: str, device: str | None, size: str | None = None
    ) -> None:
        """Dead-letter a request body refused whole (HTTP); returns once Kafka acknowledged it.

        Raises :class:`~driftline.collector.publisher.KafkaUnavailable` when it did not.
        """
        with self._refusals("http"):
            await self.publisher.deliver_async([self.dead_letter(payload, reason, error, stream, device, "http", size)])

    def ingest(self, items: list[Any], kind: str, stream: str, device_id: str | None, transport: str) -> list[Result]:
        """Check and publish ``items`` for ``stream``; returns only after Kafka acknowledged all of them.

        Raises :class:`~driftline.collector.publisher.KafkaUnavailable` when it did not.
        """
        results = self.check(items, kind, stream, device_id)
        self.publish(results, kind, stream, device_id, transport)
        return results

    async def ingest_async(
        self,
        items: list[Any],
        kind: str,
        stream: str,
        device_id: str | None,
        transport: str,
        raw: RawItems | None = None,
    ) -> list[Result]:
        """:meth:`ingest` on an event loop, which stays free while Kafka acknowledges.

        ``raw``: the body the items came from, whose bytes a rejected item is dead-lettered with.
        """
        results = self.check(items, kind, stream, device_id, raw)
        records = self.records(results, kind, stream, device_id, transport)
        started = time.perf_counter()
        with self._refusals(transport):
            await self.publisher.deliver_async(records)
        self._published(results, stream, transport, started)
        return results

    def check(
        self, items: list[Any], kind: str, stream: str, device_id: str | None, raw: RawItems | None = None
    ) -> list[Result]:
        return check_items(items, INGESTED[kind], stream, device_id, self.rules(stream), raw)

    def publish(self, results: list[Result], kind: str, stream: str, device_id: str | None, transport: str) -> None:
        records = self.records(results, kind, stream, device_id, transport)
        started = time.perf_counter()
        with self._refusals(transport):
            self.publisher.deliver(records)
        self._published(results, stream, transport, started)

    @contextlib.contextmanager
    def _refusals(self, transport: str) -> Iterator[None]:
        try:
            yield
        except KafkaUnavailable:
            # Only Kafka's refusal is an outage; any other exception is a bug and propagates as such.
            self.metrics.refused.labels(transport, "kafka_unavailable").inc()
            raise

    def _published(self, results: list[Result], stream: str, transport: str, started: float) -> None:
        self.metrics.send_latency.labels(transport).observe(time.perf_counter() - started)
        self.metrics.batch_size.labels(transport).observe(len(results))
        self.count(results, stream, transport)

    def count(self, results: list[Result], stream: str, transport: str) -> None:
        """Count accepted and rejected items; a stream that is not configured is labelled ``(unknown)``."""
        stream = stream if stream in self.settings.streams else UNKNOWN_STREAM
        # No Counter: the MQTT bridge counts one message at a time.
        accepted = clamped = 0
        for result in results:
            if isinstance(result, Rejected):
                self.metrics.rejected.labels(stream, transport, result.reason).inc()
            else:
                accepted += 1
                clamped += result.clamped
        if accepted:
            self.metrics.accepted.labels(stream, transport).inc(accepted)
        if clamped:
            self.metrics.clamped.labels(stream, transport).inc(clamped)


def _claimed_device(rejected: Rejected) -> str:
    # Best effort for the dead-letter header: what the payload says it came from.
    try:
        import orjson

        data = orjson.loads(rejected.payload)
        device = data.get("device_id") if isinstance(data, dict) else None
        return device if isinstance(device, str) else ""
    except orjson.JSONDecodeError:
        return ""
