"""The archiver: a consumer group reading the events topic into the lake in batches.

Offsets are committed only after a batch's files are written, so a crash re-archives rather
than loses; :func:`~driftline.collector.lake.export` drops the resulting duplicates.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from driftline.collector.lake import to_frame, write_frame
from driftline.config import Settings
from driftline.kafkaio.clients import make_consumer

log = logging.getLogger(__name__)


class Archiver:
    def __init__(self, settings: Settings, bootstrap: str, lake_dir: Path | None = None, group: str = "driftline-lake"):
        self.settings = settings
        self.lake_dir = lake_dir or settings.collector.lake_dir or settings.state_dir / "lake"
        self.batch_events = settings.collector.lake_batch_events
        self.batch_seconds = settings.collector.lake_batch_seconds
        self.consumer = make_consumer(bootstrap, settings.topics.events.name, group_id=group)
        self.archived = 0

    def run(self, stop: threading.Event | None = None, idle_exit_s: float | None = None) -> int:
        """Archive until ``stop`` is set (or after ``idle_exit_s`` without new events); returns events archived."""
        stop = stop or threading.Event()
        buffer: list[tuple[bytes | None, bytes, int, int]] = []
        first_at = last_seen = time.monotonic()
        try:
            while not stop.is_set():
                polled = self.consumer.poll(timeout_ms=500, max_records=5000)
                now = time.monotonic()
                for records in polled.values():
                    if records and not buffer:
                        first_at = now
                    buffer += [(r.key, r.value, r.partition, r.offset) for r in records]
                    last_seen = now
                idle = idle_exit_s is not None and now - last_seen >= idle_exit_s
                if buffer and (len(buffer) >= self.batch_events or now - first_at >= self.batch_seconds or idle):
                    # Emptied first: a batch whose write failed is not written again on the way out.
                    batch, buffer = buffer, []
                    self._flush(batch)
                if idle:
                    break
        finally:
            try:
                if buffer:
                    self._flush(buffer)
            finally:
                # Even when a write failed: a consumer left open would hold its partitions in the group.
                self.consumer.close()
        return self.archived

    def _flush(self, buffer: list[tuple[bytes | None, bytes, int, int]]) -> None:
        files = write_frame(to_frame(buffer), self.lake_dir)
        self.consumer.commit()
        self.archived += len(buffer)
        log.info("lake: archived %d events into %d files under %s", len(buffer), len(files), self.lake_dir)
