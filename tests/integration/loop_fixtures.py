"""A minimal handler for tests of the stream loop itself, and a loop run on a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import Message

from driftline.kafkaio.checkpoints import KafkaCheckpointStore
from driftline.kafkaio.loop import Output, StreamLoop
from driftline.kafkaio.loopconfig import LoopConfig


class Echo:
    """A handler that answers each record with one output, its unit a partition (as the trainer's)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.seen = 0  # records handed to on_record (written by the loop's thread only)

    def unit_of(self, topic: str, partition: int) -> str:
        return f"p{partition}"

    def on_record(self, unit: str, message: Message) -> list[Output]:
        self.seen += 1
        return [(self.topic, message.key(), message.value(), None)]

    def on_side(self, message: Message) -> tuple[list[Output], set[str]]:
        return [], set()

    def snapshot(self, unit: str) -> bytes:
        return unit.encode()

    def restore(self, unit: str, state: bytes | None) -> None:
        pass

    def release(self, unit: str) -> None:
        pass


@contextmanager
def running(
    bootstrap: str, config: LoopConfig, handler: Echo, store: KafkaCheckpointStore | None
) -> Iterator[StreamLoop]:
    """The loop on a thread of its own, ready (its partitions taken); stopped and joined on the way out."""
    loop = StreamLoop(bootstrap, config, handler, store)
    stop = threading.Event()
    runner = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    runner.start()
    try:
        assert loop.ready.wait(60), "the loop took its partitions"
        yield loop
    finally:
        stop.set()
        runner.join(120)
    assert not runner.is_alive(), "the loop stopped"
