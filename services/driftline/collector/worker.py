"""Run the collector as one process or as ``collector.workers`` processes on one port.

One Python process validates about 90k events/s at most (the GIL; benchmarks/results/ingest.md),
so the collector scales out over processes. With several workers uvicorn starts and supervises
them (restarting one that dies); each builds its own app from the same settings here, with its
own Kafka producer, and, when MQTT is on, its own bridge client in the bridges' shared
subscription. A worker takes the lowest free *slot* (a file lock under ``state_dir``), so the
bridge of a restarted worker resumes the persistent MQTT session of the one it replaces.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

from fastapi import FastAPI
from prometheus_client import multiprocess

from driftline.collector.app import create_app
from driftline.collector.intake import Ingestor
from driftline.collector.mqtt_bridge import MqttBridge
from driftline.collector.publisher import Publisher
from driftline.config import load_settings
from driftline.config.settings import Settings
from driftline.kafkaio.clients import cluster
from driftline.kafkaio.health import KafkaProbe
from driftline.logs import setup_logging

log = logging.getLogger(__name__)

#: Where the metrics of several workers meet; prometheus_client reads it when first imported.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Slot:
    """A worker's slot, a lock file ``slot-<index>.lock`` in ``folder``, held until :meth:`release` or exit."""

    def __init__(self, folder: Path, index: int, handle: IO[str]):
        self.folder, self.index, self._handle = folder, index, handle

    @classmethod
    def take(cls, folder: Path, index: int) -> Slot | None:
        """Slot ``index``, or None while another live process holds it."""
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / f"slot-{index}.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return cls(folder, index, handle)

    @classmethod
    def claim(cls, folder: Path, index: int) -> Slot:
        """Slot ``index``; refused while another live process holds it."""
        if (slot := cls.take(folder, index)) is None:
            raise RuntimeError(f"collector worker slot {index} under {folder} is in use: another collector runs there")
        return slot

    @classmethod
    def lowest_free(cls, folder: Path, count: int) -> Slot:
        for index in range(count):
            if (slot := cls.take(folder, index)) is not None:
                return slot
        raise RuntimeError(f"all {count} collector worker slots under {folder} are taken: another collector runs there")

    def release(self) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


def retire_slots(settings: Settings, timeout_s: float = 300.0) -> None:
    """Drain the MQTT sessions of slots that ``collector.workers`` no longer uses (see MqttBridge.retire)."""
    folder = slots_folder(settings)
    # Slot 0 always stays: a single bridge has its client id, and drops the shared subscription itself.
    workers = settings.collector.workers
    used = [int(path.stem.removeprefix("slot-")) for path in folder.glob("slot-*.lock")]
    for index in sorted(i for i in used if i >= workers):
        slot = Slot.claim(folder, index)
        ingestor = Ingestor(settings, Publisher(cluster(settings), settings.collector.send_timeout_s))
        bridge = MqttBridge(ingestor, slot=index)
        drained = bridge.retire(timeout=timeout_s)
        ingestor.publisher.close()
        if not drained:
            # Kept: what Kafka did not take stays in the session, and the next start tries again.
            log.error(
                "MQTT session %s: %d of %d queued messages not acknowledged by Kafka; its slot is kept",
                bridge.client_id, bridge.received - bridge.settled, bridge.received,
            )  # fmt: skip
            slot.release()
            continue
        log.info(
            "retired MQTT session %s: forwarded %d queued messages (the collector now runs %d workers)",
            bridge.client_id, bridge.received, workers,
        )  # fmt: skip
        (folder / f"slot-{index}.lock").unlink()
        slot.release()


def slots_folder(settings: Settings) -> Path:
    return settings.state_dir / "collector-slots"


def build(settings: Settings, slot: int | None = None) -> FastAPI:
    """One collector process: HTTP ingest and, if enabled, a bridge client; both closed on shutdown.

    Each has a producer of its own, polled on its own thread (the event loop, paho's network thread).
    """
    publishers = [Publisher(cluster(settings), settings.collector.send_timeout_s) for _ in range(2)]
    ingestor = Ingestor(settings, publishers[0])
    # Ingest answers 503 by itself while Kafka is away; /healthz says so before a device tries.
    probe = KafkaProbe(cluster(settings))
    app = create_app(ingestor, probe.problem)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Everything alive now (modules, app, settings) lives as long as the process: out of the
        # collector's sight, the full collections that the per-event garbage sets off stop walking
        # it (one process: ~65k -> ~85k events/s in bench_ingest).
        gc.freeze()
        probe.start()
        bridge = None
        if settings.collector.mqtt.enabled:
            bridge = MqttBridge(Ingestor(settings, publishers[1], ingestor.metrics), slot=slot).start()
        try:
            yield
        finally:
            if bridge is not None:
                bridge.stop()
            for publisher in publishers:  # what is in flight is acknowledged (or not) before the process ends
                publisher.close()
            probe.stop()

    app.router.lifespan_context = lifespan
    return app


def worker_app() -> FastAPI:
    """uvicorn's factory for each of several workers: settings from the environment the parent set."""
    setup_logging()
    settings = load_settings()
    slot = Slot.lowest_free(slots_folder(settings), settings.collector.workers)
    app = build(settings, slot.index)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            yield
        slot.release()
        # Its live gauges leave the sum (a worker that crashes keeps them until the collector restarts).
        multiprocess.mark_process_dead(os.getpid())

    app.router.lifespan_context = lifespan
    return app


#: Seconds a worker has to answer its supervisor's health check (uvicorn's default is 5 s). A new worker answers
#: only once its interpreter has started and imported uvicorn; on a loaded machine that took longer than 5 s,
#: and the supervisor killed each worker as hung and started another, so the collector never came up.
WORKER_HEALTHCHECK_S = 30


def serve(settings: Settings, config: Path | None) -> None:
    """Serve until stopped: in this process, or in ``settings.collector.workers`` processes."""
    import uvicorn

    collector = settings.collector
    if collector.mqtt.enabled:
        retire_slots(settings)
    if collector.workers == 1:
        # Slot 0's MQTT session is this bridge's: a second collector on it would take turns with it.
        slot = Slot.claim(slots_folder(settings), 0) if collector.mqtt.enabled else None
        try:
            uvicorn.run(build(settings), host=collector.host, port=collector.port, access_log=collector.access_log)
        finally:
            if slot is not None:
                slot.release()
        return
    metrics_dir = tempfile.mkdtemp(prefix="driftline-collector-metrics-")
    # The workers are new interpreters: they read the config and these overrides from the environment.
    os.environ[MULTIPROC_ENV] = metrics_dir
    if config is not None:
        os.environ["DRIFTLINE_CONFIG"] = str(config)
    os.environ["DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS"] = settings.kafka.bootstrap_servers
    os.environ["DRIFTLINE_COLLECTOR__WORKERS"] = str(collector.workers)
    os.environ["DRIFTLINE_COLLECTOR__MQTT__ENABLED"] = str(collector.mqtt.enabled).lower()
    try:
        uvicorn.run(
            "driftline.collector.worker:worker_app",
            factory=True,
            workers=collector.workers,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            host=collector.host,
            port=collector.port,
            access_log=collector.access_log,  # a line per request: 96% of a stack run's log when on
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
