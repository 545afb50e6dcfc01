"""Kafka goes away and comes back: every service waits it out, says so on /healthz, and loses nothing.

A broker of the test's own is stopped for 20 s while the trainer and the monitor (real
`driftline` processes) are midway through a backlog and devices keep posting. Afterwards every
event the collector acknowledged has exactly one labelled outcome, the monitor counted each once,
and the archiver put each into the lake.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from kafka_helpers import TopicReader
from test_trainer_recovery import DEVICES, STREAMED, T0, Processes, write_config

from conftest import unique_topics
from driftline.collector.app import create_app
from driftline.collector.archiver import Archiver
from driftline.collector.lake import read_lake
from driftline.collector.publisher import Publisher
from driftline.collector.service import Ingestor
from driftline.config import Settings, load_settings
from driftline.contracts import Outcome
from driftline.httpserver import BackgroundServer, exposed_total
from driftline.kafkaio.broker import LocalBroker
from driftline.kafkaio.health import KafkaProbe
from driftline.kafkaio.topics import ensure_topics

OUTAGE_S = 20.0


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def status(url: str) -> int:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code
    except httpx.HTTPError:
        return 0


class Devices:
    """The three devices posting through the collector's HTTP API; what got a 2xx is remembered."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.accepted: set[tuple[str, str]] = set()
        self.refused = 0

    def post(self, rows: list[tuple[dict, Any]], first: int, size: int = 50) -> None:
        with httpx.Client(timeout=60) as client:
            for start in range(0, len(rows), size):
                for device in DEVICES:
                    batch = [
                        {
                            "event_id": f"e{first + start + i}",
                            "device_id": device,
                            "stream": "phish",
                            "ts": (T0 + timedelta(seconds=first + start + i)).isoformat(),
                            "features": x,
                            "label": y,
                        }
                        for i, (x, y) in enumerate(rows[start : start + size])
                    ]
                    response = client.post(
                        f"{self.url}/v1/streams/phish/events",
                        json=batch,
                        headers={"X-Device-Id": device, "Authorization": f"Bearer token-{device}"},
                    )
                    if response.status_code == 202:
                        self.accepted.update((device, item["event_id"]) for item in batch)
                    else:
                        assert response.status_code == 503, response.text  # Kafka away: retry later
                        assert response.headers["Retry-After"]
                        self.refused += 1


def test_a_kafka_outage_is_waited_out_by_every_service(tmp_path: Path) -> None:
    broker = LocalBroker(data_dir=tmp_path / "kafka").start()
    processes = Processes()
    try:
        bootstrap, topics = broker.bootstrap_servers, unique_topics("outage")
        knobs = {"max_poll_records": 20, "commit_interval_s": 0.05, "checkpoint_every_events": 500}
        config = write_config(tmp_path, bootstrap, "outage", topics, {"commit_interval_s": 0.05}, **knobs)
        settings = load_settings(config)
        ensure_topics(bootstrap, settings.topics)
        with collector(settings) as url:
            run_through_an_outage(broker, settings, config, url, tmp_path, processes)
    finally:
        for process in processes.started:
            process.kill()
        broker.stop()


class collector:
    """The collector's HTTP ingest in this process, with the /healthz probe the real one has."""

    def __init__(self, settings: Settings) -> None:
        self.publisher = Publisher(settings.kafka.bootstrap_servers, send_timeout_s=5)
        self.probe = KafkaProbe(settings.kafka.bootstrap_servers, interval_s=0.5)
        self.server = BackgroundServer(create_app(Ingestor(settings, self.publisher), self.probe.problem))

    def __enter__(self) -> str:
        self.probe.start()
        return self.server.start().url

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.publisher.close()
        self.probe.stop()


def run_through_an_outage(
    broker: LocalBroker, settings: Settings, config: Path, collector_url: str, tmp_path: Path, processes: Processes
) -> None:
    devices = Devices(collector_url)
    backlog = STREAMED[:900]
    devices.post(backlog, first=0)
    assert len(devices.accepted) == len(backlog) * len(DEVICES) and devices.refused == 0

    trainer = processes.start(config, "outage", tmp_path / "trainer.log")
    monitor = processes.start(config, "outage", tmp_path / "monitor.log", service="monitor")
    lake = tmp_path / "lake"
    stop_archiver = threading.Event()
    quick = settings.model_copy(update={"collector": settings.collector.model_copy(update={"lake_batch_seconds": 1.0})})
    archiver = Archiver(quick, broker.bootstrap_servers, lake_dir=lake)
    archiver_thread = threading.Thread(target=archiver.run, args=(stop_archiver,), daemon=True)
    archiver_thread.start()

    outcomes = settings.topics.outcomes
    reader = TopicReader(broker.bootstrap_servers, outcomes.name, Outcome, outcomes.partitions)
    try:
        # Midway through the backlog: outputs produced, their transactions open.
        reader.until(lambda seen: len(seen) >= 300, timeout=120)
    finally:
        reader.close()
    broker.stop()
    down_at = time.monotonic()

    # While Kafka is away: devices are told to retry, every /healthz says 503, nobody exits.
    posting = threading.Thread(target=devices.post, args=(STREAMED[900:1000], 900), daemon=True)
    posting.start()
    for name, url in (("trainer", trainer.url), ("monitor", monitor.url), ("collector", collector_url)):
        wait_for(lambda url=url: status(url) == 503, timeout=OUTAGE_S - 5, what=f"{name} /healthz 503")
    problem = httpx.get(f"{trainer.url}/healthz", timeout=5).json()["problem"]
    assert "Kafka unreachable" in problem or "recovering" in problem, problem
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    assert trainer.process.poll() is None and monitor.process.poll() is None and archiver_thread.is_alive()
    posting.join(timeout=120)
    assert devices.refused > 0  # the outage did reach the devices

    broker.start()
    for name, url in (("trainer", trainer.url), ("monitor", monitor.url), ("collector", collector_url)):
        wait_for(lambda url=url: status(url) == 200, timeout=90, what=f"{name} /healthz 200 again")
    devices.post(STREAMED[1000:1100], first=1000)
    total = len(devices.accepted)

    reader = TopicReader(broker.bootstrap_servers, outcomes.name, Outcome, outcomes.partitions)
    try:
        reader.count(total, timeout=180)
        seen = reader.drain(3.0)
    finally:
        reader.close()
    labelled = Counter((o.device_id, o.event_id) for o in seen if o.label is not None)
    assert set(labelled) == devices.accepted, "every acknowledged event has an outcome, and only those"
    assert set(labelled.values()) == {1} and len(seen) == total, "exactly once"

    metrics = httpx.get(f"{trainer.url}/metrics", timeout=5).text
    assert exposed_total(metrics, "driftline_trainer_kafka_recoveries_total") >= 1  # the loop did meet the fault
    wait_for(lambda: monitor_counted(monitor.url) == total, timeout=90, what="the monitor counting every outcome")

    wait_for(lambda: archived(lake) >= devices.accepted, timeout=90, what="the lake holding every event")
    stop_archiver.set()
    archiver_thread.join(timeout=60)
    assert archived(lake) == devices.accepted
    assert trainer.stop() == 0 and monitor.stop() == 0


def monitor_counted(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return exposed_total(text, "driftline_monitor_outcomes_total")


def archived(lake: Path) -> set[tuple[str, str]]:
    frame = read_lake(lake)
    return set(zip(frame["device_id"], frame["event_id"], strict=True))
