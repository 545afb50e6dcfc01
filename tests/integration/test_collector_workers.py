"""`driftline collector` with several workers, against the session broker and a real Mosquitto.

The workers share the HTTP port and the MQTT bridge's subscription; /metrics of any of them
reports the sum; every message lands in Kafka exactly once, also after the worker count changed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from collector_fixtures import (
    BRIDGE_PASSWORD,
    MQTT_PASSWORDS,
    STREAMS,
    auth,
    device_client,
    devices,
    event,
    mosquitto,  # noqa: F401  (fixture)
    private_kafka,
    read_topic,
    wait_until,
)

from conftest import unique_topics
from driftline.collector.intake import Ingestor
from driftline.collector.mqtt_bridge import MqttBridge
from driftline.collector.publisher import Publisher
from driftline.collector.worker import Slot, retire_slots, slots_folder
from driftline.config import settings_from_dict
from driftline.config.settings import MqttSettings
from driftline.httpserver import exposed_total
from driftline.kafkaio.broker import LocalBroker
from driftline.kafkaio.topics import ensure_topics
from driftline.ops.mosquitto import Mosquitto
from driftline.processes import ManagedProcess, free_port, http_ok


def accepted_total(url: str, transport: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return exposed_total(text, "driftline_collector_events_accepted_total", transport=transport)


def collector(tmp_path: Path, config: dict[str, Any], workers: int, name: str) -> tuple[ManagedProcess, str]:
    """A `driftline collector --workers N` process on a free port, and its URL."""
    port = free_port()
    path = tmp_path / f"{name}.toml"
    path.write_text(_toml({**config, "collector": {**config.get("collector", {}), "port": port}}))
    driftline = str(Path(sys.executable).with_name("driftline"))
    url = f"http://127.0.0.1:{port}"
    argv = [driftline, "collector", "-c", str(path), "--workers", str(workers)]
    return ManagedProcess(name, argv, tmp_path / f"{name}.log", ready=lambda: http_ok(f"{url}/healthz")), url


def _toml(data: dict[str, Any], prefix: str = "") -> str:
    # JSON scalars, arrays and {} are valid TOML values; other dicts become tables.
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) or not v}
    tables = {k: v for k, v in data.items() if isinstance(v, dict) and v}
    out = f"[{prefix}]\n" if prefix and scalars else ""
    out += "".join(f"{k} = {orjson.dumps(v).decode()}\n" for k, v in scalars.items())
    return out + "".join(_toml(v, f"{prefix}.{k}" if prefix else k) for k, v in tables.items())


@pytest.fixture
def config(bootstrap: str, tmp_path: Path) -> dict[str, Any]:
    topics = unique_topics("workers")
    ensure_topics(bootstrap, settings_from_dict({"topics": topics}).topics)
    return {
        "state_dir": str(tmp_path / "state"),
        "kafka": {"bootstrap_servers": bootstrap},
        "topics": topics,
        "streams": STREAMS,
        "devices": devices(),
    }


def test_http_workers_share_the_port_and_the_metrics(config: dict[str, Any], tmp_path: Path, bootstrap: str) -> None:
    server, url = collector(tmp_path, config, 2, "http")
    with server:
        statuses = []
        for n in range(8):  # a connection per request, so both workers get some
            batch = [event(n * 10 + i) for i in range(10)]
            with httpx.Client(base_url=url, timeout=30) as client:
                statuses.append(client.post("/v1/streams/rooms/events", json=batch, headers=auth("dev-a")).status_code)
        assert statuses == [202] * 8
        for _ in range(4):  # whichever worker answers, it reports the sum over all of them
            assert accepted_total(url, "http") == 80
    records = read_topic(bootstrap, config["topics"]["events"]["name"], expected=80)
    assert sorted(orjson.loads(r.value)["event_id"] for r in records) == sorted(f"dev-a-{i}" for i in range(80))
    assert "POST /v1/streams/rooms/events" not in (tmp_path / "http.log").read_text(), "no access lines by default"


def test_access_lines_are_logged_when_asked_for(config: dict[str, Any], tmp_path: Path) -> None:
    config = {**config, "collector": {"access_log": True}}
    server, url = collector(tmp_path, config, 1, "loud")
    with server, httpx.Client(base_url=url, timeout=30) as client:
        assert client.post("/v1/streams/rooms/events", json=[event(0)], headers=auth("dev-a")).status_code == 202
    assert '"POST /v1/streams/rooms/events HTTP/1.1" 202' in (tmp_path / "loud.log").read_text()


def publish(broker: Mosquitto, device: str, events: list[dict[str, Any]]) -> None:
    client = device_client(broker, device)
    for e in events:
        client.publish(f"sensors/rooms/{device}", orjson.dumps(e), qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_mqtt_bridges_share_the_subscription_and_deliver_each_message_once(
    config: dict[str, Any],
    tmp_path: Path,
    bootstrap: str,
    mosquitto: Mosquitto,  # noqa: F811
) -> None:
    mqtt = {"enabled": True, "port": mosquitto.port, "password": BRIDGE_PASSWORD, "client_id": "bridges"}
    config = {**config, "collector": {"mqtt": mqtt}}
    sent: list[dict[str, Any]] = []

    def send(first: int, count: int) -> None:
        for device in MQTT_PASSWORDS:
            events = [event(i, device) for i in range(first, first + count)]
            publish(mosquitto, device, events)
            sent.extend(events)

    # One worker first: its session subscribes without sharing. Two workers must drop that
    # subscription, or its session would get a second copy of every message.
    alone, _ = collector(tmp_path, config, 1, "alone")
    with alone:
        pass
    # Both workers' bridges take part: slot 0 under the configured id, slot 1 with -1 added.
    subscribed = [f"MQTT bridge {b} subscribed to $share/bridges/sensors/+/+" for b in ("bridges", "bridges-1")]
    shared, url = collector(tmp_path, config, 2, "shared")
    with shared:
        # The collector answers once one worker does: the other's bridge may subscribe later (on a loaded
        # machine, after the first took every message and the collector was stopped).
        wait_until(lambda: all(line in (tmp_path / "shared.log").read_text() for line in subscribed),
                   "both workers' bridges subscribed")  # fmt: skip
        send(0, 150)
        wait_until(lambda: accepted_total(url, "mqtt") >= 300, "300 MQTT messages acknowledged by Kafka")

    # Sent while no collector runs: Mosquitto queues half for each slot's session. Back with one
    # worker, slot 1's session is retired (drained, then subscribed to nothing), so neither these
    # nor later messages are stranded with it.
    send(150, 50)
    fewer, url = collector(tmp_path, config, 1, "fewer")
    with fewer:
        send(200, 50)
        topic = config["topics"]["events"]["name"]
        records = read_topic(bootstrap, topic, expected=len(sent), idle_ms=15_000)
        assert len(records) == len(sent)
        records += read_topic(bootstrap, topic, idle_ms=3000)[len(sent) :]  # and no second copies after them
    assert sorted(orjson.loads(r.value)["event_id"] for r in records) == sorted(e["event_id"] for e in sent)
    assert "retired MQTT session bridges-1: forwarded " in (tmp_path / "fewer.log").read_text()


def test_a_slot_is_kept_until_kafka_took_what_its_session_held(
    tmp_path: Path,
    mosquitto: Mosquitto,  # noqa: F811
    stoppable_kafka: LocalBroker,
) -> None:
    with private_kafka(stoppable_kafka, STREAMS, partitions=1) as (broker, settings):
        mqtt = MqttSettings(enabled=True, port=mosquitto.port, password=BRIDGE_PASSWORD, client_id="retiring")
        collector = settings.collector.model_copy(update={"mqtt": mqtt, "workers": 2, "send_timeout_s": 1.0})
        settings = settings.model_copy(update={"state_dir": tmp_path / "state", "collector": collector})
        folder = slots_folder(settings)
        for index in (0, 1):  # two workers' bridges join the shared subscription, then go away
            slot = Slot.claim(folder, index)
            publisher = Publisher(broker.bootstrap_servers)
            MqttBridge(Ingestor(settings, publisher), slot=index).start().stop()
            publisher.close()
            slot.release()
        sent = [event(i) for i in range(40)]
        publish(mosquitto, "dev-a", sent)  # Mosquitto queues half of them for each absent member
        fewer = settings.model_copy(update={"collector": collector.model_copy(update={"workers": 1})})

        broker.stop()
        retire_slots(fewer, timeout_s=3)
        assert (folder / "slot-1.lock").exists()  # Kafka took nothing: the slot and its session stay

        broker.start()
        retire_slots(fewer)
        assert not (folder / "slot-1.lock").exists()
        records = read_topic(broker.bootstrap_servers, settings.topics.events.name, expected=20, idle_ms=15_000)
    assert len(records) == 20  # slot 1's half; slot 0's waits for the one worker left
    assert {orjson.loads(r.value)["event_id"] for r in records} <= {e["event_id"] for e in sent}
