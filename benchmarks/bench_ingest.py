"""Ingest benchmark: HTTP events/s (batches of 500) and MQTT messages/s into Kafka with acks=all.

Not a test: it starts its own Kafka, a collector process (uvicorn) and Mosquitto, measures, and
writes benchmarks/results/ingest.md. Usage: python benchmarks/bench_ingest.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shlex
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from driftline.collector.auth import hash_token
from driftline.collector.mqtt_bridge import MqttBridge
from driftline.collector.publisher import Publisher
from driftline.collector.service import Ingestor
from driftline.config import MqttSettings, settings_from_dict
from driftline.kafkaio.broker import LocalBroker
from driftline.kafkaio.topics import ensure_topics
from driftline.ops.mosquitto import Mosquitto
from driftline.processes import ManagedProcess, free_port, http_ok

RESULTS = Path(__file__).parent / "results" / "ingest.md"
TOKEN = "bench-token"
STREAMS = {"rooms": {"task": "binary", "features": {"temperature": {}, "co2": {}}}}


def event(i: int) -> dict:
    return {"event_id": f"b-{i}", "device_id": "bench", "stream": "rooms", "ts": "2025-01-01T00:00:00Z",
            "features": {"temperature": 21.5, "co2": 400 + i % 100}, "label": i % 2 == 0}  # fmt: skip


def bench_http(work: Path, bootstrap: str, topics: dict, seconds: float, clients: int) -> dict:
    port = free_port()
    config = work / "http.toml"
    config.write_text(
        f'state_dir = "{work}"\n[kafka]\nbootstrap_servers = "{bootstrap}"\n[collector]\nport = {port}\n'
        f'[devices.bench]\ntoken_sha256 = "{hash_token(TOKEN)}"\n'
        + "".join(f'[topics.{r}]\nname = "{t["name"]}"\npartitions = {t["partitions"]}\n' for r, t in topics.items())
        + '[streams.rooms]\ntask = "binary"\nfeatures = { temperature = {}, co2 = {} }\n'
    )
    driftline = str(Path(sys.executable).with_name("driftline"))
    server = ManagedProcess("collector", [driftline, "collector", "-c", str(config)], work / "collector.log",
                            ready=lambda: http_ok(f"http://127.0.0.1:{port}/healthz"))  # fmt: skip
    server.start(60)
    body = orjson.dumps([event(i) for i in range(500)])
    headers = {"X-Device-Id": "bench", "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    counts = [0] * clients
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                response = http.post("/v1/streams/rooms/events", content=body, headers=headers)
                assert response.status_code == 202, response.text
                latencies.append(time.perf_counter() - t0)
                counts[n] += 500

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    server.stop()
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    total = sum(counts)
    return {"events": total, "seconds": elapsed, "rate": total / elapsed, "p50_ms": p50 * 1000, "p99_ms": p99 * 1000}


def _publish(port: int, count: int, window: int) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-device")
    client.username_pw_set("bench", "bench-mqtt")
    # At most ``window`` messages unacknowledged, all of them in flight: paho scans every queued
    # message on each PUBACK, so queueing all messages up front made the sender itself the bottleneck.
    client.max_inflight_messages_set(window)
    room = threading.Semaphore(window)
    client.on_publish = lambda *_: room.release()
    client.connect("127.0.0.1", port)
    client.loop_start()
    for i in range(count):
        room.acquire()
        client.publish("sensors/rooms/bench", orjson.dumps(event(i)), qos=1)
    for _ in range(window):  # every message acknowledged
        room.acquire()
    client.disconnect()
    client.loop_stop()


def bench_mqtt(work: Path, bootstrap: str, topics: dict, count: int, window: int) -> dict:
    settings = settings_from_dict({"kafka": {"bootstrap_servers": bootstrap}, "topics": topics, "streams": STREAMS})
    with Mosquitto(work / "mosquitto", {"collector": "bridge-pw", "bench": "bench-mqtt"}) as broker:
        publisher = Publisher(bootstrap)
        ingestor = Ingestor(settings, publisher)
        mqtt_settings = MqttSettings(enabled=True, port=broker.port, password="bridge-pw")
        accepted = ingestor.metrics.accepted.labels("rooms", "mqtt")
        with MqttBridge(ingestor, mqtt_settings):
            started = time.monotonic()
            sender = multiprocessing.get_context("spawn").Process(target=_publish, args=(broker.port, count, window))
            sender.start()
            while accepted._value.get() < count and time.monotonic() - started < 300:
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            sender.join()
        publisher.close()
    done = int(accepted._value.get())
    return {"messages": done, "seconds": elapsed, "rate": done / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20, help="HTTP measurement time")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--mqtt-messages", type=int, default=30_000)
    parser.add_argument("--mqtt-window", type=int, default=500, help="QoS 1 messages in flight from the device")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with LocalBroker(data_dir=work / "kafka") as kafka:
            make = lambda p: {r: {"name": f"{p}.{r}", "partitions": 6 if r in ("events", "labels") else 1}  # noqa: E731
                              for r in ("events", "labels", "outcomes", "drift", "control", "deadletter")}  # fmt: skip
            http_topics, mqtt_topics = make("http"), make("mqtt")
            for t in (http_topics, mqtt_topics):
                ensure_topics(kafka.bootstrap_servers, settings_from_dict({"topics": t}).topics)
            http = bench_http(work, kafka.bootstrap_servers, http_topics, args.seconds, args.clients)
            print(f"HTTP: {http['rate']:.0f} events/s", flush=True)
            mqtt = bench_mqtt(work, kafka.bootstrap_servers, mqtt_topics, args.mqtt_messages, args.mqtt_window)
            print(f"MQTT: {mqtt['rate']:.0f} msg/s", flush=True)
    http_row = (
        f"| HTTP `POST /v1/streams/rooms/events` | {args.clients} clients, batches of 500, {http['seconds']:.0f} s "
        f"| **{http['rate']:,.0f} events/s** (p50 {http['p50_ms']:.0f} ms, p99 {http['p99_ms']:.0f} ms per batch) "
        "| 100,000 events/s |"
    )
    mqtt_row = (
        f"| MQTT `sensors/rooms/bench`, QoS 1 | one device, {mqtt['messages']:,} messages, "
        f"{args.mqtt_window} in flight "
        f"| **{mqtt['rate']:,.0f} msg/s** | 20,000 msg/s |"
    )
    command = shlex.join(["python", "benchmarks/bench_ingest.py", *sys.argv[1:]])
    RESULTS.write_text(
        f"""# Ingest benchmark

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` on {os.cpu_count()} CPU cores
({platform.processor() or platform.machine()}, Python {platform.python_version()}), with Kafka (one local KRaft node),
the collector, Mosquitto and the load generators all on the same machine. Every event is acknowledged by Kafka
(acks=all, idempotent producer) before it counts.

| path | load | result | target |
|---|---|---|---|
{http_row}
{mqtt_row}

## Before and after

Same machine, same benchmark. Before: the collector published with kafka-python (commit ea8dc3b
recorded 17,462 events/s and 4,299 msg/s; re-run at 3c2966d under the same conditions as the
confluent-kafka run: 15,623 events/s and 7,145 msg/s). The changes, measured one at a time:

| change | HTTP events/s | MQTT msg/s |
|---|---|---|
| kafka-python producer (before) | 15,623 | 7,145 |
| confluent-kafka (librdkafka) producer | 46,478 (x3.0) | 7,453 (x1.04) |
| benchmark device keeps 500 QoS 1 messages in flight instead of queueing all 30,000 | n/a | 9,648 (x1.35) |
| uvicorn[standard] (httptools, uvloop), 2 runs each | 46,283 / 59,618 → 49,036 / 69,482 (~x1.1) | n/a |

## What limits it

- Profile (cProfile/py-spy) of the kafka-python collector: about 60% of its CPU per event was the
  producer's pure-Python send (accumulator, partitioner, record encoding, futures), about four times
  the JSON parse and pydantic validation. With librdkafka doing that in C, one collector process
  needs ~11 us of CPU per event in-process (~14 us with 4 request threads contending for the GIL),
  of which parse + validate + re-serialise is ~6 us (orjson 0.7 us, pydantic validate 2.4 us,
  `to_bytes` 2.7 us); the rest is librdkafka, delivery callbacks, uvicorn/h11 and thread hand-offs.
- Cheaper per-event Python was measured and not adopted: validating a whole batch with one
  `TypeAdapter(list[SensorEvent])` call saves 0.2 us of the 2.4 us per event, `validate_json` on the
  raw body saves nothing, calling the pydantic serializer directly saves 0.5 us. Within run-to-run
  noise, so the per-item path (exact errors, one code path) stays as it is.
- librdkafka settings flattened: `linger.ms` 2, 10 and bigger batches measured within noise of each other.
- One collector process tops out around 0.8 of a core (the GIL). Several workers were tried and not
  kept: uvicorn `--workers 2` (own producer each, metrics summed over processes) measured 29,784
  events/s against 55,322 for one worker in the same run, and two collectors on two ports with the
  clients split between them 50,921 (an earlier run of that, with other suites loading the machine,
  had shown 74k against 39k; an idle machine did not reproduce it). On 2 cores the second core is
  already busy with Kafka, the load generator and the producer's I/O threads, so a second collector
  process only adds contention.
  Workers are worth trying again on a machine with more cores.
- Two cores are shared by Kafka, the collector, Mosquitto, the load generator and, during these runs,
  other engineers' test suites, so figures vary from run to run: with the confluent-kafka publisher,
  HTTP measured 46k-59k events/s and MQTT 7.4k-10.4k msg/s across the final runs on this machine.
- MQTT is one message per event through paho, in Python on both ends: the bridge's network loop,
  one callback and one PUBACK per message, and the device's own paho client (which scans every
  in-flight message on each PUBACK, so the window matters: 100 in flight measured 10.6k msg/s,
  2,000 measured 7.0k). The bridge acknowledges a message to Mosquitto only after Kafka's ack.
- 100k events/s over HTTP and 20k msg/s over MQTT are not reached on this 2-core machine with Kafka
  on it. What would go further: more cores (then several collector workers, untested here), and an
  MQTT bridge outside Python or sharded over several bridge clients with MQTT shared subscriptions.
"""
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
