"""The dead-letter topic: every rejected message, kept as it arrived, with the reason in headers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the hint: the collector builds headers without loading kafka-python
    from kafka import KafkaProducer


def dead_letter_headers(
    error: str, source: str, device: str | None = None, stream: str | None = None, reason: str | None = None
) -> list[tuple[str, bytes]]:
    """Kafka headers describing why a payload was rejected (``reason``: a short code, when known), where and when."""
    return [
        ("error", error.encode()[:4096]),
        *([("reason", reason.encode())] if reason is not None else []),
        ("source", source.encode()),
        ("device", (device or "").encode()),
        ("stream", (stream or "").encode()),
        ("time", datetime.now(UTC).isoformat().encode()),
    ]


def send_dead_letter(
    producer: KafkaProducer,
    topic: str,
    payload: bytes,
    error: str,
    source: str,
    device: str | None = None,
    stream: str | None = None,
    key: bytes | None = None,
):
    """Publish the original ``payload`` unchanged; returns kafka-python's future."""
    return producer.send(topic, key=key, value=payload, headers=dead_letter_headers(error, source, device, stream))
