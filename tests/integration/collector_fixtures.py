"""Helpers shared by the collector's integration tests: devices with tokens, reading topics back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from kafka.consumer.fetcher import ConsumerRecord
from kafka_helpers import make_consumer
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry, generate_latest

from conftest import unique_topics
from driftline.collector.auth import hash_token
from driftline.config import settings_from_dict
from driftline.config.settings import MqttSettings, Settings
from driftline.httpserver import exposed_total
from driftline.kafkaio.broker import LocalBroker
from driftline.kafkaio.topics import ensure_topics
from driftline.ops.mosquitto import Mosquitto

TOKENS = {"dev-a": "token-a-secret", "dev-b": "token-b-secret", "dev-r": "token-r-secret"}
STREAMS: dict[str, Any] = {
    "rooms": {"task": "binary", "features": {"temperature": {}, "co2": {}}},
    "machines": {"task": "binary", "scope": "device", "features": {"vibration": {}}},
}


def devices() -> dict[str, Any]:
    # dev-r may only post to rooms.
    return {
        device: {"token_sha256": hash_token(token), **({"streams": ["rooms"]} if device == "dev-r" else {})}
        for device, token in TOKENS.items()
    }


def auth(device: str, token: str | None = None) -> dict[str, str]:
    return {"X-Device-Id": device, "Authorization": f"Bearer {token or TOKENS[device]}"}


def event(i: int, device: str = "dev-a", stream: str = "rooms", **extra: Any) -> dict[str, Any]:
    features = {"temperature": 20.0 + i % 5, "co2": 400 + i} if stream == "rooms" else {"vibration": 1.0 + i}
    return {
        "event_id": f"{device}-{i}",
        "device_id": device,
        "stream": stream,
        "ts": datetime(2025, 1, 1, tzinfo=UTC).isoformat(),
        "features": features,
        "label": i % 2 == 0,
        **extra,
    }


def read_topic(bootstrap: str, topic: str, expected: int | None = None, idle_ms: int = 4000) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning: stops at ``expected`` records or after ``idle_ms`` of silence."""
    consumer = make_consumer(bootstrap, topic, group_id=None, consumer_timeout_ms=idle_ms)
    records: list[ConsumerRecord] = []
    try:
        for record in consumer:
            records.append(record)
            if expected is not None and len(records) >= expected:
                break
    finally:
        consumer.close()
    return records


@contextmanager
def private_kafka(
    broker: LocalBroker, streams: dict[str, Any], partitions: int
) -> Iterator[tuple[LocalBroker, Settings]]:
    """The stoppable broker (the ``stoppable_kafka`` fixture, for tests that stop it: stopping the session
    broker would break the others), with settings whose events and labels topics are the test's own."""
    topics = unique_topics("stop")
    settings = settings_from_dict(
        {
            "kafka": {"bootstrap_servers": broker.bootstrap_servers},
            "streams": streams,
            "devices": devices(),
            "topics": {
                "events": {"name": topics["events"]["name"], "partitions": partitions},
                "labels": {"name": topics["labels"]["name"], "partitions": partitions},
            },
        }
    )
    ensure_topics(broker.bootstrap_servers, settings.topics)
    yield broker, settings


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


def metric_total(registry: CollectorRegistry, sample: str, **labels: str) -> float:
    """The sum of ``sample`` over every series whose labels include ``labels`` (0 when there is none)."""
    return exposed_total(generate_latest(registry).decode(), sample, **labels)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    """Wait for ``condition`` (work done on another thread); the timeout only keeps a failing test from hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.1)


BRIDGE_PASSWORD = "bridge-secret"
MQTT_PASSWORDS = {"dev-a": "mqtt-a", "dev-b": "mqtt-b"}


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto on a free port, with the project's config, the bridge user and two devices."""
    with Mosquitto(tmp_path / "mosquitto", {"collector": BRIDGE_PASSWORD, **MQTT_PASSWORDS}) as broker:
        yield broker


def mqtt_settings(broker: Mosquitto, password: str = BRIDGE_PASSWORD) -> MqttSettings:
    client_id = f"bridge-{uuid.uuid4().hex[:6]}"
    return MqttSettings(enabled=True, port=broker.port, password=password, client_id=client_id)


def device_client(broker: Mosquitto, device: str) -> mqtt.Client:
    """A connected MQTT client of ``device``, its network loop running."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{device}-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(device, MQTT_PASSWORDS[device])
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client
