"""Producing contract messages and reading them back, for the integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from kafka import TopicPartition

from driftline.contracts import Contract, parse_any
from driftline.kafkaio.clients import make_consumer, make_producer, send

C = TypeVar("C", bound=Contract)


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
