"""A produce/consume round trip through Kafka: proof that the broker and the contracts work."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from driftline.config import Settings
from driftline.contracts import SensorEvent, parse
from driftline.kafkaio.clients import make_consumer, make_producer, send
from driftline.keys import model_key


def round_trip(bootstrap: str, settings: Settings, count: int, devices: int = 4, timeout: float = 60.0) -> str:
    """Send ``count`` events of the first configured stream, read them back and check order per key."""
    stream_name, stream = next(iter(settings.streams.items()))
    topic = settings.topics.events.name
    run = uuid.uuid4().hex[:8]
    start = datetime.now(UTC)
    sent: dict[str, list[str]] = {}
    producer = make_producer(bootstrap)
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
        send(producer, topic, event, key)
        sent.setdefault(key, []).append(event.event_id)
    producer.flush()
    producer.close()
    produced_s = time.perf_counter() - began

    consumer = make_consumer(bootstrap, topic, group_id=f"driftline-smoke-{run}", consumer_timeout_ms=1000)
    received: dict[str, list[str]] = {}
    deadline = time.monotonic() + timeout
    total = 0
    while total < count and time.monotonic() < deadline:
        for record in consumer:
            event = parse(SensorEvent, record.value)
            if (event.metadata or {}).get("smoke") == run:
                received.setdefault(record.key.decode(), []).append(event.event_id)
                total += 1
    consumer.close()
    if received != sent:
        missing = count - total
        raise RuntimeError(f"smoke run failed: {missing} of {count} events missing or out of order per model key")
    return (
        f"smoke ok: {count} events on {topic} through {bootstrap}, "
        f"{len(sent)} model keys, order kept per key; produced at {count / produced_s:,.0f} events/s"
    )
