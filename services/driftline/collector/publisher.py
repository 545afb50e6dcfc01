"""Kafka at the collector's edge: publish accepted items and dead letters, and wait for the ack.

The collector's hot path uses confluent-kafka (librdkafka, in C) rather than kafka-python: with
kafka-python the producer's per-record work in Python cost about four times the parsing and
validation of the event itself (see benchmarks/results/ingest.md). The rest of driftline keeps
kafka-python. The partitioner is librdkafka's murmur2, so a model key lands on the same partition
as when the Java or kafka-python clients write it.

Delivery reports are served on the thread that waits for them (``deliver`` polls until its records
are acknowledged, ``deliver_async`` polls from the event loop, a ``send`` user calls :meth:`poll`),
never on a poll thread of its own: a report handed to another thread costs a GIL hand-off per
record, which measured about a third of the MQTT bridge's CPU (benchmarks/results/ingest.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

log = logging.getLogger(__name__)

#: One record to publish: topic, key (or None), value, headers.
Record = tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]

#: Called once per record, from :meth:`Publisher.poll`: None when Kafka acknowledged it, else the error.
Done = Callable[[Exception | None], None]


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge in time; nothing of the request may be reported as accepted."""


class _Waiter:
    """Counts the acks of one ``deliver`` call."""

    __slots__ = ("done", "error", "lock", "pending")

    def __init__(self, pending: int):
        self.pending = pending
        self.error: KafkaError | None = None
        self.done = False
        # Whichever thread polls serves the report, and deliver may run on several threads at once.
        self.lock = threading.Lock()

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        with self.lock:
            if err is not None and self.error is None:
                self.error = err
            self.pending -= 1
            self.done = self.done or self.pending == 0 or err is not None


class Publisher:
    """An idempotent acks=all producer, created on first use.

    librdkafka connects in the background, so the collector starts while Kafka is down; a record
    Kafka does not take within ``send_timeout_s`` fails (and is dropped by the producer) instead of
    lingering, so a 503 or an MQTT retry never leaves a second copy queued behind it.
    """

    def __init__(self, bootstrap_servers: str, send_timeout_s: float = 10.0, **producer_options: Any):
        self.bootstrap_servers = bootstrap_servers
        self.send_timeout_s = send_timeout_s
        timeout_ms = max(1, int(send_timeout_s * 1000))
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "partitioner": "murmur2_random",  # same key -> partition mapping as kafka-python and Java
            "message.timeout.ms": timeout_ms,
            # Idempotence needs the request timeout within the message timeout.
            "request.timeout.ms": min(timeout_ms, 30_000),
            "error_cb": self._on_error,
            "logger": logging.getLogger("driftline.collector.librdkafka"),  # not librdkafka's own stderr
            **producer_options,
        }
        self._producer: Producer | None = None
        self._discarded: list[Producer] = []  # after a fatal error, until what they held has failed
        self._lock = threading.Lock()

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            with self._lock:
                if self._producer is None:
                    try:
                        self._producer = Producer(self._config)
                    except KafkaException as e:
                        raise KafkaUnavailable(
                            f"cannot create a Kafka producer for {self.bootstrap_servers}: {e}"
                        ) from None
        return self._producer

    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve delivery reports (the ``done`` of :meth:`send`) on this thread, waiting up to ``timeout_s``."""
        producer = self._producer
        if producer is not None:
            producer.poll(timeout_s)
        while self._discarded:
            # Fail what a discarded producer still holds so no caller waits in vain.
            with self._lock:
                discarded, self._discarded = self._discarded, []
            for old in discarded:
                old.purge()
                old.poll(0)

    def _on_error(self, error: KafkaError) -> None:
        # Connection errors are transient and show up as failed deliveries; only say so in the log.
        if error.fatal():
            log.error("Kafka producer: fatal error %s; a new producer is made on next use", error)
            self._discard()
        else:
            log.warning("Kafka producer: %s", error)

    def _discard(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._discarded.append(self._producer)
            self._producer = None

    def _produce(self, record: Record, callback: Callable[[KafkaError | None, Message], None], deadline: float) -> None:
        topic, key, value, headers = record
        while True:
            producer = self.producer
            try:
                producer.produce(topic, value, key, headers=headers, on_delivery=callback)
                return
            except BufferError:
                # The local queue is full (Kafka slow or down): wait for room until the deadline.
                if time.monotonic() >= deadline:
                    raise KafkaUnavailable(f"Kafka producer queue still full after {self.send_timeout_s:g}s") from None
                self.poll(0.05)
            except KafkaException as e:
                if e.args and isinstance(e.args[0], KafkaError) and e.args[0].fatal():
                    self._discard()
                raise KafkaUnavailable(f"Kafka refused the record: {e}") from None

    def send(self, record: Record, done: Done) -> None:
        """Hand one record to the producer; ``done`` is called from a later :meth:`poll` with its outcome."""

        def callback(err: KafkaError | None, msg: Message) -> None:
            done(None if err is None else KafkaUnavailable(f"Kafka did not acknowledge: {err}"))

        self._produce(record, callback, time.monotonic() + self.send_timeout_s)

    def deliver(self, records: Sequence[Record]) -> None:
        """Publish ``records`` and return only once Kafka acknowledged every one of them."""
        if not records:
            return
        waiter = _Waiter(len(records))
        deadline = self._produce_all(records, waiter)
        while not waiter.done and time.monotonic() < deadline:
            self.poll(min(0.1, max(0.0, deadline - time.monotonic())))
        self._settle(waiter)

    async def deliver_async(self, records: Sequence[Record]) -> None:
        """:meth:`deliver` for an event loop: polled from the loop, which stays free while Kafka acknowledges."""
        if not records:
            return
        waiter = _Waiter(len(records))
        deadline = self._produce_all(records, waiter)
        while True:
            self.poll()
            if waiter.done or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.001)
        self._settle(waiter)

    def _produce_all(self, records: Sequence[Record], waiter: _Waiter) -> float:
        deadline = time.monotonic() + self.send_timeout_s
        for record in records:
            self._produce(record, waiter, deadline)
        # A small margin past the deadline lets librdkafka's own message timeout report first.
        return deadline + 1.0

    def _settle(self, waiter: _Waiter) -> None:
        if not waiter.done:
            raise KafkaUnavailable(f"Kafka did not acknowledge within {self.send_timeout_s:g}s")
        if waiter.error is not None:
            raise KafkaUnavailable(f"Kafka did not acknowledge: {waiter.error}")

    def flush(self, timeout_s: float = 10.0) -> int:
        """Wait until Kafka answered every record (serving their reports here); how many are left."""
        producer = self._producer
        left = producer.flush(timeout_s) if producer is not None else 0
        self.poll()
        return left

    def close(self, timeout_s: float = 10.0) -> None:
        if left := self.flush(timeout_s):
            log.warning("closing the Kafka producer with %d records unacknowledged", left)
        with self._lock:
            self._producer = None
