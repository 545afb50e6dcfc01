"""Kafka at the collector's edge: publish accepted items and dead letters, and wait for the ack."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from driftline.kafkaio.clients import make_producer

log = logging.getLogger(__name__)

#: One record to publish: topic, key (or None), value, headers.
Record = tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge in time; nothing of the request may be reported as accepted."""


class Publisher:
    """An idempotent acks=all producer created on first use, so the collector starts while Kafka is down."""

    def __init__(self, bootstrap_servers: str, send_timeout_s: float = 10.0, **producer_options: Any):
        self.bootstrap_servers = bootstrap_servers
        self.send_timeout_s = send_timeout_s
        self._options = {"max_block_ms": int(send_timeout_s * 1000), **producer_options}
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            with self._lock:
                if self._producer is None:
                    try:
                        self._producer = make_producer(
                            self.bootstrap_servers,
                            bootstrap_timeout_ms=int(self.send_timeout_s * 1000),
                            **self._options,
                        )
                    except KafkaError as e:
                        raise KafkaUnavailable(f"cannot reach Kafka at {self.bootstrap_servers}: {e}") from None
        return self._producer

    def send(self, record: Record) -> FutureRecordMetadata:
        """Hand one record to the producer; the returned future resolves on the broker's ack."""
        topic, key, value, headers = record
        try:
            return self.producer.send(topic, key=key, value=value, headers=headers)
        except KafkaError as e:
            raise KafkaUnavailable(f"Kafka refused the record: {e}") from None

    def deliver(self, records: Sequence[Record]) -> None:
        """Publish ``records`` and return only once Kafka acknowledged every one of them."""
        deadline = time.monotonic() + self.send_timeout_s
        futures = [self.send(record) for record in records]
        try:
            for future in futures:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
        except KafkaError as e:
            # Records still buffered may reach Kafka later; the sender will retry them with
            # the same event ids, which the trainer dedupes.
            raise KafkaUnavailable(f"Kafka did not acknowledge within {self.send_timeout_s:g}s: {e}") from None

    def close(self, timeout_s: float = 10.0) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=timeout_s)
            except KafkaError as e:  # closing must not hide the error that made us close
                log.warning("closing the Kafka producer: %s", e)
            self._producer = None
