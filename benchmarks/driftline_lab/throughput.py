"""`driftline bench throughput`: the trainer against its limit (bare River) and a peer (Quix Streams + River).

On one local broker and the same pre-filled events, per case (model preset and number of model
keys), contenders alternate round by round:

- ``river``: bare River in this process, predict_proba_one, predict_one, learn_one per event;
- ``driftline exactly-once`` and ``driftline at-least-once``: a `driftline trainer` process from
  the events topic to committed outcomes, with and without transactions and checkpoints;
- ``quix defaults`` (at least once, a commit every 5 s: Quix's own defaults, as a user runs it) and
  ``quix exactly-once`` (``processing_guarantee="exactly-once"``, else its defaults):
  :mod:`driftline_lab.peer_quix` in a venv of its own (installed on first use).

Each contender process first answers a warm-up event (start-up, imports and the group join stay
out of the figures). The events are then produced to its topic in one transaction, and the window
runs from that transaction's commit, which shows them all at once to the contender's
read-committed consumer (a pre-filled topic), to its last output read back, committed. CPU is the
process's own over that window (from /proc).
Every contender's predictions and probabilities are compared event by event.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, Message, TopicPartition
from river import datasets

from driftline.config import settings_from_dict
from driftline.contracts import SensorEvent
from driftline.kafkaio.clients import deliver, end_offset, make_consumer, make_producer, require_reachable
from driftline.kafkaio.topics import ensure_topics
from driftline.modelspec import build_model
from driftline.processes import free_port

log = logging.getLogger(__name__)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PEER = Path(__file__).with_name("peer_quix.py")
PEER_VENV = Path.home() / ".cache" / "driftline" / "quix-venv"
PEER_REQUIREMENTS = ("quixstreams==3.28.1", "river==0.26.1")
#: The event each contender process answers before it is timed (a model key of its own).
WARM_UP = "warm/w0"
CONTENDERS = ("river", "driftline exactly-once", "driftline at-least-once", "quix defaults", "quix exactly-once")
#: Each peer contender's processing guarantee (None: Quix's default, at least once).
PEER_GUARANTEE = {"quix defaults": None, "quix exactly-once": "exactly-once"}
#: The pairings reported side by side: driftline at its defaults against the peer at its own, then equal guarantees.
PAIRINGS = (
    ("each at its defaults", "driftline exactly-once", "quix defaults"),
    ("both at least once", "driftline at-least-once", "quix defaults"),
    ("both exactly once", "driftline exactly-once", "quix exactly-once"),
)
#: What two predictions agree on: the label and every class probability, exactly.
Answer = tuple[Any, tuple[tuple[str, float], ...]]


@dataclass
class Measure:
    events: int
    wall_s: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.events / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def per_cpu(self) -> float:
        return self.events / self.cpu_s if self.cpu_s > 0 else 0.0


@dataclass
class CaseResult:
    preset: str
    keys: int
    events: int
    runs: dict[str, list[Measure]] = field(default_factory=dict)
    identical: bool = True
    differing: dict[str, int] = field(default_factory=dict)

    def median(self, contender: str, what: str) -> float:
        return statistics.median(getattr(m, what) for m in self.runs[contender])

    def minimum(self, contender: str, what: str) -> float:
        return min(getattr(m, what) for m in self.runs[contender])


def phishing_events(n: int, keys: int, prefix: str = "e") -> list[SensorEvent]:
    rows = list(datasets.Phishing())
    return [
        SensorEvent(
            event_id=f"{prefix}{i}",
            device_id=f"d{i % keys}",
            stream="bench",
            ts=T0 + timedelta(milliseconds=i),
            features=rows[i % len(rows)][0],
            label=rows[i % len(rows)][1],
        )
        for i in range(n)
    ]


def warm_up_event(device: str = "warm", event_id: str = "w0") -> SensorEvent:
    """An event of a model key of its own, answered before the window opens."""
    x, y = next(iter(datasets.Phishing()))
    return SensorEvent(event_id=event_id, device_id=device, stream="bench", ts=T0, features=x, label=y)


def answer(prediction: Any, proba: dict[str, float] | None) -> Answer:
    return prediction, tuple(sorted((proba or {}).items()))


def bare_river(events: list[SensorEvent], preset: str) -> tuple[Measure, dict[str, Answer]]:
    models: dict[str, Any] = {}
    answers: dict[str, Answer] = {}
    build_model(preset).predict_proba_one(events[0].features)  # imports and first calls: a warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    for event in events:
        model = models.get(event.device_id)
        if model is None:
            model = models[event.device_id] = build_model(preset)
        x = event.features
        proba = model.predict_proba_one(x)
        prediction = model.predict_one(x)
        model.learn_one(x, event.label)
        answers[f"{event.device_id}/{event.event_id}"] = answer(prediction, {str(k): v for k, v in proba.items()})
    return Measure(len(events), time.perf_counter() - wall, time.process_time() - cpu), answers


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_rss_mb(pid: int) -> float:
    """Resident memory of a running process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Outputs:
    """A contender's outputs, read back committed from the end of its output topic, with arrival times."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = 1) -> None:
        self.consumer = make_consumer(bootstrap, None, **{"fetch.wait.max.ms": 10})
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        for tp in tps:
            tp.offset = end_offset(self.consumer, tp)
        self.consumer.assign(tps)
        self.answers: dict[str, Answer] = {}
        #: Wall-clock time (time.time()) each output was read.
        self.arrived: dict[str, float] = {}
        #: Each output's record timestamp (its append time where the topic stamps LogAppendTime).
        self.appended: dict[str, float] = {}

    def read_until(self, done: Callable[[], bool], processes: list[Process], deadline: float) -> None:
        while not done():
            if time.monotonic() > deadline or any(p.popen.poll() is not None for p in processes):
                logs = "; ".join(p.last_words() for p in processes)
                raise RuntimeError(f"{len(self.answers)} outputs, then a contender stopped or timed out: {logs}")
            for message in self.consumer.consume(5000, timeout=0.05):
                self.note(message)

    def note(self, message: Message) -> None:
        if message.error() is None:
            key, value = outcome_answer(message.value())
            self.answers[key] = value
            self.arrived[key] = time.time()
            self.appended[key] = message.timestamp()[1] / 1000

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Process:
    """A contender process and the file its output goes to."""

    popen: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, argv: list[str], env: dict[str, str], log: Path) -> Process:
        with log.open("ab") as out:
            return cls(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env), log)

    @property
    def cpu(self) -> float:
        return process_cpu(self.popen.pid)

    def last_words(self, lines: int = 5) -> str:
        """The end of the process's log: why it stopped."""
        tail = self.log.read_text(errors="replace").splitlines()[-lines:] if self.log.exists() else []
        return f"{self.log}: " + " | ".join(tail)

    @property
    def rss_mb(self) -> float:
        return process_rss_mb(self.popen.pid)

    def stop(self) -> None:
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(60)
        except subprocess.TimeoutExpired:
            self.popen.kill()


