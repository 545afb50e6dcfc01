"""Producers and consumers configured the one way driftline uses them."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from driftline.contracts import Contract


def make_producer(bootstrap_servers: str, **overrides: Any) -> KafkaProducer:
    """An idempotent producer that waits for all in-sync replicas: an acknowledged send is durable."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        # Large batches: kafka-python wakes its sender thread per new batch, which dominates
        # the cost of small records at the default 16 KiB.
        "batch_size": 256 * 1024,
    }
    options.update(overrides)
    return KafkaProducer(**options)


def make_consumer(bootstrap_servers: str, *topics: str, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    """A consumer that starts at the earliest record and commits only when told to."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
    }
    options.update(overrides)
    return KafkaConsumer(*topics, **options)


def send(
    producer: KafkaProducer, topic: str, message: Contract, key: str, headers: list[tuple[str, bytes]] | None = None
):
    """Publish a contract message keyed by its model key; returns kafka-python's future."""
    return producer.send(topic, key=key.encode(), value=message.to_bytes(), headers=headers)
