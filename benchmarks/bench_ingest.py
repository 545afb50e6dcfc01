"""Ingest benchmark: HTTP events/s (batches of 500) and MQTT messages/s into Kafka with acks=all.

Not a test: it starts its own Kafka, Mosquitto and `driftline collector` processes (1 and 2
workers), measures, and writes benchmarks/results/ingest.md. Needs mosquitto_pub (Debian package
mosquitto-clients, which ./run installs). Usage: python benchmarks/bench_ingest.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson

from driftline.collector.auth import hash_token
from driftline.config import settings_from_dict
from driftline.httpserver import exposed_total
from driftline.kafkaio.broker import LocalBroker
from driftline.kafkaio.topics import ensure_topics
from driftline.ops.mosquitto import Mosquitto
from driftline.processes import ManagedProcess, find_program, free_port, http_ok
from driftline.rules import metric_names as names

RESULTS = Path(__file__).parent / "results" / "ingest.md"
TOKEN = "bench-token"
BRIDGE_PASSWORD = "bridge-pw"


def event(i: int, device: str = "bench") -> dict:
    return {"event_id": f"b-{i}", "device_id": device, "stream": "rooms", "ts": "2025-01-01T00:00:00Z",
            "features": {"temperature": 21.5, "co2": 400 + i % 100}, "label": i % 2 == 0}  # fmt: skip


def start_collector(work: Path, name: str, bootstrap: str, topics: dict, workers: int, mqtt_port: int | None = None):
    """A ``driftline collector`` process (``workers`` of them on one port) and its URL."""
    port = free_port()
    mqtt = (
        f'[collector.mqtt]\nenabled = true\nport = {mqtt_port}\npassword = "{BRIDGE_PASSWORD}"\n'
        f'client_id = "bench-{name}"\n'
        if mqtt_port
        else ""
    )
    config = work / f"{name}.toml"
    config.write_text(
        f'state_dir = "{work / name}"\n[kafka]\nbootstrap_servers = "{bootstrap}"\n'
        f"[collector]\nport = {port}\nworkers = {workers}\n{mqtt}"
        f'[devices.bench]\ntoken_sha256 = "{hash_token(TOKEN)}"\n'
        + "".join(f'[topics.{r}]\nname = "{t["name"]}"\npartitions = {t["partitions"]}\n' for r, t in topics.items())
        + '[streams.rooms]\ntask = "binary"\nfeatures = { temperature = {}, co2 = {} }\n'
    )
    url = f"http://127.0.0.1:{port}"
    driftline = str(Path(sys.executable).with_name("driftline"))
    server = ManagedProcess(name, [driftline, "collector", "-c", str(config)], work / f"{name}.log",
                            ready=lambda: http_ok(f"{url}/healthz"))  # fmt: skip
    return server.start(60), url


def accepted(url: str, transport: str) -> float:
    """Items the collector (all its workers) got acknowledged by Kafka, from its /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return exposed_total(text, names.COLLECTOR_EVENTS_ACCEPTED, transport=transport)


