"""The broker is a real Kafka: records survive a restart, and driftline's topics and keys work on it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic as NewTopicConfluent
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import NewTopic
from kafka_helpers import make_consumer, make_producer, send

from driftline.config.settings import Settings
from driftline.contracts import SensorEvent, parse
from driftline.kafkaio.broker import LocalBroker, class_archive, fetch_jars
from driftline.rules.keys import model_key
from driftline.smoke import round_trip
from session_kafka import SessionKafka


def read_all(bootstrap: str, topic: str, expected: int, timeout_ms: int = 15000) -> list[tuple[bytes, bytes]]:
    consumer = make_consumer(bootstrap, topic, group_id=None, consumer_timeout_ms=timeout_ms)
    records = []
    for record in consumer:
        records.append((record.key, record.value))
        if len(records) == expected:
            break
    consumer.close()
    return records


def test_records_survive_a_broker_restart(stoppable_kafka: LocalBroker) -> None:
    # The broker the tests may stop: restarting the session broker would disturb other tests.
    broker, topic = stoppable_kafka, f"restart-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    producer = make_producer(broker.bootstrap_servers)
    sent = [(f"k{i % 3}".encode(), f"value-{i}".encode()) for i in range(50)]
    for key, value in sent:
        producer.send(topic, key=key, value=value).get(timeout=10)
    producer.close()
    assert read_all(broker.bootstrap_servers, topic, 50) == sent

    broker.stop()
    assert not broker.running
    broker.start()
    assert read_all(broker.bootstrap_servers, topic, 50) == sent


def test_topics_are_created_with_their_partition_counts(make_settings, bootstrap: str) -> None:
    settings: Settings = make_settings({"rooms": {"task": "binary", "features": {"t": {}}}})
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics([settings.topics.events.name])}
    finally:
        admin.close()
    assert described == {settings.topics.events.name: settings.topics.events.partitions}


def test_model_key_routes_a_device_to_one_partition(make_settings, bootstrap: str) -> None:
    settings: Settings = make_settings({"machines": {"task": "binary", "scope": "device", "features": {"v": {}}}})
    topic = settings.topics.events.name
    producer = make_producer(bootstrap)
    for i in range(60):
        device = f"m{i % 4}"
        event = SensorEvent(
            event_id=f"e{i}", device_id=device, stream="machines", ts=datetime.now(UTC), features={"v": float(i)}
        )
        send(producer, topic, event, model_key("machines", device, "device"))
    producer.flush()
    producer.close()

    consumer = make_consumer(bootstrap, group_id=None, consumer_timeout_ms=5000)
    partitions = [TopicPartition(topic, p) for p in range(settings.topics.events.partitions)]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    seen: dict[str, set[int]] = {}
    order: dict[str, list[int]] = {}
    for record in consumer:
        event = parse(SensorEvent, record.value)
        seen.setdefault(record.key.decode(), set()).add(record.partition)
        order.setdefault(event.device_id, []).append(int(event.event_id[1:]))
    consumer.close()
    assert set(seen) == {f"machines/m{d}" for d in range(4)}
    assert all(len(p) == 1 for p in seen.values()), seen
    assert all(ids == sorted(ids) and len(ids) == 15 for ids in order.values())


def test_services_and_kafka_python_put_a_model_key_on_the_same_partition(bootstrap: str) -> None:
    from kafka.partitioner.default import murmur2

    from driftline.kafkaio.clients import deliver
    from driftline.kafkaio.clients import make_producer as service_producer
    from driftline.kafkaio.topics import admin_client

    topic, partitions = f"part-{uuid.uuid4().hex[:8]}", 6
    admin = admin_client(bootstrap)
    admin.create_topics([NewTopicConfluent(topic, partitions, 1)])[topic].result(30)
    keys = [model_key("machines", f"m-{i}", "device").encode() for i in range(60)]
    deliver(service_producer(bootstrap), [(topic, key, b"service") for key in keys])
    outside = make_producer(bootstrap)
    for key in keys:
        outside.send(topic, key=key, value=b"outside")
    outside.flush()
    outside.close()

    consumer = make_consumer(bootstrap, group_id=None, consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    consumer.seek_to_beginning()
    placed: dict[tuple[bytes, bytes], int] = {(r.key, r.value): r.partition for r in consumer}
    consumer.close()
    assert len(placed) == 2 * len(keys)
    for key in keys:
        # confluent-kafka (the services) and kafka-python (devices, Java) agree, on murmur2's partition.
        assert placed[(key, b"service")] == placed[(key, b"outside")] == (murmur2(key) & 0x7FFFFFFF) % partitions
    assert len({placed[(key, b"service")] for key in keys}) == partitions


def test_smoke_round_trip(make_settings, bootstrap: str) -> None:
    settings = make_settings({"rooms": {"task": "binary", "scope": "device", "features": {"t": {}}}})
    report = round_trip(bootstrap, settings, count=400, devices=5)
    assert report.startswith("smoke ok: 400 events")
    assert "5 model keys" in report


def test_unknown_topic_is_not_auto_created(bootstrap: str) -> None:
    # A name drawn in the test, not in a parameter: the workers must collect the same test ids.
    producer = make_producer(bootstrap, max_block_ms=2000)
    with pytest.raises(Exception, match=r"(?i)timeout|not available|unknown"):
        producer.send(f"typo-{uuid.uuid4().hex[:6]}", value=b"x").get(timeout=5)
    producer.close()


def test_events_and_labels_must_be_co_partitioned_on_the_cluster(bootstrap: str) -> None:
    from driftline.config.base import ConfigError
    from driftline.config.settings import Topics
    from driftline.kafkaio.topics import ensure_topics

    run = uuid.uuid4().hex[:6]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(f"ev-{run}", 3, 1), NewTopic(f"lb-{run}", 2, 1)])  # made by someone else
    admin.close()
    topics = Topics(events={"name": f"ev-{run}", "partitions": 3}, labels={"name": f"lb-{run}", "partitions": 3})
    with pytest.raises(ConfigError, match=rf"ev-{run} has 3 partitions and lb-{run} 2"):
        ensure_topics(bootstrap, topics)


def test_the_session_broker_maps_kafkas_classes_from_the_class_archive(
    kafka_broker: SessionKafka | LocalBroker,
) -> None:
    archive = class_archive(fetch_jars())
    assert archive.exists(), "`./run test` makes it first (`driftline broker --fetch-only`)"
    assert str(archive) in Path(f"/proc/{kafka_broker.pid}/maps").read_text()
