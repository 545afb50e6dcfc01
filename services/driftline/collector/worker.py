"""Run the collector as one process or as ``collector.workers`` processes on one port.

One Python process validates about 60k events/s at most (the GIL; benchmarks/results/ingest.md),
so the collector scales out over processes. With several workers uvicorn starts and supervises
them (restarting one that dies); each builds its own app from the same settings here, with its
own Kafka producer, and, when MQTT is on, its own bridge client in the bridges' shared
subscription. A worker takes the lowest free *slot* (a file lock under ``state_dir``), so the
bridge of a restarted worker resumes the persistent MQTT session of the one it replaces.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

from fastapi import FastAPI

from driftline.collector.app import create_app
from driftline.collector.mqtt_bridge import MqttBridge
from driftline.collector.publisher import Publisher
from driftline.collector.service import Ingestor
from driftline.config import Settings, load_settings
from driftline.logs import setup_logging

#: Where the metrics of several workers meet; prometheus_client reads it when first imported.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Slot:
    """The lowest of ``count`` slots no other live process holds, held until :meth:`release` or exit."""

    def __init__(self, folder: Path, count: int):
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            handle = (folder / f"slot-{index}.lock").open("w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self.index, self._handle = index, handle
            return
        raise RuntimeError(f"all {count} collector worker slots under {folder} are taken: another collector runs there")

    def release(self) -> None:
        handle: IO[str] = self._handle
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def build(settings: Settings, slot: int | None = None) -> FastAPI:
    """One collector process: HTTP ingest and, if enabled, a bridge client; both closed on shutdown.

    Each has a producer of its own, polled on its own thread (the event loop, paho's network thread).
    """
    publishers = [Publisher(settings.kafka.bootstrap_servers, settings.collector.send_timeout_s) for _ in range(2)]
    ingestor = Ingestor(settings, publishers[0])
    app = create_app(ingestor)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
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

    app.router.lifespan_context = lifespan
    return app


def worker_app() -> FastAPI:
    """uvicorn's factory for each of several workers: settings from the environment the parent set."""
    setup_logging()
    settings = load_settings()
    slot = Slot(settings.state_dir / "collector-slots", settings.collector.workers)
    app = build(settings, slot.index)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            yield
        slot.release()

    app.router.lifespan_context = lifespan
    return app


def serve(settings: Settings, config: Path | None) -> None:
    """Serve until stopped: in this process, or in ``settings.collector.workers`` processes."""
    import uvicorn

    collector = settings.collector
    if collector.workers == 1:
        uvicorn.run(build(settings), host=collector.host, port=collector.port)
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
            host=collector.host,
            port=collector.port,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
