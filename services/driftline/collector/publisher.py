"""Kafka at the collector's edge: publish accepted items and dead letters, and wait for the ack.

The collector's hot path uses confluent-kafka (librdkafka, in C) rather than kafka-python: with
kafka-python the producer's per-record work in Python cost about four times the parsing and
validation of the event itself (see benchmarks/results/ingest.md). Its settings are those of every
driftline producer (``kafkaio.clients``), whose murmur2 partitioner puts a model key on the
partition the Java and kafka-python clients choose.

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
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from driftline.kafkaio.clients import producer_config

log = logging.getLogger(__name__)

#: One record to publish: topic, key (or None), value, headers.
Record = tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]

#: Called once per record, from :meth:`Publisher.poll`: None when Kafka acknowledged it, else the error.
Done = Callable[[Exception | None], None]


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge in time; nothing of the request may be reported as accepted."""


class _Waiter:
    """Counts the reports still due for one delivery, and keeps the first error."""

    __slots__ = ("error", "lock", "pending")

    def __init__(self, pending: int):
        self.pending = pending
        self.error: KafkaError | None = None
        # Whichever thread polls serves the report, and deliveries may run on several threads at once.
        self.lock = threading.Lock()

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        with self.lock:
            if err is not None and self.error is None:
                self.error = err
            self.pending -= 1

    def forget(self, count: int) -> None:
        """``count`` records were never handed to the producer: no report will come for them."""
        with self.lock:
            self.pending -= count


class Publisher:
    """An idempotent acks=all producer, created on first use.

    librdkafka connects in the background, so the collector starts while Kafka is down; a record
    Kafka does not take within ``send_timeout_s`` fails (and is dropped by the producer) instead of
    lingering. A delivery fails only once every record it handed over has its final report, so
    after a 503 or an MQTT retry no copy is left queued to be sent later; records of a failed
    batch that did land are sent again by a retry (the trainer drops such duplicates by event id).
    """

    def __init__(self, bootstrap_servers: str, send_timeout_s: float = 10.0, **producer_options: Any):
        self.bootstrap_servers = bootstrap_servers
        self.send_timeout_s = send_timeout_s
        timeout_ms = max(1, int(send_timeout_s * 1000))
        self._config: dict[str, Any] = producer_config(
            bootstrap_servers,
            **{
                "linger.ms": 2,
                "message.timeout.ms": timeout_ms,
                # Idempotence needs the request timeout within the message timeout.
                "request.timeout.ms": min(timeout_ms, 30_000),
                "logger": logging.getLogger("driftline.collector.librdkafka"),  # not librdkafka's own stderr
                **producer_options,
            },
        )
        self._producer: Producer | None = None
        self._generation = 0  # which producer a fatal error belongs to
        self._discarded: list[Producer] = []  # after a fatal error, until what they held has failed
        self._lock = threading.Lock()

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            with self._lock:
                if self._producer is None:
                    generation = self._generation + 1
                    config = {**self._config, "error_cb": lambda error: self._on_error(error, generation)}
                    try:
                        self._producer = Producer(config)
                    except KafkaException as e:
                        raise KafkaUnavailable(
                            f"cannot create a Kafka producer for {self.bootstrap_servers}: {e}"
                        ) from None
                    self._generation = generation
        return self._producer

    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve delivery reports (the ``done`` of :meth:`send`) on this thread, waiting up to ``timeout_s``."""
        producer = self._producer
        if producer is not None:
            producer.poll(timeout_s)
        if self._discarded:
            # Fail what a discarded producer still holds, until nothing is left, so no caller waits in vain.
            with self._lock:
                discarded = list(self._discarded)
            for old in discarded:
                old.purge()
                old.poll(0)
                if len(old) == 0:
                    with self._lock:
                        self._discarded.remove(old)

    def _on_error(self, error: KafkaError, generation: int) -> None:
        # Connection errors are transient and show up as failed deliveries; only say so in the log.
        if not error.fatal():
            log.warning("Kafka producer: %s", error)
            return
        log.error("Kafka producer: fatal error %s; a new producer is made on next use", error)
        with self._lock:
            if generation == self._generation:  # not a late word from a producer already replaced
                self._discard()

    def _discard(self) -> None:
        # The caller holds the lock.
        if self._producer is not None:
            self._discarded.append(self._producer)
        self._producer = None

    def _try_produce(self, record: Record, callback: Callable[[KafkaError | None, Message], None]) -> bool:
        """Hand one record to the producer; False when its local queue is full (Kafka slow or down)."""
        topic, key, value, headers = record
        producer = self.producer
        try:
            producer.produce(topic, value, key, headers=headers, on_delivery=callback)
            return True
        except BufferError:
            return False
        except KafkaException as e:
            error = e.args[0] if e.args and isinstance(e.args[0], KafkaError) else None
            if error is not None and (error.fatal() or error.code() == KafkaError._FATAL):
                with self._lock:
                    if self._producer is producer:
                        self._discard()
            raise KafkaUnavailable(f"Kafka refused the record: {e}") from None

    def send(self, record: Record, done: Done) -> None:
        """Hand one record to the producer; ``done`` is called from a later :meth:`poll` with its outcome.

        Raises :class:`KafkaUnavailable` at once when the producer cannot take it (queue full): the
        MQTT bridge then holds the message rather than block its network thread.
        """

        def callback(err: KafkaError | None, msg: Message) -> None:
            done(None if err is None else KafkaUnavailable(f"Kafka did not acknowledge: {err}"))

        if not self._try_produce(record, callback):
            raise KafkaUnavailable("the Kafka producer's queue is full")

    def deliver(self, records: Sequence[Record]) -> None:
        """Publish ``records`` and return only once Kafka acknowledged every one of them."""
        for wait in self._delivery(records):
            self.poll(wait)

    async def deliver_async(self, records: Sequence[Record]) -> None:
        """:meth:`deliver` for an event loop: polled from the loop, which stays free while Kafka acknowledges."""
        for wait in self._delivery(records):
            self.poll()
            await asyncio.sleep(min(wait, 0.001))

    def _delivery(self, records: Sequence[Record]) -> Iterator[float]:
        """Produce ``records`` and collect every report; yields how long to wait, serving reports, each
        time it cannot go on. Raises :class:`KafkaUnavailable` unless Kafka acknowledged them all."""
        waiter = _Waiter(len(records))
        deadline = time.monotonic() + self.send_timeout_s
        refused: KafkaUnavailable | None = None
        produced, last = 0, time.monotonic()
        for record in records:
            try:
                while not self._try_produce(record, waiter):
                    if time.monotonic() >= deadline:
                        raise KafkaUnavailable(f"Kafka producer queue still full after {self.send_timeout_s:g}s")
                    yield 0.05
            except KafkaUnavailable as e:
                refused = e
                break
            produced, last = produced + 1, time.monotonic()
        waiter.forget(len(records) - produced)
        # librdkafka reports each record within send_timeout_s of its produce; the margin lets it report first.
        settle_by = last + self.send_timeout_s + 1.0
        while waiter.pending > 0 and (left := settle_by - time.monotonic()) > 0:
            yield min(0.1, left)
        if waiter.pending > 0:
            raise KafkaUnavailable(f"Kafka did not acknowledge within {self.send_timeout_s:g}s")
        if refused is not None:
            raise refused
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
