"""The archiver: a consumer group reading the events topic into the lake in batches.

It runs the one consumer loop of driftline (:class:`~driftline.kafkaio.loop.StreamLoop`) without
state or outputs: records are buffered, and every commit first writes the buffer to Parquet files,
so offsets are committed only after their events are in the lake. A crash re-archives rather than
loses; :func:`~driftline.collector.lake.export` drops the resulting duplicates.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from confluent_kafka import Message

from driftline.collector.lake import to_frame, write_frame
from driftline.config import Settings
from driftline.kafkaio.clients import secured
from driftline.kafkaio.loop import LoopConfig, Output, StreamLoop

log = logging.getLogger(__name__)


class Archiver:
    def __init__(self, settings: Settings, bootstrap: str, lake_dir: Path | None = None, group: str = "driftline-lake"):
        self.settings = settings
        self.lake_dir = lake_dir or settings.collector.lake_dir or settings.state_dir / "lake"
        config = LoopConfig(
            group_id=group,
            topics=[settings.topics.events.name],
            client_id=f"{settings.kafka.client_id}-archiver",
            static_membership=False,
            exactly_once=False,
            checkpoints=False,
            commit_interval_s=settings.collector.lake_batch_seconds,
            commit_records=settings.collector.lake_batch_events,
            commit_when_idle=False,  # a file per batch, not per pause
            batch=5000,
        )
        self.loop = StreamLoop(secured(bootstrap, settings.kafka), config, self, None)
        self.archived = 0
        self._buffer: list[tuple[bytes | None, bytes, int, int]] = []
        self._last_seen = time.monotonic()
        self._assigned = threading.Event()

    def run(self, stop: threading.Event | None = None, idle_exit_s: float | None = None) -> int:
        """Archive until ``stop`` is set (or after ``idle_exit_s`` without new events); returns events archived."""
        stop = stop or threading.Event()
        if idle_exit_s is not None:
            threading.Thread(target=self._stop_when_idle, args=(stop, idle_exit_s), daemon=True).start()
        self._last_seen = time.monotonic()
        log.info("archiving %s into %s", self.settings.topics.events.name, self.lake_dir)
        try:
            self.loop.run(stop)
        finally:
            stop.set()
        return self.archived

    def _stop_when_idle(self, stop: threading.Event, idle_s: float) -> None:
        while not stop.wait(0.2):
            # Idle only counts once partitions are assigned: joining the group can take longer than idle_s.
            if self._assigned.is_set() and time.monotonic() - self._last_seen >= idle_s:
                stop.set()

    # The loop's handler

    def unit_of(self, topic: str, partition: int) -> str:
        return f"p{partition}"

    def on_record(self, unit: str, message: Message) -> list[Output]:
        self._buffer.append((message.key(), message.value(), message.partition(), message.offset()))
        self._last_seen = time.monotonic()
        return []

    def before_commit(self) -> None:
        """Write the buffer before its offsets are committed."""
        if not self._buffer:
            return
        # Emptied first: a batch whose write failed is not written again on the way out.
        batch, self._buffer = self._buffer, []
        files = write_frame(to_frame(batch), self.lake_dir)
        self.archived += len(batch)
        log.info("lake: archived %d events into %d files under %s", len(batch), len(files), self.lake_dir)

    def on_side(self, message: Message) -> tuple[list[Output], set[str]]:
        return [], set()

    def snapshot(self, unit: str) -> bytes:
        return b""

    def restore(self, unit: str, state: bytes | None) -> None:
        self._last_seen = time.monotonic()
        self._assigned.set()

    def release(self, unit: str) -> None:
        # Not archived yet: the partition's next reader (or this loop, starting over) reads them again.
        partition = int(unit.removeprefix("p"))
        self._buffer = [record for record in self._buffer if record[2] != partition]
