"""`driftline bench throughput`: the trainer against its limit (bare River) and a peer (Quix Streams + River).

On one local broker and the same pre-filled events, per case (model preset and number of model
keys), contenders alternate round by round:

- ``river``: bare River in this process, predict_proba_one, predict_one, learn_one per event;
- ``driftline exactly-once`` and ``driftline at-least-once``: a `driftline trainer` process from
  the events topic to committed outcomes, with and without transactions and checkpoints;
- ``quix``: :mod:`driftline.bench.peer_quix` in a venv of its own (installed on first use).

Each contender process first answers a warm-up event (start-up, imports and the group join stay
out of the figures); then the events are produced to its topic, and the window runs from the
first event produced to its last output read back, committed. CPU is the process's own over that
window (from /proc).
Every contender's predictions and probabilities are compared event by event.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition
from river import datasets

from driftline.config import settings_from_dict
from driftline.contracts import SensorEvent
from driftline.kafkaio.broker import LocalBroker
from driftline.kafkaio.clients import deliver, end_offset, make_consumer, make_producer
from driftline.kafkaio.topics import ensure_topics
from driftline.modelspec import build_model
from driftline.processes import free_port

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PEER = Path(__file__).with_name("peer_quix.py")
PEER_VENV = Path.home() / ".cache" / "driftline" / "quix-venv"
PEER_REQUIREMENTS = ("quixstreams==3.28.1", "river==0.26.1")
#: The event each contender process answers before it is timed (a model key of its own).
WARM_UP = "warm/w0"
CONTENDERS = ("river", "driftline exactly-once", "driftline at-least-once", "quix")
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


def phishing_events(n: int, keys: int) -> list[SensorEvent]:
    rows = list(datasets.Phishing())
    return [
        SensorEvent(
            event_id=f"e{i}",
            device_id=f"d{i % keys}",
            stream="bench",
            ts=T0 + timedelta(milliseconds=i),
            features=rows[i % len(rows)][0],
            label=rows[i % len(rows)][1],
        )
        for i in range(n)
    ]


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


def measure_process(
    argv: list[str],
    env: dict[str, str],
    bootstrap: str,
    outputs: str,
    feed: Callable[[], int],
    log: Path,
    timeout: float = 600,
) -> tuple[Measure, dict[str, Answer]]:
    """Start a contender, let it answer one warm-up event, then time it on what ``feed`` produces.

    The window runs from the first event fed to its last output read back, committed: start-up,
    imports and the group join stay out of it, Kafka round trips and commits are in it.
    """
    consumer = make_consumer(bootstrap, None)
    tp = TopicPartition(outputs, 0)
    tp.offset = end_offset(consumer, tp)
    consumer.assign([tp])
    answers: dict[str, Answer] = {}
    with log.open("ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout

    def read_until(done: Callable[[], bool]) -> None:
        while not done():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{argv[2:4]} gave {len(answers)} outputs; see {log}")
            for message in consumer.consume(5000, timeout=0.05):
                if message.error() is None:
                    key, value = outcome_answer(message.value())
                    answers[key] = value

    try:
        read_until(lambda: WARM_UP in answers)
        del answers[WARM_UP]
        wall, cpu = time.perf_counter(), process_cpu(process.pid)
        expected = feed()
        read_until(lambda: len(answers) >= expected)
        wall, cpu = time.perf_counter() - wall, process_cpu(process.pid) - cpu
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        consumer.close()
    return Measure(expected, wall, cpu), answers


def outcome_answer(value: bytes) -> tuple[str, Answer]:
    outcome = json.loads(value)
    return f"{outcome['device_id']}/{outcome['event_id']}", answer(outcome.get("prediction"), outcome.get("proba"))


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

    def topics(self, events: str) -> dict[str, Any]:
        run = f"run-{uuid.uuid4().hex[:8]}"
        return {
            "events": {"name": events, "partitions": 6},
            "labels": {"name": f"{events}.labels", "partitions": 6},
            **{r: {"name": f"{run}.{r}", "partitions": 1} for r in ("outcomes", "drift", "control", "deadletter")},
            "checkpoints": {"name": f"{run}.checkpoints", "partitions": 6},
        }

    def topic_with_warm_up(self) -> str:
        """A fresh events topic holding just the warm-up event."""
        topic = f"events-{uuid.uuid4().hex[:8]}"
        ensure_topics(self.bootstrap, settings_from_dict({"topics": self.topics(topic)}).topics)
        rows = list(datasets.Phishing())
        warm = SensorEvent(
            event_id="w0", device_id="warm", stream="bench", ts=T0, features=rows[0][0], label=rows[0][1]
        )
        deliver(make_producer(self.bootstrap), [(topic, b"bench/warm", warm.to_bytes())])
        return topic

    def feeder(self, topic: str, records: list[tuple[bytes, bytes]]) -> Callable[[], int]:
        def feed() -> int:
            deliver(make_producer(self.bootstrap), [(topic, k, v) for k, v in records], timeout=120)
            return len(records)

        return feed

    def driftline(self, records: list[tuple[bytes, bytes]], preset: str, exactly_once: bool) -> tuple[Measure, dict]:
        events_topic = self.topic_with_warm_up()
        topics = self.topics(events_topic)
        ensure_topics(self.bootstrap, settings_from_dict({"topics": topics}).topics)
        features = {name: {} for name in next(iter(datasets.Phishing()))[0]}
        folder = self.tmp / uuid.uuid4().hex[:8]
        folder.mkdir()
        env = {
            **os.environ,
            "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "DRIFTLINE_STATE_DIR": str(folder),
            "DRIFTLINE_TOPICS": json.dumps(topics),
            "DRIFTLINE_STREAMS": json.dumps(
                {"bench": {"task": "binary", "scope": "device", "model": preset, "features": features}}
            ),
            "DRIFTLINE_TRAINER__PORT": str(free_port()),
            "DRIFTLINE_TRAINER__SNAPSHOT_EVERY": "0",
            "DRIFTLINE_TRAINER__GROUP_ID": f"bench-{uuid.uuid4().hex[:8]}",
            "DRIFTLINE_TRAINER__EXACTLY_ONCE": str(exactly_once).lower(),
            "DRIFTLINE_TRAINER__CHECKPOINTS": str(exactly_once).lower(),
        }
        config = folder / "empty.toml"
        config.write_text("")
        argv = [sys.executable, "-m", "driftline.cli", "trainer", "-c", str(config)]
        feed = self.feeder(events_topic, records)
        return measure_process(argv, env, self.bootstrap, topics["outcomes"]["name"], feed, folder / "trainer.log")

    def quix(self, records: list[tuple[bytes, bytes]], preset: str) -> tuple[Measure, dict]:
        assert self.peer is not None
        events_topic = self.topic_with_warm_up()
        topics = self.topics(events_topic)
        outcomes = topics["outcomes"]["name"]
        ensure_topics(self.bootstrap, settings_from_dict({"topics": topics}).topics)
        folder = self.tmp / uuid.uuid4().hex[:8]
        folder.mkdir()
        env = {
            **os.environ,
            "DL_BOOTSTRAP": self.bootstrap,
            "DL_EVENTS": events_topic,
            "DL_OUTCOMES": outcomes,
            "DL_GROUP": f"quix-{uuid.uuid4().hex[:8]}",
            "DL_PRESET": preset,
            "DL_GUARANTEE": "exactly-once",
            "DL_STATE_DIR": str(folder / "state"),
        }
        argv = [str(self.peer), str(PEER), "quix"]
        feed = self.feeder(events_topic, records)
        return measure_process(argv, env, self.bootstrap, outcomes, feed, folder / "quix.log")


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
            elif contender == "quix":
                measure, answers = bench.quix(records, preset)
            else:
                measure, answers = bench.driftline(records, preset, contender.endswith("exactly-once"))
            result.runs[contender].append(measure)
            if reference is None:
                reference = answers
            else:
                differing = sum(answers.get(k) != v for k, v in reference.items())
                result.differing[contender] = max(result.differing.get(contender, 0), differing)
                result.identical = result.identical and differing == 0
            advance()
    return result


def report(results: list[CaseResult], command: str, out: Path) -> Path:
    """Write throughput.json, throughput.md and throughput.png into ``out``; returns the markdown file."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "throughput.json").write_text(
        json.dumps(
            [{**asdict(r), "runs": {c: [asdict(m) for m in ms] for c, ms in r.runs.items()}} for r in results], indent=1
        )
    )
    lines = [
        "# Trainer throughput: driftline against bare River and a Quix Streams peer",
        "",
        f"`{command}` on {platform.node() or 'this machine'} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}), {time.strftime('%Y-%m-%d')}. Phishing events, every one labelled: "
        "predict (probabilities and label), then learn. Each process answers a warm-up event first; the window "
        "runs from the first event produced to the last output read back, committed, and CPU is each "
        "process's own over it. Min / median over the rounds.",
        "",
        "| preset | keys | contender | events/s | events per CPU-second |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for r in results:
        for c in r.runs:
            lines.append(
                f"| {r.preset} | {r.keys} | {c} | {r.minimum(c, 'rate'):,.0f} / {r.median(c, 'rate'):,.0f} | "
                f"{r.minimum(c, 'per_cpu'):,.0f} / {r.median(c, 'per_cpu'):,.0f} |"
            )
    lines += ["", "| preset | keys | driftline / river (per CPU-s) | driftline / quix (events/s) | predictions |"]
    lines += ["| --- | ---: | ---: | ---: | --- |"]
    for r in results:
        d = "driftline exactly-once"
        vs_river = r.median(d, "per_cpu") / r.median("river", "per_cpu") if "river" in r.runs else float("nan")
        vs_quix = r.median(d, "rate") / r.median("quix", "rate") if "quix" in r.runs else float("nan")
        same = "identical" if r.identical else f"DIFFER: {r.differing}"
        lines.append(f"| {r.preset} | {r.keys} | {vs_river:.2f} | {vs_quix:.2f} | {same} |")
    lines.append("")
    chart = out / "throughput.png"
    _chart(results, chart)
    lines.append("![events per CPU-second by contender](throughput.png)")
    lines.append("")
    path = out / "throughput.md"
    path.write_text("\n".join(lines))
    return path


def _chart(results: list[CaseResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [f"{r.preset}\n{r.keys} key{'s' if r.keys > 1 else ''}" for r in results]
    contenders = list(results[0].runs)
    fig, ax = plt.subplots(figsize=(2 + 2.2 * len(cases), 4.5))
    width = 0.8 / len(contenders)
    for i, contender in enumerate(contenders):
        values = [r.median(contender, "per_cpu") for r in results]
        positions = [j + (i - (len(contenders) - 1) / 2) * width for j in range(len(cases))]
        ax.bar(positions, values, width, label=contender)
    ax.set_xticks(range(len(cases)), cases)
    ax.set_ylabel("events per CPU-second (median)")
    ax.set_title("predict-then-learn throughput, per process CPU")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(
    events: int,
    rounds: int,
    presets: list[str],
    keys: list[int],
    peer: bool,
    out: Path,
    command: str,
    say: Callable[[str], None],
    progress: Callable[[int], Callable[[], None]],
) -> Path:
    contenders = [c for c in CONTENDERS if peer or c != "quix"]
    python = peer_python(say) if peer else None
    with tempfile.TemporaryDirectory() as tmp, LocalBroker(data_dir=Path(tmp) / "kafka") as broker:
        bench = Bench(broker.bootstrap_servers, Path(tmp), python)
        advance = progress(len(presets) * len(keys) * rounds * len(contenders))
        results = [run_case(bench, preset, k, events, rounds, contenders, advance) for preset in presets for k in keys]
    return report(results, command, out)
