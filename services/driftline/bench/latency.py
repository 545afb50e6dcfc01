"""End-to-end latency at a steady load: event time to the outcome read back, committed.

A paced producer sends events at a fixed rate, each stamped with the wall-clock time it is
produced; the benchmark reads the contender's outputs as they are committed and takes, per
event, arrival minus event time. Same events and broker for every contender.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from river import datasets

from driftline.bench.throughput import WARM_UP, Bench, Outputs, Process, Setup
from driftline.contracts import SensorEvent
from driftline.kafkaio.clients import make_producer


@dataclass
class Latency:
    contender: str
    rate: float
    events: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def paced(bench: Bench, setup: Setup, contender: str, rate: float, seconds: float, keys: int) -> Latency:
    """Run one contender at ``rate`` events/s for ``seconds``; percentiles of its end-to-end latency."""
    rows = list(datasets.Phishing())
    reader = Outputs(bench.bootstrap, setup.outputs)
    process = Process.start(setup.argv, setup.env_for(0), setup.log(0))
    producer = make_producer(bench.bootstrap)
    sent: dict[str, float] = {}
    deadline = time.monotonic() + 300
    try:
        reader.read_until(lambda: WARM_UP in reader.answers, [process], deadline)
        began, i = time.monotonic(), 0
        while (elapsed := time.monotonic() - began) < seconds:
            while i < int(elapsed * rate):
                now = time.time()
                device, (x, y) = f"d{i % keys}", rows[i % len(rows)]
                event = SensorEvent(
                    event_id=f"l{i}", device_id=device, stream="bench", ts=datetime.fromtimestamp(now, UTC),
                    features=x, label=y,
                )  # fmt: skip
                producer.produce(setup.events, event.to_bytes(), f"bench/{device}".encode())
                sent[f"{device}/l{i}"] = now
                i += 1
            producer.poll(0)
            if process.popen.poll() is not None:
                raise RuntimeError(f"{contender} stopped under load; see {process.log}")
            # Reading while producing: an output's arrival is noted within a few milliseconds.
            for message in reader.consumer.consume(5000, timeout=0.002):
                reader.note(message)
        producer.flush(60)
        reader.read_until(lambda: all(key in reader.answers for key in sent), [process], deadline)
    finally:
        process.stop()
        reader.close()
    waits = sorted((reader.arrived[key] - at) * 1000 for key, at in sent.items())
    cuts = statistics.quantiles(waits, n=100, method="inclusive")
    return Latency(contender, rate, len(waits), cuts[49], cuts[94], cuts[98], waits[-1])