def measure_process(
    argv: list[str],
    env: dict[str, str],
    bootstrap: str,
    outputs: str,
    stage: Callable[[], Callable[[], int]],
    log: Path,
    timeout: float = 600,
) -> tuple[Measure, dict[str, Answer]]:
    """Start a contender, let it answer one warm-up event, then time it on the events ``stage`` holds back.

    ``stage`` produces the events in an open transaction and returns its commit. The window runs
    from that commit to the last output read back, committed: start-up, imports, the group join
    and producing the events stay out of it; Kafka round trips and commits are in it.
    """
    reader = Outputs(bootstrap, outputs)
    process = Process.start(argv, env, log)
    deadline = time.monotonic() + timeout
    try:
        reader.read_until(lambda: WARM_UP in reader.answers, [process], deadline)
        del reader.answers[WARM_UP]
        release = stage()
        wall, cpu = time.perf_counter(), process.cpu
        expected = release()
        reader.read_until(lambda: len(reader.answers) >= expected, [process], deadline)
        wall, cpu = time.perf_counter() - wall, process.cpu - cpu
    finally:
        process.stop()
        reader.close()
    return Measure(expected, wall, cpu), reader.answers


def outcome_answer(value: bytes) -> tuple[str, Answer]:
    outcome = json.loads(value)
    return f"{outcome['device_id']}/{outcome['event_id']}", answer(outcome.get("prediction"), outcome.get("proba"))


def kafka_named(bootstrap: str | None) -> str:
    """How a report names the Kafka its run used (see :func:`bench_on`)."""
    return f"The Kafka at {bootstrap} (given, maybe shared)" if bootstrap else "One local KRaft broker"


