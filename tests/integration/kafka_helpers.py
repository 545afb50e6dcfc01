"""Producing contract messages and reading them back, for the integration tests.

The tests talk to Kafka with kafka-python, a client the services do not use (they use
confluent-kafka): the tests read and write driftline's topics the way an outside consumer or
device would, which also proves the topics are plain Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from driftline.contracts import Contract, parse_any

C = TypeVar("C", bound=Contract)


def make_producer(bootstrap_servers: str, **overrides: Any) -> KafkaProducer:
    """An outside producer: acks=all, idempotent, kafka-python's (Java-compatible) murmur2 partitioner."""
    return KafkaProducer(
        **{
            "bootstrap_servers": bootstrap_servers,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            **overrides,
        }
    )


def make_consumer(bootstrap_servers: str, *topics: str, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    """An outside consumer from the earliest record that sees committed transactions only."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
    }
    return KafkaConsumer(*topics, **{**options, **overrides})


def send(
    producer: KafkaProducer, topic: str, message: Contract, key: str, headers: list[tuple[str, bytes]] | None = None
):
    """Publish a contract message keyed by its model key; returns kafka-python's future."""
    return producer.send(topic, key=key.encode(), value=message.to_bytes(), headers=headers)


def produce(bootstrap: str, topic: str, messages: Iterable[tuple[str, Contract]]) -> int:
    """Send (key, message) pairs and wait until Kafka acknowledged all of them."""
    producer = make_producer(bootstrap)
    futures = [send(producer, topic, message, key) for key, message in messages]
    producer.flush()
    for future in futures:
        future.get(timeout=30)
    producer.close()
    return len(futures)


class TopicReader:
    """Reads a whole topic from the beginning, keeping the messages of one contract."""

    def __init__(self, bootstrap: str, topic: str, model: type[C], partitions: int = 1) -> None:
        self.model = model
        self.consumer = make_consumer(bootstrap, group_id=None)
        self.consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        self.consumer.seek_to_beginning()
        self.seen: list[C] = []

    def until(self, done: Callable[[list[C]], bool], timeout: float = 90.0) -> list[C]:
        """Keep reading until ``done(all read so far)``; fail with what was read after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not done(self.seen):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s with {len(self.seen)} messages read")
            self._poll()
        return self.seen

    def _poll(self) -> None:
        for records in self.consumer.poll(timeout_ms=200).values():
            for record in records:
                message = parse_any(record.value)
                # Topics such as control carry several contracts; keep the one asked for.
                if isinstance(message, self.model):
                    self.seen.append(message)

    def drain(self, idle_s: float = 3.0) -> list[C]:
        """Everything on the topic by now: read until nothing new arrives for ``idle_s``."""
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_s:
            before = len(self.seen)
            self._poll()
            if len(self.seen) != before:
                quiet_since = time.monotonic()
        return self.seen

    def count(self, n: int, timeout: float = 90.0) -> list[C]:
        return self.until(lambda seen: len(seen) >= n, timeout)

    def close(self) -> None:
        self.consumer.close()
