"""`driftline bench soak`: the services for minutes at half their measured throughput, memory sampled.

One local broker and the real services as processes, as `driftline stack` runs them: the
collector, the trainer, the monitor and the archiver, on the shipped configuration
(config/driftline.toml: the rooms and machines streams, challengers, hold-out, drift detectors).
The simulated fleet of `driftline stack` posts to the collector's HTTP ingest, each device with
its own token, as devices do: events with their labels, a fifth of the labels late (LabelEvents),
duplicates, out-of-order events and sensor faults.

The rate is measured in the same run, not taken from ``throughput.json``: the trainer's throughput
depends on the streams' models and on everything sharing the machine (collector, monitor,
archiver, broker and the load itself), and throughput.json measures another setup. The fleet's
first events are posted as fast as the collector takes them, and the capacity is their number
over the time from the first post to the trainer's commit of the last; the rest of the same fleet
then follows at half that, for the whole run.

Every few seconds each service's resident memory and CPU (its process and any children, from
/proc) and each consumer group's lag are sampled. After a warm-up (the first minute) the trend
is judged: the median of the first minute of the steady phase against the median of its last
minute, and a least-squares line over the steady phase extrapolated over it; flat means both
within 10%. The services must also keep up (lag at the end of the feed), account for every
event (collector -> trainer -> monitor, and the lake), and stay alive.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

from driftline import assets
from driftline.collector.client import CollectorError
from driftline.collector.simulator.generator import Emission, SimOptions, Simulation
from driftline.collector.simulator.run import http_sink, interleave, paced
from driftline.collector.simulator.scenarios import SCENARIOS
from driftline.config import load_settings
from driftline.config.settings import Settings
from driftline.httpserver import exposed_total
from driftline.kafkaio.broker import LocalBroker
from driftline.kafkaio.lags import GroupLags
from driftline.kafkaio.topics import ensure_topics
from driftline.processes import ManagedProcess, free_port, http_ok, tail, wait_until
from driftline.rules import metric_names as names
from driftline.stack import device_tokens
from driftline_lab.scaling import wait_for_group
from driftline_lab.throughput import process_cpu, process_rss_mb

CONFIG = assets.path("driftline.toml")  # the starter config, as shipped
SERVICES = ("collector", "trainer", "monitor", "archiver")
#: The archiver's consumer group (driftline.collector.archiver.Archiver's default).
LAKE_GROUP = "driftline-lake"
FLAT_PCT = 10.0
#: How often each simulated device posts its readings during the soak.
TICK_S = 0.5
#: Kept up: at the end of the feed, a consumer is at most this many seconds of events behind.
KEPT_UP_S = 5.0


@dataclass
class Plan:
    """What one soak does; :meth:`quick` is the smoke run CI makes."""

    minutes: float = 10.0
    """The feed at the soak rate, warm-up included."""
    rate: float | None = None
    """Events per second; None: half the capacity measured at the start."""
    warm_up_s: float = 60.0
    window_s: float = 60.0
    """The steady phase's first and last windows whose medians are compared."""
    sample_s: float = 5.0
    capacity_events: int = 30_000
    devices: int = 4
    lake_batch_s: float | None = None
    """The archiver's seconds per Parquet file; None: the shipped 30 s (the quick run's drain waits less)."""
    """Simulated devices per scenario (rooms, machines)."""

    @classmethod
    def quick(cls) -> Plan:
        return cls(minutes=0.25, warm_up_s=4.0, window_s=4.0, sample_s=1.0, capacity_events=2_000, lake_batch_s=5.0)

    @property
    def seconds(self) -> float:
        return self.minutes * 60


@dataclass
class Sample:
    t: float
    """Seconds since the soak feed began."""
    rss_mb: dict[str, float]
    cpu_s: dict[str, float]
    lag: dict[str, int]
    events: int
    """Events posted so far (the soak feed's)."""


@dataclass
class Trend:
    """One service's memory over the steady phase."""

    service: str
    samples: int
    start_mb: float
    """Median of the steady phase's first window."""
    end_mb: float
    """Median of its last window."""
    min_mb: float
    median_mb: float
    max_mb: float
    change_pct: float
    """End against start."""
    slope_mb_per_min: float
    fitted_pct: float
    """The least-squares line's rise over the steady phase, against start."""
    cpu_pct: float
    """Mean CPU over the steady phase, percent of one core."""
    alive: bool

    @property
    def flat(self) -> bool:
        return self.alive and abs(self.change_pct) <= FLAT_PCT and abs(self.fitted_pct) <= FLAT_PCT