@contextmanager
def bench_on(bootstrap: str | None, folder: Path, peer: Path | None = None) -> Iterator[Bench]:
    """A :class:`Bench` on ``bootstrap`` when given (the run makes topics and groups of its own there, and deletes
    its topics after it; other work may share that Kafka, at the cost of noisier timings), else on a local broker
    in ``folder``, stopped after."""
    from driftline.kafkaio.broker import LocalBroker

    if not bootstrap:
        with LocalBroker(data_dir=folder / "kafka") as broker:
            yield Bench(broker.bootstrap_servers, folder, peer)
        return
    require_reachable(bootstrap)
    bench = Bench(bootstrap, folder, peer)
    try:
        yield bench
    finally:
        bench.drop_topics()


def peer_python(say: Callable[[str], None]) -> Path:
    """The peer venv's Python, creating the venv on first use (a benchmark-only dependency)."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".requirements"
    if not python.exists() or not stamp.exists() or stamp.read_text() != " ".join(PEER_REQUIREMENTS):
        say(f"installing the peer ({', '.join(PEER_REQUIREMENTS)}) into {PEER_VENV} ...")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], check=True)
        stamp.write_text(" ".join(PEER_REQUIREMENTS))
    return python


class Bench:
    """One broker and one scratch folder for every case of a run."""

    def __init__(self, bootstrap: str, tmp: Path, peer: Path | None) -> None:
        self.bootstrap = bootstrap
        self.tmp = tmp
        self.peer = peer
        #: The topics of the run's own (named here, never driftline's defaults): what :meth:`drop_topics` deletes.
        self.made: set[str] = set()

    def topics(self, events: str, outcome_partitions: int = 1, partitions: int = 6) -> dict[str, Any]:
        run = f"run-{uuid.uuid4().hex[:8]}"
        topics = {
            "events": {"name": events, "partitions": partitions},
            "labels": {"name": f"{events}.labels", "partitions": partitions},
            "outcomes": {"name": f"{run}.outcomes", "partitions": outcome_partitions},
            **{r: {"name": f"{run}.{r}", "partitions": 1} for r in ("drift", "control", "deadletter")},
            "checkpoints": {"name": f"{run}.checkpoints", "partitions": partitions},
        }
        self.made.update(spec["name"] for spec in topics.values())
        return topics

    def drop_topics(self) -> None:
        """Delete the topics this run made (on a Kafka that outlives it); a refusal is logged, not raised."""
        from driftline.kafkaio.topics import admin_client

        if not self.made:
            return
        admin = admin_client(self.bootstrap)  # kept until the futures are done: a dropped client cancels them
        deleting = admin.delete_topics(sorted(self.made), operation_timeout=30)
        for topic, future in deleting.items():
            try:
                future.result(60)
            except KafkaException as e:
                log.warning("topic %s of the run was not deleted: %s", topic, e)
        self.made.clear()

    def topic_with_warm_up(self, partitions: int = 6) -> str:
        """A fresh events topic (of ``partitions``) holding just the warm-up event."""
        topic = f"events-{uuid.uuid4().hex[:8]}"
        ensure_topics(self.bootstrap, settings_from_dict({"topics": self.topics(topic, 1, partitions)}).topics)
        deliver(make_producer(self.bootstrap), [(topic, b"bench/warm", warm_up_event().to_bytes())])
        return topic

    def stager(self, topic: str, records: list[tuple[bytes, bytes]]) -> Callable[[], Callable[[], int]]:
        """Produce ``records`` in a transaction left open; its commit is returned, to be timed."""

        def stage() -> Callable[[], int]:
            producer = make_producer(self.bootstrap, **{"transactional.id": f"bench-{uuid.uuid4().hex[:8]}"})
            producer.init_transactions(60)
            producer.begin_transaction()
            for key, value in records:
                while True:
                    try:
                        producer.produce(topic, value, key)
                        break
                    except BufferError:
                        producer.poll(0.05)
            producer.flush(120)

            def release() -> int:
                producer.commit_transaction(60)
                return len(records)

            return release

        return stage

    def _scratch(self) -> Path:
        folder = self.tmp / uuid.uuid4().hex[:8]
        folder.mkdir()
        return folder

    def driftline_setup(
        self,
        preset: str,
        exactly_once: bool = True,
        checkpoints: bool | None = None,
        outcome_partitions: int = 1,
        partitions: int = 6,
    ) -> Setup:
        """A `driftline trainer` on fresh topics (a warm-up event waiting), one group; not started.

        Checkpoints are on with exactly-once and off without, unless ``checkpoints`` says. Events, labels and
        checkpoints have ``partitions``, outcomes ``outcome_partitions``.
        """
        events = self.topic_with_warm_up(partitions)
        topics = self.topics(events, outcome_partitions, partitions)
        ensure_topics(self.bootstrap, settings_from_dict({"topics": topics}).topics)
        features = {name: {} for name in next(iter(datasets.Phishing()))[0]}
        folder = self._scratch()
        env = {
            **os.environ,
            "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "DRIFTLINE_STATE_DIR": str(folder),
            "DRIFTLINE_TOPICS": json.dumps(topics),
            "DRIFTLINE_STREAMS": json.dumps(
                {"bench": {"task": "binary", "scope": "device", "model": preset, "features": features}}
            ),
            "DRIFTLINE_TRAINER__SNAPSHOT_EVERY": "0",
            "DRIFTLINE_TRAINER__GROUP_ID": f"bench-{uuid.uuid4().hex[:8]}",
            "DRIFTLINE_TRAINER__EXACTLY_ONCE": str(exactly_once).lower(),
            "DRIFTLINE_TRAINER__CHECKPOINTS": str(exactly_once if checkpoints is None else checkpoints).lower(),
        }
        config = folder / "empty.toml"
        config.write_text("")
        argv = [sys.executable, "-m", "driftline.cli", "trainer", "-c", str(config)]
        return Setup(argv, env, events, topics["outcomes"]["name"], folder, "trainer")

    def quix_setup(self, preset: str, guarantee: str | None = None) -> Setup:
        """The Quix Streams peer on fresh topics (a warm-up event waiting), at its defaults but ``guarantee``."""
        assert self.peer is not None
        events = self.topic_with_warm_up()
        topics = self.topics(events)
        ensure_topics(self.bootstrap, settings_from_dict({"topics": topics}).topics)
        folder = self._scratch()
        env = {
            **os.environ,
            "DL_BOOTSTRAP": self.bootstrap,
            "DL_EVENTS": events,
            "DL_OUTCOMES": topics["outcomes"]["name"],
            "DL_GROUP": f"quix-{uuid.uuid4().hex[:8]}",
            "DL_PRESET": preset,
            "DL_STATE_DIR": str(folder / "state"),
            **({"DL_GUARANTEE": guarantee} if guarantee else {}),
        }
        return Setup([str(self.peer), str(PEER)], env, events, topics["outcomes"]["name"], folder, "quix")

    def measure(self, setup: Setup, records: list[tuple[bytes, bytes]]) -> tuple[Measure, dict[str, Answer]]:
        stage = self.stager(setup.events, records)
        return measure_process(setup.argv, setup.env_for(0), self.bootstrap, setup.outputs, stage, setup.log(0))


@dataclass
class Setup:
    """How to start a contender on its topics: argv, environment, scratch folder."""

    argv: list[str]
    env: dict[str, str]
    events: str
    outputs: str
    folder: Path
    name: str
    ports: set[int] = field(default_factory=set)
    #: The config section of the service started (its instance id and port are set there).
    section: str = "trainer"

    def env_for(self, instance: int) -> dict[str, str]:
        """The environment of instance ``instance`` (its own id, and an HTTP port no other instance has)."""
        port = free_port()
        while port in self.ports:  # free now is not free later: the instances start one after another
            port = free_port()
        self.ports.add(port)
        section = f"DRIFTLINE_{self.section.upper()}__"
        own = {f"{section}INSTANCE_ID": f"{self.name}-{instance}", f"{section}PORT": str(port)}
        return {**self.env, **own}

    def log(self, instance: int) -> Path:
        return self.folder / f"{self.name}-{instance}.log"


def run_case(
    bench: Bench, preset: str, keys: int, n: int, rounds: int, contenders: list[str], advance: Callable[[], None]
) -> CaseResult:
    events = phishing_events(n, keys)
    records = [(f"bench/{e.device_id}".encode(), e.to_bytes()) for e in events]
    result = CaseResult(preset, keys, n, {c: [] for c in contenders})
    reference: dict[str, Answer] | None = None
    for r in range(rounds):
        for contender in contenders if r % 2 == 0 else list(reversed(contenders)):
            if contender == "river":
                measure, answers = bare_river(events, preset)
            elif contender in PEER_GUARANTEE:
                measure, answers = bench.measure(bench.quix_setup(preset, PEER_GUARANTEE[contender]), records)
            else:
                setup = bench.driftline_setup(preset, exactly_once=contender.endswith("exactly-once"))
                measure, answers = bench.measure(setup, records)
            result.runs[contender].append(measure)
            if reference is None:
                reference = answers
            else:
                differing = sum(answers.get(k) != v for k, v in reference.items())
                result.differing[contender] = max(result.differing.get(contender, 0), differing)
                result.identical = result.identical and differing == 0
            advance()
    return result
