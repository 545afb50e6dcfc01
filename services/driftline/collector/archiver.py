"""The archiver: a consumer group reading the events and labels topics into the lake in batches.

It runs the one consumer loop of driftline (:class:`~driftline.kafkaio.loop.StreamLoop`) without
state or outputs: records are buffered, and every commit first writes the buffer to Parquet files,
so offsets are committed only after their events (and late labels) are in the lake. A crash re-archives rather than
loses; :func:`~driftline.lake.export` drops the resulting duplicates.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from confluent_kafka import Message

from driftline.config.settings import Settings
from driftline.kafkaio.clients import secured
from driftline.kafkaio.loop import Output, StreamLoop
from driftline.kafkaio.loopconfig import LoopConfig
from driftline.lake import LABELS_DIR, Record, to_frame, to_label_frame, write_frame

log = logging.getLogger(__name__)


class Archiver:
    def __init__(self, settings: Settings, bootstrap: str, lake_dir: Path | None = None, group: str = "driftline-lake"):
        self.settings = settings
        self.lake_dir = lake_dir or settings.collector.lake_dir or settings.state_dir / "lake"
        config = LoopConfig(
            group_id=group,
            topics=[settings.topics.events.name, settings.topics.labels.name],
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
        self.archived = 0  # events
        self.archived_labels = 0
        #: Records not written yet, by (topic, partition): the loop's unit.
        self._buffer: dict[tuple[str, int], list[Record]] = {}
        self._last_seen = time.monotonic()
        self._assigned = threading.Event()

    def run(self, stop: threading.Event | None = None, idle_exit_s: float | None = None) -> int:
        """Archive until ``stop`` is set (or after ``idle_exit_s`` without new events); returns events archived."""
        stop = stop or threading.Event()
        if idle_exit_s is not None:
            threading.Thread(target=self._stop_when_idle, args=(stop, idle_exit_s), daemon=True).start()
        self._last_seen = time.monotonic()
        topics = self.settings.topics
        log.info("archiving %s and %s into %s", topics.events.name, topics.labels.name, self.lake_dir)
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
        return f"{topic}:{partition}"

    def on_record(self, unit: str, message: Message) -> list[Output]:
        record = (message.key(), message.value(), message.partition(), message.offset())
        self._buffer.setdefault((message.topic(), message.partition()), []).append(record)
        self._last_seen = time.monotonic()
        return []

    def before_commit(self) -> None:
        """Write the buffer before its offsets are committed."""
        if not self._buffer:
            return
        # Emptied first: a batch whose write failed is not written again on the way out.
        buffer, self._buffer = self._buffer, {}
        labels_topic = self.settings.topics.labels.name
        events = [r for (topic, _), records in buffer.items() if topic != labels_topic for r in records]
        labels = [r for (topic, _), records in buffer.items() if topic == labels_topic for r in records]
        files = write_frame(to_frame(events), self.lake_dir) if events else []
        files += write_frame(to_label_frame(labels), self.lake_dir / LABELS_DIR) if labels else []
        self.archived += len(events)
        self.archived_labels += len(labels)
        log.info("lake: archived %d events and %d labels into %d files under %s",
                 len(events), len(labels), len(files), self.lake_dir)  # fmt: skip

    def on_side(self, message: Message) -> tuple[list[Output], set[str]]:
        return [], set()

    def snapshot(self, unit: str) -> bytes:
        return b""

    def restore(self, unit: str, state: bytes | None) -> None:
        self._last_seen = time.monotonic()
        self._assigned.set()

    def release(self, unit: str) -> None:
        # Not archived yet: the partition's next reader (or this loop, starting over) reads them again.
        topic, _, partition = unit.rpartition(":")
        self._buffer.pop((topic, int(partition)), None)
