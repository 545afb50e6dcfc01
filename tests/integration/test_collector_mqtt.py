"""The MQTT bridge between a real Mosquitto and the real broker."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from collector_fixtures import (
    STREAMS,
    device_client,
    devices,
    event,
    headers_of,
    metric_total,
    mosquitto,  # noqa: F401  (fixture)
    mqtt_settings,
    private_kafka,
    read_topic,
    wait_until,
)
from prometheus_client import generate_latest

from driftline.collector.intake import Ingestor
from driftline.collector.mqtt_bridge import MqttBridge, route
from driftline.collector.publisher import Publisher
from driftline.config.settings import Settings
from driftline.contracts import SensorEvent, parse
from driftline.kafkaio.broker import LocalBroker
from driftline.ops.mosquitto import Mosquitto


@pytest.fixture
def ingestor(make_settings, bootstrap: str) -> Iterator[Ingestor]:
    settings: Settings = make_settings(STREAMS, devices=devices())
    publisher = Publisher(bootstrap, send_timeout_s=10)
    yield Ingestor(settings, publisher)
    publisher.close()


def publish(broker: Mosquitto, device: str, messages: list[tuple[str, bytes]]) -> None:
    client = device_client(broker, device)
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_route_reads_stream_and_device() -> None:
    assert route("sensors/rooms/dev-a", "sensors") == ("rooms", "dev-a")
    assert route("sensors/rooms", "sensors") is None
    assert route("other/rooms/dev-a", "sensors") is None


def test_bridge_forwards_valid_messages_and_dead_letters_the_rest(
    mosquitto: Mosquitto,  # noqa: F811
    ingestor: Ingestor,
    bootstrap: str,
) -> None:
    topics = ingestor.settings.topics
    valid = [event(i, "dev-a", "machines") for i in range(20)]
    messages = [("sensors/machines/dev-a", orjson.dumps(e)) for e in valid]
    messages += [
        ("sensors/machines/dev-a", b"{not json"),
        ("sensors/machines/dev-a", orjson.dumps({**event(50, "dev-a", "machines"), "features": []})),
        ("sensors/machines/dev-a", orjson.dumps(event(51, "dev-b", "machines"))),  # payload claims another device
        ("sensors/kitchens/dev-a", orjson.dumps(event(52, "dev-a", "kitchens"))),
        ("sensors/machines/dev-a", orjson.dumps(event(53, "dev-a", "machines", label="yes"))),  # not a binary label
    ]
    with MqttBridge(ingestor, mqtt_settings(mosquitto)):
        publish(mosquitto, "dev-a", messages)
        records = read_topic(bootstrap, topics.events.name, expected=20, idle_ms=15000)
        dead = read_topic(bootstrap, topics.deadletter.name, expected=5, idle_ms=15000)

    assert sorted(parse(SensorEvent, r.value).event_id for r in records) == sorted(e["event_id"] for e in valid)
    assert {r.key for r in records} == {b"machines/dev-a"}
    reasons = sorted(headers_of(r)["reason"] for r in dead)
    assert reasons == ["invalid", "invalid_label", "not_json", "unknown_stream", "wrong_device"]
    assert all(headers_of(r)["device"] == "dev-a" and headers_of(r)["source"] == "mqtt" for r in dead)
    assert b"{not json" in [r.value for r in dead]  # the original payload


def test_too_deep_and_too_large_payloads_are_dead_lettered_as_they_came(
    mosquitto: Mosquitto,  # noqa: F811
    ingestor: Ingestor,
    bootstrap: str,
) -> None:
    topics = ingestor.settings.topics
    topic = "sensors/machines/dev-a"
    bad = [
        b'{"features": ' + b"[" * 300 + b"]" * 300 + b"}",  # parses, but deeper than a message may be
        b'{"features": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # deeper than the parser goes
        orjson.dumps({**event(60, "dev-a", "machines"), "metadata": {"note": "x" * 100_000}}),  # over 64 KiB
    ]
    messages = [(topic, orjson.dumps(event(0, "dev-a", "machines"))), *((topic, b) for b in bad)]
    messages.append((topic, orjson.dumps(event(1, "dev-a", "machines"))))  # the bridge is still up
    with MqttBridge(ingestor, mqtt_settings(mosquitto)):
        publish(mosquitto, "dev-a", messages)
        records = read_topic(bootstrap, topics.events.name, expected=2, idle_ms=15000)
        dead = read_topic(bootstrap, topics.deadletter.name, expected=3, idle_ms=15000)

    assert sorted(parse(SensorEvent, r.value).event_id for r in records) == ["dev-a-0", "dev-a-1"]
    assert [(headers_of(r)["reason"], r.value) for r in dead] == list(
        zip(["too_deep", "too_deep", "too_large"], bad, strict=True)
    )
    assert "nested 301 levels deep" in headers_of(dead[0])["error"]


def test_devices_cannot_publish_under_another_name(
    mosquitto: Mosquitto,  # noqa: F811
    ingestor: Ingestor,
    bootstrap: str,
) -> None:
    with MqttBridge(ingestor, mqtt_settings(mosquitto)):
        # Mosquitto's ACL drops dev-b writing to dev-a's topic; its own topic gets through.
        publish(mosquitto, "dev-b", [("sensors/rooms/dev-a", orjson.dumps(event(1, "dev-a")))])
        publish(mosquitto, "dev-b", [("sensors/rooms/dev-b", orjson.dumps(event(2, "dev-b")))])
        records = read_topic(bootstrap, ingestor.settings.topics.events.name, idle_ms=4000)
    assert [parse(SensorEvent, r.value).event_id for r in records] == ["dev-b-2"]


def test_messages_sent_while_the_bridge_is_away_arrive_later(
    mosquitto: Mosquitto,  # noqa: F811
    ingestor: Ingestor,
    bootstrap: str,
) -> None:
    settings = mqtt_settings(mosquitto)
    MqttBridge(ingestor, settings).start().stop()  # creates the persistent session
    publish(mosquitto, "dev-a", [("sensors/rooms/dev-a", orjson.dumps(event(i))) for i in range(10)])
    with MqttBridge(ingestor, settings):
        records = read_topic(bootstrap, ingestor.settings.topics.events.name, expected=10, idle_ms=15000)
    assert len(records) == 10


def test_wrong_bridge_password_is_a_clear_error(mosquitto: Mosquitto, ingestor: Ingestor) -> None:  # noqa: F811
    with pytest.raises(ConnectionError, match="not subscribed"):
        MqttBridge(ingestor, mqtt_settings(mosquitto, password="nope")).start(timeout=3)


def test_invented_streams_share_one_metric_label(
    mosquitto: Mosquitto,  # noqa: F811
    ingestor: Ingestor,
    bootstrap: str,
) -> None:
    # Any device can name any stream in its topic; the metrics must not grow a series per name.
    names = [f"invented-{i}" for i in range(3)]
    messages = [(f"sensors/{name}/dev-a", orjson.dumps(event(i, "dev-a", name))) for i, name in enumerate(names)]
    registry = ingestor.metrics.registry
    rejected = "driftline_collector_events_rejected_total"
    with MqttBridge(ingestor, mqtt_settings(mosquitto)):
        publish(mosquitto, "dev-a", messages)
        dead = read_topic(bootstrap, ingestor.settings.topics.deadletter.name, expected=3, idle_ms=15000)
        wait_until(lambda: metric_total(registry, rejected) == 3, "3 rejections counted")

    assert sorted(headers_of(r)["stream"] for r in dead) == names  # the dead letter keeps the real name
    assert metric_total(registry, rejected, stream="(unknown)", transport="mqtt", reason="unknown_stream") == 3
    assert "invented" not in generate_latest(registry).decode()


def test_messages_held_while_kafka_is_down_are_resent_together(
    mosquitto: Mosquitto,  # noqa: F811
    stoppable_kafka: LocalBroker,
) -> None:
    with private_kafka(stoppable_kafka, STREAMS, partitions=1) as (broker, settings):
        broker.stop()
        publisher = Publisher(broker.bootstrap_servers, send_timeout_s=1)
        ingestor = Ingestor(settings, publisher)
        registry = ingestor.metrics.registry
        n = 100
        with MqttBridge(ingestor, mqtt_settings(mosquitto), retry_s=1.0):
            publish(mosquitto, "dev-a", [("sensors/rooms/dev-a", orjson.dumps(event(i))) for i in range(n)])
            refused = "driftline_collector_requests_refused_total"
            wait_until(lambda: metric_total(registry, refused, reason="kafka_unavailable") >= n, "every message held")
            broker.start()
            records = read_topic(broker.bootstrap_servers, settings.topics.events.name, expected=n, idle_ms=60000)
            wait_until(lambda: metric_total(registry, "driftline_collector_mqtt_held_messages") == 0, "none held")
        publisher.close()

        assert {parse(SensorEvent, r.value).event_id for r in records} == {f"dev-a-{i}" for i in range(n)}
        # One pause per round for all held messages, not one per message: draining cannot take n pauses.
        rounds = metric_total(registry, "driftline_collector_mqtt_retry_rounds_total")
        assert 1 <= rounds < n


def test_a_bridge_started_while_mosquitto_is_down_starts_and_forwards_once_it_is_back(
    mosquitto: Mosquitto,  # noqa: F811
    ingestor: Ingestor,
    bootstrap: str,
) -> None:
    # Found by chaos: the collector restarted while Mosquitto was stopped exited ("Connection refused").
    mosquitto.stop()
    sent = [event(i, "dev-a", "machines") for i in range(5)]
    with MqttBridge(ingestor, mqtt_settings(mosquitto)) as bridge:  # returns: HTTP ingest must not wait for it
        assert not bridge.subscribed
        mosquitto.start()
        # A fresh Mosquitto has no session of the bridge to queue for: devices publish once it subscribed.
        wait_until(lambda: bridge.subscribed, "the bridge to connect and subscribe", 30)
        publish(mosquitto, "dev-a", [("sensors/machines/dev-a", orjson.dumps(e)) for e in sent])
        records = read_topic(bootstrap, ingestor.settings.topics.events.name, expected=5, idle_ms=15000)
    assert sorted(parse(SensorEvent, r.value).event_id for r in records) == sorted(e["event_id"] for e in sent)
