"""A produce/consume round trip through Kafka: proof that the broker and the contracts work."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from driftline.config.settings import Settings
from driftline.contracts import SensorEvent, parse
from driftline.kafkaio.clients import deliver, make_producer, read_topic
from driftline.rules.keys import model_key


def round_trip(bootstrap: str, settings: Settings, count: int, devices: int = 4, timeout: float = 60.0) -> str:
    """Send ``count`` events of the first configured stream, read them back and check order per key."""
    stream_name, stream = next(iter(settings.streams.items()))
    topic = settings.topics.events.name
    run = uuid.uuid4().hex[:8]
    start = datetime.now(UTC)
    sent: dict[str, list[str]] = {}
    records: list[tuple[str, bytes | None, bytes]] = []
    began = time.perf_counter()
    for i in range(count):
        device = f"smoke-{i % devices}"
        event = SensorEvent(
            event_id=f"{run}-{i}",
            device_id=device,
            stream=stream_name,
            ts=start + timedelta(milliseconds=i),
            features=dict.fromkeys(stream.features, float(i)),
            metadata={"smoke": run},
        )
        key = model_key(stream_name, device, stream.scope)
        records.append((topic, key.encode(), event.to_bytes()))
        sent.setdefault(key, []).append(event.event_id)
    deliver(make_producer(bootstrap), records, timeout)
    produced_s = time.perf_counter() - began

    received: dict[str, list[str]] = {}
    total = 0
    for record in read_topic(bootstrap, topic, settings.topics.events.partitions, timeout):
        event = parse(SensorEvent, record.value())
        if (event.metadata or {}).get("smoke") == run:
            received.setdefault((record.key() or b"").decode(), []).append(event.event_id)
            total += 1
    if received != sent:
        missing = count - total
        raise RuntimeError(f"smoke run failed: {missing} of {count} events missing or out of order per model key")
    return (
        f"smoke ok: {count} events on {topic} through {bootstrap}, "
        f"{len(sent)} model keys, order kept per key; produced at {count / produced_s:,.0f} events/s"
    )