@dataclass
class Sent:
    """What the fleet posted, and what the collector rejected (dead-lettered)."""

    events: int = 0
    labels: int = 0
    duplicates: int = 0
    rejected: int = 0
    error: str | None = None

    def add(self, chunk: list[Emission], rejected: int) -> None:
        labels = sum(e.is_label for e in chunk)
        self.labels += labels
        self.events += len(chunk) - labels
        self.duplicates += sum(e.duplicate for e in chunk)
        self.rejected += rejected


@dataclass
class Result:
    plan: Plan
    capacity: float
    """Events/s the trainer drained the opening burst at; NaN with --rate."""
    rate: float
    """The soak's target events/s."""
    achieved: float
    """Events/s the fleet posted during the soak."""
    samples: list[Sample]
    trends: list[Trend]
    broker: Trend | None
    lag_at_end: dict[str, int]
    drained_s: float | None
    """From the end of the feed until every group caught up; None: they did not within the timeout."""
    sent: Sent
    counts: dict[str, float]
    lake_behind: float
    """The archiver commits once per Parquet file: up to a batch of events, or a batch interval's, behind."""
    died: dict[str, str] = field(default_factory=dict)


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (a collector with several workers is several processes)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return pids


def tree_usage(pid: int) -> tuple[float, float]:
    """(RSS MB, CPU seconds) of a process and its descendants; what vanished meanwhile counts nothing."""
    rss = cpu = 0.0
    for p in tree_pids(pid):
        try:
            rss += process_rss_mb(p)
            cpu += process_cpu(p)
        except (OSError, IndexError):
            pass
    return rss, cpu


def broker_pid() -> int | None:
    """The Kafka JVM among this process's descendants."""
    for p in tree_pids(os.getpid()):
        try:
            if b"kafka.Kafka" in Path(f"/proc/{p}/cmdline").read_bytes():
                return p
        except OSError:
            pass
    return None


class Stack:
    """The four services as processes on one broker, each logging under ``state/logs``."""

    def __init__(self, settings: Settings, bootstrap: str, state: Path, tokens: dict[str, str]) -> None:
        from driftline.collector.auth import hash_token

        self.settings, self.bootstrap, self.state, self.tokens = settings, bootstrap, state, tokens
        self.ports = {name: free_port() for name in ("collector", "trainer", "monitor")}
        while len(set(self.ports.values())) < len(self.ports):  # free now is not free later
            self.ports = {name: free_port() for name in self.ports}
        devices = {device: {"token_sha256": hash_token(token)} for device, token in tokens.items()}
        self.env = {
            **os.environ,
            "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "DRIFTLINE_STATE_DIR": str(state),
            "DRIFTLINE_DEVICES": json.dumps(devices),
            **{f"DRIFTLINE_{name.upper()}__PORT": str(port) for name, port in self.ports.items()},
        }
        self.processes: dict[str, ManagedProcess] = {}

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self) -> Stack:
        ensure_topics(self.bootstrap, self.settings.topics)
        for name in ("monitor", "trainer", "collector", "archiver"):
            command = "archive" if name == "archiver" else name
            argv = [sys.executable, "-m", "driftline.cli", command, "--config", str(CONFIG)]
            # The archiver serves no HTTP: it is up once its group has joined (waited for below).
            ready = (lambda: True) if name == "archiver" else (lambda u=self.url(name): http_ok(f"{u}/healthz"))
            process = ManagedProcess(name, argv, self.state / "logs" / f"{name}.log", ready, env=self.env)
            self.processes[name] = process.start(120)
        return self

    def dead(self) -> dict[str, str]:
        """The services that stopped, with the end of their logs."""
        return {n: tail(p.log_file, 5) for n, p in self.processes.items() if not p.running}

    def metric(self, service: str, sample: str, **labels: str) -> float:
        return exposed_total(httpx.get(f"{self.url(service)}/metrics", timeout=10).text, sample, **labels)

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.processes.pop(name).stop()


