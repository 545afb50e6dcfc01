"""What every service does at start-up: find Kafka (starting a local one if none is configured)."""

from __future__ import annotations

import logging
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from driftline.config import ConfigError, Settings
from driftline.kafkaio.broker import LocalBroker
from driftline.kafkaio.clients import cluster, require_reachable
from driftline.kafkaio.topics import ensure_topics

log = logging.getLogger(__name__)


@contextmanager
def kafka_for(
    settings: Settings, start_local: bool = False, fresh: bool = True, port: int | None = None
) -> Iterator[str]:
    """Yield bootstrap servers (with this service's Kafka credentials) with driftline's topics in place.

    With ``kafka.bootstrap_servers`` set, that cluster is used. Otherwise, only with
    ``start_local`` (the stack and the smoke run), a local broker is started under
    ``state_dir/kafka`` (wiped first when ``fresh``) and stopped on exit; a service on its own
    refuses, since a private broker nobody else reads would silently swallow its work. The local
    broker listens on ``port`` (default: any free port).
    """
    if settings.kafka.bootstrap_servers:
        servers = cluster(settings)
        require_reachable(servers)
        ensure_topics(servers, settings.topics, settings.kafka.replication_factor)
        yield servers
        return
    if not start_local:
        raise ConfigError(
            "kafka.bootstrap_servers: empty; set it (or DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS), "
            "or run `driftline stack` for a local setup with its own broker"
        )
    data_dir = settings.state_dir / "kafka"
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
    with LocalBroker(data_dir=data_dir, **({"port": port} if port else {})) as broker:
        log.info("no kafka.bootstrap_servers configured: started a local broker on %s", broker.bootstrap_servers)
        ensure_topics(broker.bootstrap_servers, settings.topics)
        yield broker.bootstrap_servers


def stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM, for services whose work runs in threads."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
