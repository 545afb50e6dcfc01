"""Faults under load: Kafka goes away, or a cluster node dies, while devices post and models learn.

One scenario, run by the fault tests (which assert on it) and by ``driftline bench faults`` (which
reports it): the trainer and the monitor run as real ``driftline`` processes, the collector's HTTP
ingest and the archiver in this process, devices post labelled events through HTTP the whole time,
and midway through the trainer's backlog the fault strikes:

- ``outage``: the single broker stops for ``outage_s`` and comes back;
- ``node_loss``: a three-node cluster (replication 3, min.insync.replicas 2) loses, by SIGKILL,
  the node coordinating the trainer's group, and goes on with two.

Afterwards the outcomes topic is read whole: every event the collector acknowledged must have
exactly one outcome, the monitor must have counted each once, the lake must hold each, and no
service may have exited.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from river import datasets

from driftline.collector.app import create_app
from driftline.collector.archiver import Archiver
from driftline.collector.auth import hash_token
from driftline.collector.intake import Ingestor
from driftline.collector.publisher import Publisher
from driftline.config import settings_from_dict
from driftline.config.settings import Settings
from driftline.contracts import Outcome, parse
from driftline.httpserver import BackgroundServer, exposed_total
from driftline.kafkaio.broker import LocalBroker
from driftline.kafkaio.clients import make_consumer, read_topic
from driftline.kafkaio.cluster import LocalCluster
from driftline.kafkaio.health import KafkaProbe
from driftline.kafkaio.topics import ensure_topics
from driftline.lake import read_lake
from driftline.processes import free_port, wait_until
from driftline.rules import metric_names as names
from driftline_lab.invariants import Delivery, check_delivery, lake_rows, service_problems
from driftline_lab.throughput import Process

Fault = Literal["outage", "node_loss"]
DEVICES = ("d1", "d2", "d3")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
SERVICES = ("trainer", "monitor", "collector")


@dataclass
class FaultRun:
    """What one fault did to the services, and what they delivered."""

    fault: Fault
    fault_s: float
    accepted: int = 0
    #: Posts answered 503 (Kafka away: the device retried after Retry-After), of ``posts``.
    refused: int = 0
    posts: int = 0
    outcomes: int = 0
    #: Acknowledged events without an outcome; outcomes beyond one per event; outcomes of events never acknowledged.
    missing: int = 0
    duplicates: int = 0
    unexpected: int = 0
    monitor_counted: float = 0
    archived_missing: int = 0
    recoveries: dict[str, float] = field(default_factory=dict)
    #: Whether each service's /healthz said 503 during the fault, and 200 after it.
    unhealthy_during: dict[str, bool] = field(default_factory=dict)
    healthy_after: dict[str, bool] = field(default_factory=dict)
    #: Seconds from the end of the fault (the broker back, or the node dead) to the first new outcome.
    resumed_after_s: float = 0.0
    #: Answers to devices that were neither 202 nor 503 with Retry-After.
    unexpected_answers: list[str] = field(default_factory=list)
    exits: dict[str, int | None] = field(default_factory=dict)
    seconds: float = 0.0
    delivery: Delivery | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def problems(self) -> list[str]:
        """Every broken invariant (:mod:`driftline_lab.invariants`); empty when nothing was lost."""
        found = self.delivery.problems() if self.delivery else ["the run never reached its checks"]
        found += [f"a device was answered {answer}" for answer in self.unexpected_answers]
        return found + service_problems(self.exits, {s: self.healthy_after.get(s, False) for s in SERVICES})


def phishing_rows() -> list[tuple[dict[str, Any], bool]]:
    return list(datasets.Phishing())


def config_for(bootstrap: str, state: Path, replicas: int) -> dict[str, Any]:
    features = {name: {} for name in phishing_rows()[0][0]}
    return {
        "state_dir": str(state),
        "kafka": {"bootstrap_servers": bootstrap, "replication_factor": replicas},
        "checkpoints": {"secret": "a key the fault run's services share"},
        "trainer": {
            "group_id": f"faults-trainer-{uuid.uuid4().hex[:6]}",
            # Small batches and frequent commits: the fault meets open transactions.
            "max_poll_records": 20,
            "commit_interval_s": 0.05,
            "checkpoint_every_events": 500,
        },
        "monitor": {"group_id": f"faults-monitor-{uuid.uuid4().hex[:6]}", "commit_interval_s": 0.05, "port": 0},
        "collector": {"lake_batch_seconds": 1.0},
        "devices": {d: {"token_sha256": hash_token(f"token-{d}")} for d in DEVICES},
        "streams": {"phish": {"task": "binary", "scope": "device", "model": "logistic", "features": features}},
    }


class Devices:
    """The devices posting through the collector's HTTP API; what got a 202 is remembered."""

    def __init__(self, url: str, rows: list[tuple[dict[str, Any], bool]]) -> None:
        self.url = url
        self.rows = rows
        self.accepted: set[tuple[str, str]] = set()
        self.refused = self.posts = 0
        self.unexpected: list[str] = []

    def post(self, first: int, last: int, size: int = 50) -> None:
        with httpx.Client(timeout=60) as client:
            for start in range(first, last, size):
                for device in DEVICES:
                    batch = [
                        {
                            "event_id": f"e{i}",
                            "device_id": device,
                            "stream": "phish",
                            "ts": (T0 + timedelta(seconds=i)).isoformat(),
                            "features": self.rows[i][0],
                            "label": self.rows[i][1],
                        }
                        for i in range(start, min(start + size, last))
                    ]
                    self._deliver(client, device, batch)

    def _deliver(self, client: httpx.Client, device: str, batch: list[dict[str, Any]]) -> None:
        """Post until acknowledged, as a device does: a 503 means retry after Retry-After."""
        while True:
            response = client.post(
                f"{self.url}/v1/streams/phish/events",
                json=batch,
                headers={"X-Device-Id": device, "Authorization": f"Bearer token-{device}"},
            )
            self.posts += 1
            if response.status_code == 202:
                self.accepted.update((device, item["event_id"]) for item in batch)
                return
            if response.status_code != 503 or not response.headers.get("Retry-After"):
                self.unexpected.append(f"{response.status_code} {response.text[:200]}")
                return
            # Not acknowledged, maybe written all the same: the trainer drops the retry's duplicates.
            self.refused += 1
            time.sleep(min(1.0, float(response.headers["Retry-After"])))


