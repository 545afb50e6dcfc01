"""What every service does at start-up: find Kafka (starting a local one if none is configured)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from driftline.config.base import ConfigError
from driftline.config.settings import Settings
from driftline.kafkaio.clients import cluster, require_reachable
from driftline.kafkaio.topics import ensure_topics

log = logging.getLogger(__name__)


@contextmanager
def kafka_for(settings: Settings) -> Iterator[str]:
    """Yield the configured cluster's bootstrap servers (with this service's Kafka credentials), driftline's
    topics in place.

    A service on its own needs ``kafka.bootstrap_servers``: a private broker nobody else reads would
    silently swallow its work. Only the stack and the smoke run start a local one
    (:func:`driftline.kafkaio.broker.kafka_or_local`); starting a service does not import the launcher.
    """
    if not settings.kafka.bootstrap_servers:
        raise ConfigError(
            "kafka.bootstrap_servers: empty; set it (or DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS), "
            "or run `driftline stack` for a local setup with its own broker"
        )
    servers = cluster(settings)
    require_reachable(servers)
    ensure_topics(servers, settings.topics, settings.kafka.replication_factor)
    yield servers


def stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM, for services whose work runs in threads."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
