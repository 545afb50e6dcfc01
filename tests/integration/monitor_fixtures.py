"""Helpers for the monitor's integration tests: settings on fresh topics, producing and reading."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from driftline.config import Settings, settings_from_dict
from driftline.contracts import Contract, ControlCommand, DriftEvent, Outcome, parse
from driftline.kafkaio.clients import make_consumer, make_producer, send
from driftline.kafkaio.topics import ensure_topics

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BINARY = {"task": "binary", "features": {"temperature": {}, "humidity": {}}}


def monitor_settings(bootstrap: str, state_dir: Path, streams: dict[str, Any], **extra: Any) -> Settings:
    run = uuid.uuid4().hex[:8]
    topics = {
        role: {"name": f"mon-{run}.{role}", "partitions": 1}
        for role in ("events", "labels", "outcomes", "drift", "control", "deadletter")
    }
    settings = settings_from_dict(
        {
            "kafka": {"bootstrap_servers": bootstrap},
            "topics": topics,
            "state_dir": str(state_dir),
            "monitor": {"port": 0, "webhook_token": "test-token-123", **extra.pop("monitor", {})},
            "streams": streams,
            **extra,
        },
        "test",
    )
    ensure_topics(bootstrap, settings.topics)
    return settings


def produce(bootstrap: str, topic: str, outcomes: Iterable[Outcome]) -> int:
    producer = make_producer(bootstrap, linger_ms=20)
    n = 0
    for outcome in outcomes:
        send(producer, topic, outcome, key=outcome.model_key)
        n += 1
    producer.flush()
    producer.close()
    return n


def read_topic(bootstrap: str, topic: str, model: type[Contract], idle_ms: int = 3000) -> list[Any]:
    """Every message on ``topic``, reading until it stays idle for ``idle_ms``."""
    consumer = make_consumer(bootstrap, topic, group_id=None, consumer_timeout_ms=idle_ms)
    try:
        return [parse(model, record.value) for record in consumer]
    finally:
        consumer.close()


def drift_events(bootstrap: str, settings: Settings) -> list[DriftEvent]:
    return read_topic(bootstrap, settings.topics.drift.name, DriftEvent)


def commands(bootstrap: str, settings: Settings, idle_ms: int = 3000) -> list[ControlCommand]:
    return read_topic(bootstrap, settings.topics.control.name, ControlCommand, idle_ms)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Poll ``condition``; the timeout only guards against a hung test, it is not the assertion."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)
