"""End-to-end latency at a steady load: event time to the outcome, and its curve against the commit interval.

A paced producer sends events at a fixed rate, each stamped with the wall-clock time it is
produced; the benchmark reads the contender's outputs as they are committed. Per event it takes
two latencies: to the outcome *read back* (committed, what any reader sees; the benchmark's own
reading adds a few milliseconds) and to the outcome's *append* time on the broker (the outputs
topic of a run stamps records with LogAppendTime). Without transactions the two agree but for the
reading; with them an outcome is appended when produced and readable only at its transaction's
commit, so only the first is the latency a reader gets. Same events and broker for every contender.

:func:`curve` (`driftline bench latency`) runs the trainer at each commit interval, both
guarantees: its maximum events/s on a pre-filled topic, then both latencies at one paced rate, each
over rounds with the configurations alternating (on a shared machine one round can meet a burst of
someone else's work: the medians of the rounds are reported, and each round's p99).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
from river import datasets

from driftline.contracts import SensorEvent
from driftline.kafkaio.clients import make_producer
from driftline.kafkaio.topics import admin_client
from driftline_lab.throughput import (
    WARM_UP,
    Bench,
    Measure,
    Outputs,
    Process,
    Setup,
    bench_on,
    kafka_named,
    phishing_events,
)

GUARANTEES = ("exactly-once", "at-least-once")


@dataclass
class Latency:
    contender: str
    rate: float
    events: int
    #: To the outcome read back, committed.
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    #: To the outcome's append time on the broker (before its transaction's commit, with one).
    appended_p50_ms: float = math.nan
    appended_p99_ms: float = math.nan
    appended_max_ms: float = math.nan


def percentiles(waits: list[float]) -> tuple[float, float, float, float]:
    """p50, p95, p99 and max of ``waits``."""
    waits = sorted(waits)
    cuts = statistics.quantiles(waits, n=100, method="inclusive") if len(waits) > 1 else waits * 99
    return cuts[49], cuts[94], cuts[98], waits[-1]


def stamp_on_append(bootstrap: str, topic: str) -> None:
    """Have the broker stamp ``topic``'s records with their append time (a run's own outputs topic)."""
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin = admin_client(bootstrap)  # kept until the answer came: a client dropped cancels its requests
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)


def paced(bench: Bench, setup: Setup, contender: str, rate: float, seconds: float, keys: int) -> Latency:
    """Run one contender at ``rate`` events/s for ``seconds``; percentiles of its end-to-end latency."""
    rows = list(datasets.Phishing())
    stamp_on_append(bench.bootstrap, setup.outputs)
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
    p50, p95, p99, top = percentiles([(reader.arrived[key] - at) * 1000 for key, at in sent.items()])
    a50, _, a99, atop = percentiles([(reader.appended[key] - at) * 1000 for key, at in sent.items()])
    return Latency(contender, rate, len(sent), p50, p95, p99, top, a50, a99, atop)


# The curve: commit interval against throughput and latency, both guarantees


@dataclass
class Plan:
    """What `driftline bench latency` measures; :meth:`quick` is a smoke run."""

    intervals: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.25, 0.5, 1.0])
    guarantees: list[str] = field(default_factory=lambda: list(GUARANTEES))
    preset: str = "logistic"
    keys: int = 100
    #: Events per maximum-throughput run.
    events: int = 20_000
    #: Rounds of each measurement, maximum and paced, configurations alternating.
    rounds: int = 2
    #: Paced rate; None: half the maximum of the slowest configuration.
    rate: float | None = None
    #: Per paced run: longer than the trainer's 30 s checkpoint interval, so every run holds a checkpoint.
    seconds: float = 35.0
    #: Kafka to run on; None: a local broker of the run's own.
    bootstrap: str | None = None

    @classmethod
    def quick(cls) -> Plan:
        return cls([0.1], list(GUARANTEES), events=1000, rounds=1, seconds=3.0)


@dataclass
class Point:
    guarantee: str
    interval_s: float
    runs: list[Measure] = field(default_factory=list)
    latencies: list[Latency] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.guarantee}, commit every {self.interval_s:g} s"

    @property
    def rate(self) -> float:
        return statistics.median(m.rate for m in self.runs)

    def latency(self, what: str) -> float:
        """The median over the rounds of one figure of :class:`Latency` (``p99_ms``, ...)."""
        return statistics.median(getattr(x, what) for x in self.latencies)


def setup_for(bench: Bench, plan: Plan, guarantee: str, interval: float) -> Setup:
    """A trainer at ``interval`` with ``guarantee``, checkpoints on either way (as a user's defaults have them)."""
    setup = bench.driftline_setup(plan.preset, exactly_once=guarantee == "exactly-once", checkpoints=True)
    setup.env["DRIFTLINE_TRAINER__COMMIT_INTERVAL_S"] = str(interval)
    return setup


def curve(bench: Bench, plan: Plan, advance: Callable[[], None]) -> tuple[list[Point], float]:
    """Each configuration's maximum events/s, then its latency at one paced rate (returned too)."""
    points = [Point(g, i) for g in plan.guarantees for i in plan.intervals]
    events = phishing_events(plan.events, plan.keys)
    records = [(f"bench/{e.device_id}".encode(), e.to_bytes()) for e in events]
    for r in range(plan.rounds):
        for point in points if r % 2 == 0 else list(reversed(points)):
            measure, _ = bench.measure(setup_for(bench, plan, point.guarantee, point.interval_s), records)
            point.runs.append(measure)
            advance()
    rate = plan.rate or round(min(p.rate for p in points) / 2)
    for r in range(plan.rounds):
        for point in points if r % 2 == 0 else list(reversed(points)):
            setup = setup_for(bench, plan, point.guarantee, point.interval_s)
            point.latencies.append(paced(bench, setup, point.name, rate, plan.seconds, plan.keys))
            advance()
    return points, rate


def run(plan: Plan, out: Path, command: str, say: Callable[[str], None], progress) -> Path:
    with tempfile.TemporaryDirectory() as tmp, bench_on(plan.bootstrap, Path(tmp)) as bench:
        advance = progress(len(plan.intervals) * len(plan.guarantees) * plan.rounds * 2)
        points, rate = curve(bench, plan, advance)
    return report(plan, points, rate, command, out)


def report(plan: Plan, points: list[Point], rate: float, command: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "command": command,
        "plan": asdict(plan),
        "rate": rate,
        "points": [{**asdict(p), "median_rate": p.rate, "median_p99_ms": p.latency("p99_ms")} for p in points],
    }
    (out / "latency.json").write_text(json.dumps(data, indent=1))
    lines = [
        "# Latency against the commit interval",
        "",
        f"`{command}` on {platform.node() or 'this machine'} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}), {time.strftime('%Y-%m-%d')}. {kafka_named(plan.bootstrap)}, the trainer "
        "and the benchmark share the machine, so the figures move from run to run. `driftline trainer`, "
        f"`{plan.preset}`, {plan.keys} model keys over 6 partitions, checkpoints on, every other setting at its "
        "default; `trainer.commit_interval_s` and `trainer.exactly_once` as in each row.",
        "",
        f"- **events/s**: the maximum, on {plan.events:,} events pre-filled (min / median of {plan.rounds} "
        "round(s), configurations alternating).",
        f"- **Latency** at {rate:,.0f} events/s ({'as asked' if plan.rate else 'half the slowest maximum'}), "
        f"{plan.seconds:g} s per run (every run holds the trainer's checkpoints), every event: from its send time "
        "to the outcome **read back**, committed (what a reader sees), and to its **append** on the broker. "
        f"Medians of {plan.rounds} round(s), and each round's p99.",
        "  With exactly-once an outcome is appended when produced but readable only at the commit.",
        "",
        "| guarantee | commit interval | events/s | read back p50 / p99 / max | p99 by round "
        "| append p50 / p99 / max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in points:
        rates = f"{min(m.rate for m in p.runs):,.0f} / {p.rate:,.0f}"
        read = " / ".join(f"{p.latency(f):,.0f}" for f in ("p50_ms", "p99_ms", "max_ms"))
        rounds = ", ".join(f"{x.p99_ms:,.0f}" for x in p.latencies)
        appended = " / ".join(f"{p.latency(f):,.0f}" for f in ("appended_p50_ms", "appended_p99_ms", "appended_max_ms"))
        lines.append(f"| {p.guarantee} | {p.interval_s:g} s | {rates} | {read} ms | {rounds} | {appended} ms |")
    lines += ["", "![latency and events/s against the commit interval](latency.png)", ""]
    _chart(points, out / "latency.png")
    path = out / "latency.md"
    path.write_text("\n".join(lines))
    return path


def _chart(points: list[Point], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for guarantee in dict.fromkeys(p.guarantee for p in points):
        ours = [p for p in points if p.guarantee == guarantee]
        xs = [p.interval_s * 1000 for p in ours]
        (line,) = left.plot(xs, [p.latency("p99_ms") for p in ours], marker="o", label=f"{guarantee} p99")
        p50 = [p.latency("p50_ms") for p in ours]
        left.plot(xs, p50, marker=".", ls="--", color=line.get_color(), label=f"{guarantee} p50")
        right.plot(xs, [p.rate for p in ours], marker="o", color=line.get_color(), label=guarantee)
    left.set_yscale("log")
    left.set_xlabel("commit interval (ms)")
    left.set_ylabel("latency, read back (ms)")
    left.set_title("latency at the paced rate")
    left.legend(fontsize=8)
    right.set_xlabel("commit interval (ms)")
    right.set_ylabel("events/s (median)")
    right.set_title("maximum throughput")
    right.set_ylim(bottom=0)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
