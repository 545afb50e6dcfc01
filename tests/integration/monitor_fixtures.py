"""Helpers for the monitor's integration tests: settings on fresh topics, producing and reading."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from kafka_helpers import TopicReader, make_producer, send
from kafka_helpers import produce as produce_messages

from driftline.config import settings_from_dict
from driftline.config.settings import Settings
from driftline.contracts import Contract, ControlCommand, DriftEvent, Outcome
from driftline.kafkaio.topics import ensure_topics

C = TypeVar("C", bound=Contract)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BINARY = {"task": "binary", "features": {"temperature": {}, "humidity": {}}}


def monitor_settings(bootstrap: str, state_dir: Path, streams: dict[str, Any], **extra: Any) -> Settings:
    run = uuid.uuid4().hex[:8]
    topics = {
        role: {"name": f"mon-{run}.{role}", "partitions": 1}
        for role in ("events", "labels", "outcomes", "drift", "control", "acks", "deadletter")
    }
    settings = settings_from_dict(
        {
            "kafka": {"bootstrap_servers": bootstrap},
            "topics": topics,
            "state_dir": str(state_dir),
            "trainer": {"group_id": f"trainer-{run}", **extra.pop("trainer", {})},
            # A group of its own: tests must not share (or resume) another run's committed offsets.
            "monitor": {
                "port": 0,
                "webhook_token": "test-token-123",
                "group_id": f"monitor-{run}",
                **extra.pop("monitor", {}),
            },
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


def before_sentinel(bootstrap: str, topic: str, reader: TopicReader, sentinel: C) -> list[C]:
    """What ``reader``'s topic held before a sentinel produced now: "nothing more was published".

    Reading up to a message known to come last proves the reader saw the whole topic; an idle
    timeout on a busy machine may end before the first fetch and make an assertion pass vacuously.
    """
    ident = _identity(sentinel)
    produce_messages(bootstrap, topic, [(ident, sentinel)])
    seen = reader.until(lambda seen: any(_identity(m) == ident for m in seen))
    return seen[: [_identity(m) for m in seen].index(ident)]


def _identity(message: Contract) -> str:
    return str(getattr(message, "drift_id", None) or getattr(message, "command_id", None) or id(message))


def sentinel_command(stream: str) -> ControlCommand:
    return ControlCommand(command_id=f"sentinel-{uuid.uuid4().hex}", action="snapshot", stream=stream, issuer="test")


def sentinel_drift(stream: str) -> DriftEvent:
    return DriftEvent(
        drift_id=f"sentinel-{uuid.uuid4().hex}",
        drift_kind="concept",
        level="drift",
        stream=stream,
        model_key=stream,
        model_name="sentinel",
        model_version=1,
        detector="ADWIN",
        position=0,
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Poll ``condition``; the timeout only guards against a hung test, it is not the assertion."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)
