"""The collector's confluent-kafka publisher against the real broker: acks, partitions, headers, Kafka down."""

from __future__ import annotations

import threading
import time

import pytest
from collector_fixtures import headers_of, read_topic
from kafka.partitioner.default import murmur2

from conftest import unique_topics
from driftline.collector.publisher import KafkaUnavailable, Publisher
from driftline.config import settings_from_dict
from driftline.kafkaio.topics import ensure_topics
from driftline.processes import free_port


def test_deliver_lands_keys_on_the_partitions_kafka_python_would_choose(bootstrap: str) -> None:
    topics = unique_topics("pub")
    ensure_topics(bootstrap, settings_from_dict({"topics": topics}).topics)
    events, dead = topics["events"]["name"], topics["deadletter"]["name"]
    keys = [f"rooms/dev-{i}".encode() for i in range(30)]
    publisher = Publisher(bootstrap, send_timeout_s=10)
    try:
        publisher.deliver([(events, key, b"v-" + key, None) for key in keys])
        publisher.deliver([(dead, b"dev-x", b"{bad", [("error", b"ts: invalid"), ("source", b"http")])])
    finally:
        publisher.close()

    records = read_topic(bootstrap, events, expected=len(keys))
    partitions = topics["events"]["partitions"]
    # Same mapping as kafka-python's (and Java's) default partitioner, which the rest of driftline uses.
    assert {r.key: r.partition for r in records} == {k: (murmur2(k) & 0x7FFFFFFF) % partitions for k in keys}
    assert {r.value for r in records} == {b"v-" + k for k in keys}
    (letter,) = read_topic(bootstrap, dead, expected=1)
    assert letter.value == b"{bad" and headers_of(letter) == {"error": "ts: invalid", "source": "http"}


def test_send_reports_each_outcome_through_done(bootstrap: str) -> None:
    topics = unique_topics("pub")
    ensure_topics(bootstrap, settings_from_dict({"topics": topics}).topics)
    outcomes: list[Exception | None] = []
    all_done = threading.Event()

    def done(error: Exception | None) -> None:
        outcomes.append(error)
        if len(outcomes) == 5:
            all_done.set()

    publisher = Publisher(bootstrap, send_timeout_s=10)
    try:
        for i in range(5):
            publisher.send((topics["events"]["name"], f"k{i}".encode(), b"v", None), done)
        assert outcomes == []  # reports come only from poll, on the thread that calls it
        deadline = time.monotonic() + 30
        while not all_done.is_set() and time.monotonic() < deadline:
            publisher.poll(0.1)
    finally:
        publisher.close()
    assert outcomes == [None] * 5


def test_kafka_down_raises_kafka_unavailable_and_starts_anyway() -> None:
    # Nothing listens on this port: the publisher is created fine, and delivery fails after the timeout.
    publisher = Publisher(f"127.0.0.1:{free_port()}", send_timeout_s=1)
    try:
        with pytest.raises(KafkaUnavailable):
            publisher.deliver([("nowhere", b"k", b"v", None)])
        failed: list[Exception | None] = []
        publisher.send(("nowhere", b"k", b"v", None), failed.append)
        deadline = time.monotonic() + 30
        while not failed and time.monotonic() < deadline:
            publisher.poll(0.1)
        assert isinstance(failed[0], KafkaUnavailable)
    finally:
        publisher.close(timeout_s=1)