def bench_http(work: Path, bootstrap: str, topics: dict, seconds: float, clients: int, workers: int) -> dict:
    server, url = start_collector(work, f"http-{workers}", bootstrap, topics, workers)
    body = orjson.dumps([event(i) for i in range(500)])
    headers = {"X-Device-Id": "bench", "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    counts = [0] * clients
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        # The standard library's client costs less CPU per request than httpx; on these shared
        # 2 cores the collector gets the difference (see "Before and after").
        http = HTTPConnection(urlsplit(url).netloc, timeout=60)
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            http.request("POST", "/v1/streams/rooms/events", body=body, headers=headers)
            response = http.getresponse()
            answer = response.read()
            assert response.status == 202, answer
            latencies.append(time.perf_counter() - t0)
            counts[n] += 500
        http.close()

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


def bench_mqtt(work: Path, bootstrap: str, topics: dict, args: argparse.Namespace, workers: int, backlog: bool) -> dict:
    """MQTT devices publish ``args.mqtt_messages`` in all: ``mosquitto_pub`` processes (C, a cheap load).

    Live: they publish while the collector runs, at ``args.mqtt_nice`` priority (flat out they would
    take the CPU the collector needs only to fill Mosquitto's queue faster than anyone empties it).
    Backlog: they publish while the collector is away (its sessions queue the messages at Mosquitto,
    as during a restart); then the collector starts and catches up, with the CPU to itself.
    The rate is measured from the first message the collector got acknowledged to the last.
    """
    names = [f"dev-{d}" for d in range(args.mqtt_devices)]
    users = {"collector": BRIDGE_PASSWORD} | {name: f"{name}-pw" for name in names}
    name = f"mqtt-{'backlog' if backlog else 'live'}-{workers}"
    with Mosquitto(work / f"mosquitto-{name}", users) as broker:
        server, url = start_collector(work, name, bootstrap, topics, workers, broker.port)
        if backlog:
            server.stop()  # its bridges' persistent sessions stay subscribed
        per_device = args.mqtt_messages // len(names)
        # One mosquitto_pub per device, each event on a line of its stdin, 500 QoS 1 messages in flight.
        # stdin stays open until the end: at end of input mosquitto_pub 2.0.11 exits with messages unsent.
        publish = ["nice", "-n", str(args.mqtt_nice), find_program("mosquitto_pub"), "-p", str(broker.port)]
        publish += ["-q", "1", "-M", "500", "-l"]
        senders = [
            subprocess.Popen(
                [*publish, "-u", device, "-P", f"{device}-pw", "-t", f"sensors/rooms/{device}"], stdin=subprocess.PIPE
            )
            for device in names
        ]
        lines = [
            b"".join(orjson.dumps(event(i, device)) + b"\n" for i in range(d * per_device, (d + 1) * per_device))
            for d, device in enumerate(names)
        ]
        writers = [
            threading.Thread(target=lambda s=sender, b=body: (s.stdin.write(b), s.stdin.flush()), daemon=True)
            for sender, body in zip(senders, lines, strict=True)
        ]
        for writer in writers:
            writer.start()
        if backlog:
            for writer in writers:
                writer.join()
            time.sleep(2)  # mosquitto_pub has read all; let its window drain
            server.start(60)
        total = per_device * len(names)
        first: tuple[float, float] | None = None
        done, deadline = 0.0, time.monotonic() + 300
        while done < total and time.monotonic() < deadline:
            time.sleep(0.25)  # parsing /metrics costs the machine CPU too
            done = accepted(url, "mqtt")
            first = first or ((time.monotonic(), done) if done else None)
        finished = time.monotonic()
        for sender in senders:
            sender.stdin.close()
            sender.wait()
        server.stop()
    assert first is not None and done == total, f"{name}: {done} of {total} messages acknowledged"
    return {"messages": total, "seconds": finished - first[0], "rate": (done - first[1]) / (finished - first[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20, help="HTTP measurement time per worker count")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (devices posting at once)")
    parser.add_argument("--workers", default="1,2", help="collector worker counts to measure, comma-separated")
    parser.add_argument("--mqtt-messages", type=int, default=200_000, help="MQTT messages per worker count")
    parser.add_argument("--mqtt-devices", type=int, default=4, help="MQTT devices publishing at once")
    parser.add_argument("--mqtt-nice", type=int, default=19, help="niceness of the MQTT devices' processes")
    parser.add_argument("--only", choices=["http", "mqtt"], help="measure one path only (results not written)")
    parser.add_argument("--json", type=Path, help="write the rates to this file instead of results/ingest.md")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    http: dict[int, dict] = {}
    mqtt: dict[tuple[bool, int], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with LocalBroker(data_dir=work / "kafka") as kafka:
            make = lambda p: {r: {"name": f"{p}.{r}", "partitions": 6 if r in ("events", "labels") else 1}  # noqa: E731
                              for r in ("events", "labels", "outcomes", "drift", "control", "deadletter")}  # fmt: skip
            http_topics, mqtt_topics = make("http"), make("mqtt")
            for t in (http_topics, mqtt_topics):
                ensure_topics(kafka.bootstrap_servers, settings_from_dict({"topics": t}).topics)
            for workers in counts if args.only != "mqtt" else []:
                http[workers] = bench_http(
                    work, kafka.bootstrap_servers, http_topics, args.seconds, args.clients, workers
                )
                print(f"HTTP, {workers} worker(s): {http[workers]['rate']:.0f} events/s", flush=True)
            for backlog in (False, True) if args.only != "http" else ():
                for workers in counts:
                    mqtt[backlog, workers] = run = bench_mqtt(
                        work, kafka.bootstrap_servers, mqtt_topics, args, workers, backlog
                    )
                    mode = "backlog" if backlog else "live"
                    print(f"MQTT {mode}, {workers} worker(s): {run['rate']:.0f} msg/s", flush=True)
    if args.json:
        args.json.write_text(orjson.dumps({
            "http": {w: r["rate"] for w, r in http.items()},
            "mqtt": {f"{'backlog' if backlog else 'live'}, {w}": r["rate"] for (backlog, w), r in mqtt.items()},
        }, option=orjson.OPT_NON_STR_KEYS).decode())  # fmt: skip
    if args.only or args.json:
        return
    rows = [
        f"| HTTP `POST /v1/streams/rooms/events` | {w} | {args.clients} clients, batches of 500, {r['seconds']:.0f} s "
        f"| **{r['rate']:,.0f} events/s** (p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms per batch) "
        "| 100,000 events/s |"
        for w, r in http.items()
    ] + [
        f"| MQTT `sensors/rooms/<device>`, QoS 1, {'backlog' if backlog else 'live'} | {w} "
        f"| {args.mqtt_devices} devices, {r['messages']:,} messages | **{r['rate']:,.0f} msg/s** | 20,000 msg/s |"
        for (backlog, w), r in mqtt.items()
    ]
    table = "\n".join(rows)
    command = shlex.join(["python", "benchmarks/bench_ingest.py", *sys.argv[1:]])
    RESULTS.write_text(
        f"""# Ingest benchmark

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` on {os.cpu_count()} CPU cores
({platform.processor() or platform.machine()}, Python {platform.python_version()}), with Kafka (one local KRaft node),
the collector, Mosquitto and the load generators all on the same machine. Every event is acknowledged by Kafka
(acks=all, idempotent producer) before it counts: the collector answers HTTP, and acknowledges an MQTT
message to Mosquitto, only then. HTTP counts the 202 answers; MQTT reads the collector's /metrics
(summed over its workers).

The load: HTTP from {args.clients} threads of one Python process (`http.client`, a keep-alive connection each,
which the kernel spreads over the workers), each posting the same pre-encoded batch of 500 events.
MQTT from {args.mqtt_devices} devices, a `mosquitto_pub -l -M 500` process each (C), publishing
{args.mqtt_messages // args.mqtt_devices:,} distinct events each, at `nice {args.mqtt_nice}`.
Live: they publish while the collector runs. Backlog: they publish while it is stopped (its bridges'
sessions queue the messages, as during a restart), then it starts and catches up; the rate is
counted from its first acknowledged message to the last.

| path | `collector.workers` | load | result | target |
|---|---|---|---|---|
{table}

## Before and after

Same machine, same benchmark, one change at a time (the benchmark's own load changed too; said where).

| change | HTTP events/s | MQTT msg/s |
|---|---|---|
| kafka-python producer (commit ea8dc3b, re-run at 3c2966d) | 15,623 | 7,145 |
| confluent-kafka (librdkafka) producer | 46,478 | 7,453 |
| benchmark's paho device keeps 500 QoS 1 messages in flight | | 9,648 |
| uvicorn[standard] (httptools, uvloop), 2 runs each | 46,283 / 59,618 → 49,036 / 69,482 | |
| scalar values checked in pydantic-core, serializer writes bytes (52fb3b4) | check 6.9 → 4.9 us/event | |
| HTTP ingest on the event loop, not a threadpool (on the way to b3683d7) | 61,850 → 58,398 / 60,175 | |
| delivery reports served on the waiting thread (b3683d7) | | bridge CPU 30 → 21 us/msg |
| `collector.workers = 2` (f3440ad), same run as 1 worker | 62,031 → 106,282 | see below |
| MQTT load from 2 `mosquitto_pub --repeat` (C) instead of one paho device (~80% of a core) | | 10,858 → 12,464 |
| reports on the waiting thread; the bridge in a `driftline collector`; 4 devices | | 16,423 |
| each device keeps 500 messages in flight (`mosquitto_pub -l -M 500`), not 1 | | 19,918 |
| HTTP load from 8 clients instead of 4 (2 workers; 4 clients ranged 87k-106k) | 106,695 | |
| HTTP load from `http.client` instead of httpx (2 workers, 8 clients) | 106,695 → 114,026 | |
| `gc.freeze()` once the collector has started (1 worker, 2 runs each) | 64,492 / 66,136 → 81,555 / 89,090 | |

The bridge's CPU per message is in-process, with a real broker and without the network loop
(`MqttBridge._on_message` called directly). The HTTP check is parse, validate and serialize per
event of a 500-event batch.

## What limits it

- HTTP: one collector process is bound by its event loop thread (the GIL). Before `gc.freeze()`
  that thread used a whole core at ~65k events/s, ~15 us per event, ~60% of its py-spy samples in
  the event's check (orjson, pydantic-core, serializer); the garbage collections that the
  per-event objects set off walked the whole startup heap (modules, FastAPI, pydantic) each time,
  which `gc.freeze()` takes out of their sight. A third worker has no core left here (Kafka, the
  load generator and librdkafka's threads use the rest). The kernel spreads connections, not requests: with 4
  keep-alive clients one worker once got 3 of them (82% against 52% of a core, 87k events/s in
  all), so the benchmark posts from 8.
- MQTT, live: the devices, Mosquitto, Kafka and the collector share 2 cores. A message costs the
  bridge ~25 us in paho (its reader makes a `recv` call per header byte and one for the rest, in Python) and ~20 us in
  driftline (check, produce, delivery report, PUBACK, metrics). Live, a second worker gains less
  than in the backlog: the devices and Mosquitto take much of the CPU it would use.
- MQTT, backlog: with the devices done, two workers catch up faster than one. That is the rate
  after an outage or a restart, when Mosquitto has queued messages for the bridges' sessions.
- Figures vary from run to run by 10-20% on this shared machine: compare rows of one run.
- Tried and not kept: validating a whole batch with one `TypeAdapter(list[SensorEvent])` call
  (0.2 us of 2.4 saved) or `validate_json` on the raw body (nothing saved); librdkafka `linger.ms`
  2 or 10 and bigger batches (within noise). `mosquitto_pub -l` loses messages at the end of its
  input (2.0.11), so the benchmark keeps its stdin open until the collector has everything.
"""
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