def fleet(events: int, devices: int, prefix: str = "", after: float = 0.0) -> Iterator[Emission]:
    """The simulated fleet of `driftline stack`, ``events`` per stream; event ids prefixed, time shifted by ``after``.

    The soak's fleet follows the burst's: its own ids (the trainer would drop reused ones as
    duplicates) and later event times (earlier ones would count as late). Sized to the run, so
    every kind of scheduled drift happens during it.
    """
    options = SimOptions(devices=devices, events=events, start=SimOptions().start + timedelta(seconds=after))
    emissions = interleave([Simulation(SCENARIOS[name], options) for name in SCENARIOS])
    if not prefix:
        return emissions
    return (Emission(e.message.model_copy(update={"event_id": prefix + e.message.event_id}), e.seq, e.duplicate)
            for e in emissions)  # fmt: skip


def measure_capacity(stack: Stack, lags: GroupLags, plan: Plan) -> tuple[float, Sent]:
    """Post a burst of the fleet as fast as the collector takes it; events/s until the trainer committed all."""
    sink = http_sink(stack.url("collector"), stack.tokens)
    group = stack.settings.trainer.group_id
    began = time.monotonic()
    burst = Sent()
    for chunk in paced(fleet(plan.capacity_events // len(SCENARIOS), plan.devices), None, 500):
        burst.add(chunk, sink(chunk))
    if wait_until(lambda: lags.lag(group) == 0 or bool(stack.dead()), 600, 0.2) is None:
        raise RuntimeError(f"the trainer did not drain {plan.capacity_events} events in 600 s; see the logs")
    return burst.events / (time.monotonic() - began), burst


class Sampler(threading.Thread):
    """Samples every service's memory and CPU and every group's lag, every ``every`` seconds, until stopped."""

    def __init__(self, stack: Stack, lags: GroupLags, every: float, posted: Callable[[], int]) -> None:
        super().__init__(daemon=True)
        self.stack, self.lags, self.every, self.posted = stack, lags, every, posted
        self.broker = broker_pid()
        self.samples: list[Sample] = []
        self.halt = threading.Event()
        self.began = time.monotonic()
        self.error: BaseException | None = None

    def sample(self) -> None:
        pids = {n: p.pid for n, p in self.stack.processes.items() if p.running and p.pid}
        if self.broker:
            pids["kafka"] = self.broker
        usage = {n: tree_usage(pid) for n, pid in pids.items()}
        t = time.monotonic() - self.began
        self.samples.append(
            Sample(t, {n: u[0] for n, u in usage.items()}, {n: u[1] for n, u in usage.items()}, self.lags.all(),
                   self.posted())
        )  # fmt: skip

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                started = time.monotonic()
                self.sample()
                self.halt.wait(max(0.0, self.every - (time.monotonic() - started)))
        except BaseException as e:  # reported by the run, not lost in a thread
            self.error = e


def trend(service: str, samples: list[Sample], plan: Plan, alive: bool) -> Trend | None:
    steady = [s for s in samples if s.t >= plan.warm_up_s and service in s.rss_mb]
    if len(steady) < 3:
        return None
    t = [s.t for s in steady]
    rss = [s.rss_mb[service] for s in steady]
    first = [r for s, r in zip(steady, rss, strict=True) if s.t <= t[0] + plan.window_s]
    last = [r for s, r in zip(steady, rss, strict=True) if s.t >= t[-1] - plan.window_s]
    start, end = statistics.median(first), statistics.median(last)
    slope = statistics.linear_regression(t, rss).slope
    span = t[-1] - t[0]
    cpu = (steady[-1].cpu_s[service] - steady[0].cpu_s[service]) / span * 100 if span > 0 else 0.0
    return Trend(
        service, len(steady), start, end, min(rss), statistics.median(rss), max(rss), (end - start) / start * 100,
        slope * 60, slope * span / start * 100, cpu, alive,
    )  # fmt: skip


def run(plan: Plan, out: Path, command: str, say: Callable[[str], None], progress) -> Path:
    settings = load_settings(CONFIG)
    tokens = device_tokens(tuple(SCENARIOS), plan.devices)
    advance = progress(int(plan.seconds) + 3)
    with tempfile.TemporaryDirectory() as tmp, LocalBroker(data_dir=Path(tmp) / "kafka") as broker:
        stack = Stack(settings, broker.bootstrap_servers, Path(tmp) / "state", tokens)
        if plan.lake_batch_s is not None:
            stack.env["DRIFTLINE_COLLECTOR__LAKE_BATCH_SECONDS"] = str(plan.lake_batch_s)
        topics = settings.topics
        lags = GroupLags(
            broker.bootstrap_servers,
            {settings.trainer.group_id: [topics.events, topics.labels], settings.monitor.group_id: [topics.outcomes],
             LAKE_GROUP: [topics.events]},
            {topics.outcomes.name},  # the trainer's exactly-once transactions
        )  # fmt: skip
        try:
            stack.start()
            for group in lags.groups:
                wait_for_group(broker.bootstrap_servers, group, 1, [])
            advance()
            result = soak(plan, stack, lags, say, advance)
        finally:
            lags.close()
            stack.stop()
    return report(result, command, out)


def soak(plan: Plan, stack: Stack, lags: GroupLags, say: Callable[[str], None], advance: Callable[[], None]) -> Result:
    late = SimOptions().late_label_fraction
    sent = Sent()
    capacity = float("nan")
    if plan.rate is None:
        capacity, sent = measure_capacity(stack, lags, plan)
        rate = capacity / 2
        say(f"trainer capacity {capacity:,.0f} events/s with the services running; soaking at {rate:,.0f}")
    else:
        rate = plan.rate
    per_stream = int(rate * plan.seconds * 1.1 / len(SCENARIOS)) + 100  # a margin: the feed stops on time
    after = plan.capacity_events * SimOptions().interval_s + 3600
    advance()
    soak_sent = Sent()
    sampler = Sampler(stack, lags, plan.sample_s, lambda: soak_sent.events)
    sink = http_sink(stack.url("collector"), stack.tokens)
    sampler.start()
    ticks = 0
    # Items, not events, are paced: a late label is a request of its own.
    # Each device posts what it has every TICK_S, as a fleet batching its readings would: a request per
    # device, stream and kind per tick keeps the load generator's own CPU small beside the services'.
    items = fleet(per_stream, plan.devices, "soak-", after)
    ticks_of_items = iter(lambda: list(itertools.islice(items, max(1, round(rate * (1 + late) * TICK_S)))), [])
    for [chunk] in paced(ticks_of_items, 1 / TICK_S, 1):
        try:
            soak_sent.add(chunk, sink(chunk))
        except CollectorError as e:
            soak_sent.error = str(e)
            break
        elapsed = time.monotonic() - sampler.began
        while ticks < min(int(elapsed), int(plan.seconds)):
            ticks += 1
            advance()
        if elapsed >= plan.seconds or stack.dead() or sampler.error:
            break
    fed_s = time.monotonic() - sampler.began
    sampler.halt.set()
    sampler.join()
    if sampler.error:
        raise sampler.error
    sampler.sample()  # the end of the feed, before any catching up
    end = sampler.samples.pop()
    died = stack.dead()
    drained = None if died else wait_until(lags.caught_up, 120, 1.0)
    while ticks < int(plan.seconds) + 1:
        ticks += 1
        advance()
    for name in ("events", "labels", "duplicates", "rejected"):
        setattr(sent, name, getattr(sent, name) + getattr(soak_sent, name))
    sent.error = soak_sent.error
    counts = {} if died else final_counts(stack)
    lake = stack.settings.collector
    lake_behind = lake.lake_batch_events + (plan.lake_batch_s or lake.lake_batch_seconds) * rate
    alive = {name: name not in died for name in SERVICES}
    trends = [x for name in SERVICES if (x := trend(name, sampler.samples, plan, alive[name]))]
    return Result(
        plan, capacity, rate, soak_sent.events / fed_s, sampler.samples, trends,
        trend("kafka", sampler.samples, plan, True), end.lag, drained, sent, counts, lake_behind, died,
    )  # fmt: skip


def final_counts(stack: Stack) -> dict[str, float]:
    """What each service accounted for, after every group caught up."""
    import pyarrow.parquet as pq

    lake = stack.settings.collector.lake_dir or stack.state / "lake"
    return {
        "collector accepted (events and labels)": stack.metric("collector", names.COLLECTOR_EVENTS_ACCEPTED),
        "trainer consumed events": stack.metric("trainer", names.TRAINER_EVENTS_CONSUMED),
        "trainer predicted (outcomes)": stack.metric("trainer", names.TRAINER_PREDICTIONS),
        "trainer dropped: duplicate": stack.metric("trainer", names.TRAINER_EVENTS_DROPPED, reason="duplicate"),
        "trainer dropped: other": stack.metric("trainer", names.TRAINER_EVENTS_DROPPED)
        - stack.metric("trainer", names.TRAINER_EVENTS_DROPPED, reason="duplicate"),
        "trainer labels joined": stack.metric("trainer", names.TRAINER_LABELS_JOINED),
        "monitor predictions": stack.metric("monitor", names.PREDICTIONS),
        # Events only: the late labels have a table of their own (lake.LABELS_DIR).
        "events in the lake": float(sum(pq.read_metadata(f).num_rows for f in lake.glob("stream=*/date=*/*.parquet"))),
    }


def targets(result: Result) -> list[tuple[str, str, bool]]:
    """(target, measured, met): the soak item of the robustness issue, and what a fair soak presupposes."""
    rows = [
        (f"{x.service}: RSS flat within {FLAT_PCT:.0f}% (end vs start; fitted rise)",
         f"{x.change_pct:+.1f}%; {x.fitted_pct:+.1f}%", x.flat)
        for x in result.trends
    ]  # fmt: skip
    missing = [name for name in SERVICES if name not in {x.service for x in result.trends}]
    rows += [(f"{name}: RSS sampled through the run", "no samples", False) for name in missing]
    rows.append(("no service died", ", ".join(result.died) or "none died", not result.died))
    rows.append(("the fleet's requests all answered", result.sent.error or "all", result.sent.error is None))
    rows.append(
        (f"the soak rate reached (within 5% of {result.rate:,.0f} events/s)", f"{result.achieved:,.0f} events/s",
         result.achieved >= 0.95 * result.rate)
    )  # fmt: skip
    for group, lag in result.lag_at_end.items():
        if group == LAKE_GROUP:
            bound, words = result.lake_behind, "one Parquet batch of events"
        else:
            bound, words = KEPT_UP_S * result.rate, f"{KEPT_UP_S:.0f} s of events"
        rows.append((f"{group} kept up: lag at the end of the feed <= {words}", f"{lag:,}", lag <= bound))
    c = result.counts
    if c:
        posted = result.sent.events + result.sent.labels - result.sent.rejected
        accepted, consumed = c["collector accepted (events and labels)"], c["trainer consumed events"]
        predicted = c["trainer predicted (outcomes)"]
        accounted = predicted + c["trainer dropped: duplicate"] + c["trainer dropped: other"]
        rows += [
            ("the collector accepted every item posted, but the rejected", f"{accepted:,.0f} of {posted:,}",
             accepted == posted),
            ("the lake holds every event of the events topic", f"{c['events in the lake']:,.0f} of {consumed:,.0f}",
             c["events in the lake"] == consumed),
            ("the trainer accounted for every event (an outcome or a drop)", f"{accounted:,.0f} of {consumed:,.0f}",
             accounted == consumed),
            ("the monitor counted every outcome", f"{c['monitor predictions']:,.0f} of {predicted:,.0f}",
             c["monitor predictions"] == predicted),
        ]  # fmt: skip
    return rows


def report(result: Result, command: str, out: Path) -> Path:
    """Write soak.json, soak.md and soak.png into ``out``; returns the markdown file."""
    out.mkdir(parents=True, exist_ok=True)
    rows = targets(result)
    data = {
        "command": command,
        "plan": asdict(result.plan),
        "capacity": result.capacity,
        "rate": result.rate,
        "achieved": result.achieved,
        "trends": [{**asdict(x), "flat": x.flat} for x in result.trends],
        "broker": asdict(result.broker) if result.broker else None,
        "lag_at_end": result.lag_at_end,
        "drained_s": result.drained_s,
        "sent": asdict(result.sent),
        "counts": result.counts,
        "died": result.died,
        "samples": [asdict(s) for s in result.samples],
        "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in rows],
    }
    (out / "soak.json").write_text(json.dumps(data, indent=1))
    plan = result.plan
    how = (
        f"half the trainer's capacity measured at the start ({result.capacity:,.0f} events/s: the fleet's first "
        f"{plan.capacity_events:,} events posted at once, until the trainer committed the last)"
        if result.capacity == result.capacity
        else "the rate given"
    )
    lines = [
        "# Soak: the services at half their throughput, memory sampled",
        "",
        f"`{command}` on {platform.node() or 'this machine'} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}), {time.strftime('%Y-%m-%d')}. One local Kafka broker and the real "
        "services as processes (collector, trainer, monitor, archiver) on config/driftline.toml; the simulated "
        f"fleet of `driftline stack` ({plan.devices} devices per stream, rooms and machines) posts events and late "
        f"labels to the collector over HTTP at {result.rate:,.0f} events/s, {how}, for {plan.minutes:g} minutes "
        f"(achieved {result.achieved:,.0f} events/s). Every {plan.sample_s:g} s each service's resident memory and "
        f"CPU (its process and children, from /proc) and each consumer group's lag. The steady phase follows a "
        f"{plan.warm_up_s:g} s warm-up; start and end are the medians of its first and last {plan.window_s:g} s; "
        "the fitted rise is a least-squares line over the steady phase, extrapolated over it.",
        "",
        "| service | start | end | end vs start | min / median / max | fitted slope | fitted rise | CPU | flat |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for x in [*result.trends, *([result.broker] if result.broker else [])]:
        verdict = ("yes" if x.flat else "**no**") if x.service != "kafka" else "(not judged: the broker, a JVM)"
        lines.append(
            f"| {x.service} | {x.start_mb:.0f} MB | {x.end_mb:.0f} MB | {x.change_pct:+.1f}% | "
            f"{x.min_mb:.0f} / {x.median_mb:.0f} / {x.max_mb:.0f} MB | {x.slope_mb_per_min:+.2f} MB/min | "
            f"{x.fitted_pct:+.1f}% | {x.cpu_pct:.0f}% | {verdict} |"
        )
    lines += ["", "![resident memory of each service over the soak](soak.png)", ""]
    s = result.sent
    drained = f"{result.drained_s:.1f} s" if result.drained_s is not None else "not within 120 s"
    lines += [
        "## Kept up and accounted for",
        "",
        f"Posted by the fleet (the burst included): {s.events:,} events ({s.duplicates:,} of them duplicates) and "
        f"{s.labels:,} late labels; {s.rejected:,} rejected by the collector. Lag at the end of the feed: "
        + ", ".join(f"{g} {lag:,}" for g, lag in result.lag_at_end.items())
        + f" records; every group caught up {drained} later.",
        "",
    ]
    if result.counts:
        lines += ["| count | value |", "| --- | ---: |"]
        lines += [f"| {k} | {v:,.0f} |" for k, v in result.counts.items()]
        lines.append("")
    for name, words in result.died.items():
        lines += [f"**{name} died**; its log ends with:", "", "```", words, "```", ""]
    lines += ["## Targets", "", "| target | measured | met |", "| --- | ---: | --- |"]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in rows]
    lines.append("")
    _chart(result, out / "soak.png")
    path = out / "soak.md"
    path.write_text("\n".join(lines))
    return path


def _chart(result: Result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (memory, lag) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    minutes = [s.t / 60 for s in result.samples]
    for name in [*SERVICES, "kafka"]:
        values = [s.rss_mb.get(name, float("nan")) for s in result.samples]
        x = next((t for t in result.trends if t.service == name), None)
        label = f"{name} ({x.change_pct:+.1f}%)" if x else name
        memory.plot(minutes, values, label=label, linestyle=":" if name == "kafka" else "-")
    for axis in (memory, lag):
        axis.axvspan(0, result.plan.warm_up_s / 60, color="grey", alpha=0.15, lw=0)
    memory.set_ylabel("resident memory (MB)")
    memory.set_title(f"soak at {result.rate:,.0f} events/s: RSS per service (warm-up shaded)")
    memory.legend(fontsize=8, loc="upper left", ncols=3)
    memory.set_ylim(bottom=0)
    for group in result.lag_at_end:
        lag.plot(minutes, [s.lag.get(group, 0) for s in result.samples], label=group)
    lag.set_ylabel("lag (records)")
    lag.set_xlabel("minutes since the soak began")
    lag.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