class Collector:
    """The collector's HTTP ingest in this process, with the /healthz probe the real one has."""

    def __init__(self, settings: Settings) -> None:
        self.publisher = Publisher(settings.kafka.bootstrap_servers, send_timeout_s=5)
        self.probe = KafkaProbe(settings.kafka.bootstrap_servers, interval_s=0.5)
        self.server = BackgroundServer(create_app(Ingestor(settings, self.publisher), self.probe.problem))

    def start(self) -> str:
        self.probe.start()
        return self.server.start().url

    def stop(self) -> None:
        self.server.stop()
        self.publisher.close()
        self.probe.stop()


def health(url: str) -> int:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code
    except httpx.HTTPError:
        return 0


def coordinator_of(bootstrap: str, group: str) -> int:
    """The node id coordinating ``group``."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_consumer_groups([group])[group].result(timeout=30)
    return described.coordinator.id


def outcomes_of(bootstrap: str, settings: Settings) -> list[Outcome]:
    spec = settings.topics.outcomes
    return [parse(Outcome, m.value()) for m in read_topic(bootstrap, spec.name, spec.partitions)]


class OutcomeCount:
    """Committed outcomes so far, read on from where the last count stopped: what the scenario polls for
    (each poll re-reading the whole topic with a new consumer cost more than the services it waits on).
    The final tally reads the topic whole again (:func:`outcomes_of`)."""

    def __init__(self, bootstrap: str, settings: Settings) -> None:
        spec = settings.topics.outcomes
        # Errors only when critical: a node refusing connections is the fault under test, not news.
        self.consumer = make_consumer(bootstrap, None, log_level=2)
        self.consumer.assign([TopicPartition(spec.name, p, 0) for p in range(spec.partitions)])
        self.count = 0

    def __call__(self) -> int:
        while messages := self.consumer.consume(1000, timeout=0.05):
            self.count += sum(m.error() is None for m in messages)
        return self.count

    def close(self) -> None:
        self.consumer.close()


def run(
    fault: Fault,
    folder: Path,
    backlog: int = 900,
    during: int = 100,
    after: int = 100,
    outage_s: float = 20.0,
    say: Callable[[str], None] = lambda _: None,
) -> FaultRun:
    """Run the scenario once in ``folder``: ``backlog`` rows per device before the fault, ``during``
    while it lasts, ``after`` once it is over."""
    rows = phishing_rows()
    began = time.monotonic()
    kafka: LocalBroker | LocalCluster
    kafka = LocalBroker(data_dir=folder / "kafka") if fault == "outage" else LocalCluster(folder / "kafka")
    say(f"{fault}: starting Kafka")
    kafka.start()
    processes: dict[str, Process] = {}
    collector: Collector | None = None
    stop_archiver = threading.Event()
    result = FaultRun(fault, outage_s if fault == "outage" else 0.0)
    try:
        bootstrap = kafka.bootstrap_servers
        data = config_for(bootstrap, folder / "state", 1 if fault == "outage" else 3)
        settings = settings_from_dict(data)
        ensure_topics(bootstrap, settings.topics, settings.kafka.replication_factor)
        collector = Collector(settings)
        devices = Devices(collector.start(), rows)
        devices.post(0, backlog)

        config = folder / "faults.toml"
        config.write_text("")
        env = {**os.environ, **{f"DRIFTLINE_{k.upper()}": json.dumps(v) if isinstance(v, dict) else str(v)
                                for k, v in data.items()}}  # fmt: skip
        urls: dict[str, str] = {}
        for service in ("trainer", "monitor"):
            port = free_port()
            urls[service] = f"http://127.0.0.1:{port}"
            argv = [sys.executable, "-m", "driftline.cli", service, "-c", str(config), "--port", str(port)]
            processes[service] = Process.start(argv, {**env, f"DRIFTLINE_{service.upper()}__INSTANCE_ID": "faults"},
                                               folder / f"{service}.log")  # fmt: skip
        urls["collector"] = devices.url
        archiver = Archiver(settings, bootstrap, lake_dir=folder / "lake")
        archiving = threading.Thread(target=archiver.run, args=(stop_archiver,), daemon=True)
        archiving.start()

        # Midway through the backlog: outputs produced, their transactions open.
        counted = OutcomeCount(bootstrap, settings)  # its client follows the cluster past a lost node
        wait_until(lambda: counted() >= backlog // 3, 180, 0.2)
        say(f"{fault}: striking")
        seen_before = counted()
        struck = time.monotonic()
        if isinstance(kafka, LocalCluster):
            victim = coordinator_of(bootstrap, data["trainer"]["group_id"])
            kafka.nodes[victim - 1].kill()
            bootstrap_left = ",".join(n.bootstrap_servers for n in kafka.nodes if n.node_id != victim)
        else:
            kafka.stop()
            bootstrap_left = bootstrap
        posting = threading.Thread(target=devices.post, args=(backlog, backlog + during), daemon=True)
        posting.start()
        for service, url in urls.items():
            if fault == "outage":
                result.unhealthy_during[service] = (
                    wait_until(lambda url=url: health(url) == 503, outage_s - 2, 0.2) is not None
                )
        if fault == "outage":
            time.sleep(max(0.0, outage_s - (time.monotonic() - struck)))
            result.exits = {name: p.popen.poll() for name, p in processes.items()}
            say(f"{fault}: Kafka back")
            kafka.start()
        fault_over = time.monotonic()
        posting.join(timeout=300)
        # The first outcome after the fault: the trainer resumed.
        wait_until(lambda: counted() > seen_before, 300, 0.2)
        result.resumed_after_s = time.monotonic() - fault_over
        for service, url in urls.items():
            result.healthy_after[service] = wait_until(lambda url=url: health(url) == 200, 90, 0.2) is not None
        devices.post(backlog + during, backlog + during + after)
        say(f"{fault}: checking every acknowledged event")

        total = len(devices.accepted)
        wait_until(lambda: counted() >= total, 300, 0.2)
        counted.close()
        time.sleep(2.0)  # and nothing more after them
        wait_until(lambda: monitor_counted(urls["monitor"]) >= total, 120, 0.2)
        lake = folder / "lake"
        wait_until(lambda: not devices.accepted - archived(lake), 120, 0.2)
        delivery = check_delivery(
            devices.accepted, set(), outcomes_of(bootstrap_left, settings), monitor_counted(urls["monitor"]),
            lake_rows(lake),
        )  # fmt: skip
        result.delivery = delivery
        result.accepted, result.refused, result.posts = total, devices.refused, devices.posts
        result.outcomes, result.missing, result.duplicates = delivery.outcomes, delivery.missing, delivery.duplicates
        result.unexpected = delivery.unexpected + len(devices.unexpected)
        result.unexpected_answers = devices.unexpected
        result.monitor_counted, result.archived_missing = delivery.monitor_counted, delivery.archived_missing
        trainer_metrics = httpx.get(f"{urls['trainer']}/metrics", timeout=5).text
        monitor_metrics = httpx.get(f"{urls['monitor']}/metrics", timeout=5).text
        result.recoveries = {
            "trainer": exposed_total(trainer_metrics, names.TRAINER_KAFKA_RECOVERIES),
            "monitor": exposed_total(monitor_metrics, names.MONITOR_KAFKA_RECOVERIES),
        }
        result.exits = {name: p.popen.poll() for name, p in processes.items()} | {
            "archiver": None if archiving.is_alive() else 1
        }
    finally:
        stop_archiver.set()
        for process in processes.values():
            process.stop()
        if collector is not None:
            collector.stop()
        kafka.stop()
    result.seconds = time.monotonic() - began
    return result


def monitor_counted(url: str) -> float:
    try:
        return exposed_total(httpx.get(f"{url}/metrics", timeout=5).text, names.MONITOR_OUTCOMES)
    except httpx.HTTPError:
        return 0.0


def archived(lake: Path) -> set[tuple[str, str]]:
    frame = read_lake(lake)
    return set(zip(frame["device_id"], frame["event_id"], strict=True))


def suite(
    folder: Path, out: Path, command: str, say: Callable[[str], None], progress: Callable[[int], Callable[[], None]]
) -> Path:
    """``driftline bench faults``: both faults at full length; writes faults.md and faults.json to ``out``."""
    step = progress(2)
    runs = []
    for fault in ("outage", "node_loss"):
        scratch = folder / fault
        scratch.mkdir(parents=True, exist_ok=True)
        runs.append(run(fault, scratch, backlog=900, during=250, after=100, say=say))  # type: ignore[arg-type]
        step()
    out.mkdir(parents=True, exist_ok=True)
    (out / "faults.json").write_text(json.dumps({"command": command, "runs": [r.as_dict() for r in runs]}, indent=2))
    path = out / "faults.md"
    path.write_text(report(runs, command))
    return path


def report(runs: list[FaultRun], command: str) -> str:
    """The markdown of ``driftline bench faults``."""
    faults = {
        "outage": "broker stopped 20 s (1 node)",
        "node_loss": "coordinator node killed (3 nodes, RF 3, min ISR 2)",
    }
    lines = [
        "# Faults under load",
        "",
        f"`{command}`: the trainer and the monitor as `driftline` processes, the collector's HTTP ingest and",
        "the archiver, three devices posting labelled Phishing rows the whole time (a 503 is retried after",
        "Retry-After, as a device does); the fault strikes midway through the trainer's backlog.",
        "",
        "| fault | events acknowledged | posts answered 503 | outcomes | missing | duplicated | monitor counted"
        " | not in the lake | loop restarts (trainer, monitor) | first outcome after the fault | a service exited |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in runs:
        exited = ", ".join(name for name, code in r.exits.items() if code is not None) or "none"
        restarts = f"{r.recoveries.get('trainer', 0):.0f}, {r.recoveries.get('monitor', 0):.0f}"
        lines.append(
            f"| {faults[r.fault]} | {r.accepted:,} | {r.refused:,} of {r.posts:,} | {r.outcomes:,} | {r.missing:,}"
            f" | {r.duplicates:,} | {r.monitor_counted:,.0f} | {r.archived_missing:,} | {restarts}"
            f" | {r.resumed_after_s:.1f} s | {exited} |"
        )
    outage = next((r for r in runs if r.fault == "outage"), None)
    if outage is not None:
        said = ", ".join(f"{s} {'yes' if v else 'no'}" for s, v in outage.unhealthy_during.items())
        lines += ["", f"During the outage, /healthz answered 503: {said}."]
    lines += [
        "",
        "Missing, duplicated and not in the lake must be 0, and the monitor must count every acknowledged event",
        "once; `tests/integration/test_kafka_faults.py` asserts that on a shorter outage, and",
        "`tests/integration/test_chaos.py` on a pipeline losing Kafka nodes (and more) under load.",
        "",
    ]
    return "\n".join(lines)
