"""`driftline bench scale`: many per-device model keys over 2 trainers and 2 monitors, and their hand-overs.

One local broker (or ``--bootstrap``'s); ``keys`` per-device model keys of one stream (scope ``device``, preset
``logistic``, Phishing events, every one labelled) over two `driftline trainer` processes in one
group and two `driftline monitor` processes in another, outcomes in as many partitions as the
events (6), each instance a process with its own id and port. Measured:

- resident memory (and its peak) of every instance before the keys come and once every key is
  held, its outcome read back and the monitors caught up;
- checkpoint bytes per key: once every instance stopped cleanly (which checkpoints every partition
  it holds), the live chunks of each unit's newest checkpoint on the checkpoint topic, summed per
  group and divided by the keys;
- hand-over: one trainer killed with SIGKILL while the checkpoints hold every key; at the kill,
  ``probes`` events per partition it held, of keys it held. Timed from the kill to the survivor's
  first outcome of one of them, and to the group's lag being zero with every probe answered. The
  survivor then holds every key: its memory is measured again. Then the same for one monitor: from
  the kill to the survivor's first count of a probe outcome of the dead one's partitions, and to
  its counts holding them all (the lag zero).

Sessions time out after ``session_timeout_ms`` (a killed static member keeps its partitions that
long: the floor of a hand-over); checkpoints of a changed partition every ``checkpoint_interval_s``
(the services' defaults in a full run).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from confluent_kafka import Message, TopicPartition

from driftline.config import settings_from_dict
from driftline.contracts import SensorEvent
from driftline.kafkaio.checkpoints import store_for
from driftline.kafkaio.clients import deliver, end_offset, make_consumer, make_producer
from driftline.kafkaio.lags import GroupLags
from driftline.kafkaio.topics import admin_client
from driftline_lab.scaling import wait_for_group
from driftline_lab.throughput import WARM_UP, Bench, Outputs, Process, Setup, bench_on, kafka_named, phishing_events

PRESET = "logistic"
#: Targets of the issue (reported, never asserted).
TARGET_RSS_MB = 1024
TARGET_HANDOVER_S = 30.0


@dataclass
class Plan:
    keys: int = 100_000
    #: Labelled events per key (each key's first creates its model).
    events_per_key: int = 1
    #: Of events (labels, checkpoints) and outcomes alike: a partition is a unit of state, checkpointed whole.
    partitions: int = 24
    session_timeout_ms: int = 10_000
    checkpoint_interval_s: float = 30.0
    #: Events sent at a kill, per partition of the killed instance.
    probes: int = 100
    timeout_s: float = 3600.0
    #: Kafka to run on; None: a local broker of the run's own.
    bootstrap: str | None = None

    @classmethod
    def quick(cls) -> Plan:
        return cls(2_000, 1, 6, session_timeout_ms=6_000, checkpoint_interval_s=2.0, probes=20, timeout_s=300.0)


@dataclass
class Instance:
    name: str
    service: str
    partitions: list[int]
    rss_before_mb: float
    """Started and in its group, before any key came."""
    rss_mb: float
    """Every key held (by the two instances of its service)."""
    peak_mb: float
    """The process's peak resident memory (VmHWM) by then."""


@dataclass
class HandOver:
    service: str
    killed: str
    survivor: str
    partitions: list[int]
    """The killed instance's partitions."""
    probes: int
    first_s: float
    """From the kill to the survivor's first outcome (trainer) or count (monitor) of a probe of those partitions."""
    caught_up_s: float
    """From the kill to the lag zero, every probe answered (trainer) or counted (monitor)."""
    survivor_rss_mb: float
    """The survivor's resident memory then, holding every partition."""
    survivor_peak_mb: float


@dataclass
class Result:
    keys: int
    events: int
    fill_s: float
    """From the events' commit to their last outcome read back."""
    instances: list[Instance]
    handovers: list[HandOver]
    checkpoint_bytes: dict[str, int]
    """Per service: the live bytes of its units' newest checkpoints (state chunks), summed."""
    checkpoint_units: dict[str, int]
    checkpoint_current: bool
    """Whether the trainers' checkpoints covered every event before the kill (else the survivor replayed more)."""
    plan: Plan
    extra: dict[str, float] = field(default_factory=dict)

    def per_key(self, service: str) -> float:
        return self.checkpoint_bytes.get(service, 0) / self.keys


class Placed(Outputs):
    """The outcomes read back, and the partition each model key's went to: the trainer's producer places them
    (murmur2 of the key, as every driftline producer does), so a key's events and outcomes share a partition."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        super().__init__(bootstrap, topic, partitions)
        self.partition: dict[bytes, int] = {}

    def note(self, message: Message) -> None:
        super().note(message)
        if message.error() is None:
            self.partition[message.key()] = message.partition()

    def keys_by_partition(self, devices: int) -> dict[int, list[str]]:
        """The devices ``d0``... ``d<devices - 1>`` by the partition of their model key."""
        found: dict[int, list[str]] = {}
        for i in range(devices):
            found.setdefault(self.partition[f"bench/d{i}".encode()], []).append(f"d{i}")
        return found


def vm_kb(pid: int, field_name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0.0


def peak_mb(process: Process) -> float:
    return vm_kb(process.popen.pid, "VmHWM") / 1024


def assignment(bootstrap: str, group: str, topic: str) -> dict[str, list[int]]:
    """Each member's (by instance id: its static member id less the digest of its topics) partitions of ``topic``."""
    admin = admin_client(bootstrap)  # held while the future is pending: a dropped client never answers
    description = admin.describe_consumer_groups([group])[group].result(30)
    return {
        (m.group_instance_id or m.client_id).rsplit(".", 1)[0]: sorted(
            tp.partition for tp in (m.assignment.topic_partitions if m.assignment else []) if tp.topic == topic
        )
        for m in description.members
    }


def metric_by_partition(port: int, name: str) -> dict[int, float]:
    """A monitor's ``name`` samples summed per outcomes partition."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[int, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and "partition" in s.labels:
                p = int(s.labels["partition"])
                found[p] = found.get(p, 0.0) + s.value
    return found


def poll_until(done: Callable[[], bool], alive: list[Process], deadline: float, what: str, step: float = 0.1) -> None:
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}: " + "; ".join(p.last_words() for p in alive))
        if stopped := [p for p in alive if p.popen.poll() is not None]:
            raise RuntimeError(f"stopped while waiting for {what}: " + "; ".join(p.last_words() for p in stopped))
        time.sleep(step)


class Fleet:
    """Two trainers and two monitors on one broker, the outcomes read back."""

    def __init__(self, bench: Bench, plan: Plan) -> None:
        self.bench = bench
        self.plan = plan
        trainer = bench.driftline_setup(PRESET, outcome_partitions=plan.partitions, partitions=plan.partitions)
        session = str(plan.session_timeout_ms)
        interval = str(plan.checkpoint_interval_s)
        for section in ("TRAINER", "MONITOR"):
            trainer.env[f"DRIFTLINE_{section}__SESSION_TIMEOUT_MS"] = session
            trainer.env[f"DRIFTLINE_{section}__CHECKPOINT_INTERVAL_S"] = interval
        trainer.env["DRIFTLINE_MONITOR__GROUP_ID"] = f"bench-monitor-{uuid.uuid4().hex[:8]}"
        trainer.env["DRIFTLINE_MONITOR__PORT"] = "0"  # the section needs one; each monitor gets its own
        monitor_argv = [*trainer.argv[:-3], "monitor", *trainer.argv[-2:]]  # ... driftline.cli monitor -c <config>
        monitor = replace(trainer, argv=monitor_argv, name="monitor", section="monitor")
        monitor.ports = trainer.ports  # one set: no two instances get one port
        self.setups: dict[str, Setup] = {"trainer": trainer, "monitor": monitor}
        self.topics = settings_from_dict({"topics": json.loads(trainer.env["DRIFTLINE_TOPICS"])}).topics
        self.groups = {
            "trainer": trainer.env["DRIFTLINE_TRAINER__GROUP_ID"],
            "monitor": trainer.env["DRIFTLINE_MONITOR__GROUP_ID"],
        }
        self.processes: dict[str, Process] = {}
        self.ports: dict[str, int] = {}
        self.reader = Placed(bench.bootstrap, trainer.outputs, plan.partitions)
        self.lags = GroupLags(
            bench.bootstrap,
            {self.groups["trainer"]: [self.topics.events, self.topics.labels],
             self.groups["monitor"]: [self.topics.outcomes]},
            transactional={self.topics.events.name, self.topics.outcomes.name},
        )  # fmt: skip

    def start(self) -> None:
        """Both services' instances at once, then until each group is stable with two members."""
        for service, setup in self.setups.items():
            for i in range(2):
                env = setup.env_for(i)
                name = f"{setup.name}-{i}"
                self.ports[name] = int(env[f"DRIFTLINE_{service.upper()}__PORT"])
                self.processes[name] = Process.start(setup.argv, env, setup.log(i))
        for service, group in self.groups.items():
            wait_for_group(self.bench.bootstrap, group, 2, self.of(service), timeout=180)

    def of(self, service: str) -> list[Process]:
        return [p for name, p in self.processes.items() if name.startswith(service) and p.popen.poll() is None]

    def alive(self) -> list[Process]:
        return [p for p in self.processes.values() if p.popen.poll() is None]

    def held(self, service: str) -> dict[str, list[int]]:
        topic = self.topics.events.name if service == "trainer" else self.topics.outcomes.name
        return assignment(self.bench.bootstrap, self.groups[service], topic)

    def read(self, seconds: float) -> None:
        for message in self.reader.consumer.consume(5000, timeout=seconds):
            self.reader.note(message)

    def behind(self, service: str, partitions: list[int] | None = None) -> int:
        """Records of ``service``'s input (of ``partitions``) not committed yet; a transaction's marker aside."""
        topics = {self.topics.events.name, self.topics.outcomes.name}
        return sum(
            max(0, n - (1 if topic in topics else 0))
            for (topic, p), n in self.lags.behind(self.groups[service]).items()
            if partitions is None or p in partitions
        )

    def stop(self) -> None:
        for process in self.alive():
            process.popen.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.popen.wait(120)
            except Exception:
                process.popen.kill()
        self.reader.close()
        self.lags.close()


def probe_events(devices: list[str], prefix: str) -> list[SensorEvent]:
    """One new labelled event for each of ``devices`` (existing keys)."""
    template = phishing_events(len(devices), len(devices), prefix)
    return [e.model_copy(update={"device_id": d}) for e, d in zip(template, devices, strict=True)]


def fill(fleet: Fleet, plan: Plan, say: Callable[[str], None], progress) -> float:
    """Every key's events, produced in one transaction; from its commit to the last outcome read back."""
    n = plan.keys * plan.events_per_key
    say(f"producing {n:,} events of {plan.keys:,} keys ...")
    records = [(f"bench/{e.device_id}".encode(), e.to_bytes()) for e in phishing_events(n, plan.keys)]
    release = fleet.bench.stager(fleet.setups["trainer"].events, records)()
    del records
    advance = progress(n)
    reader = fleet.reader
    base = len(reader.answers)
    shown = 0

    def done() -> bool:
        nonlocal shown
        now = len(reader.answers) - base
        for _ in range(now - shown):
            advance()
        shown = now
        return now >= n

    began = time.monotonic()
    release()
    reader.read_until(done, fleet.alive(), time.monotonic() + plan.timeout_s)
    return time.monotonic() - began


def checkpoints(fleet: Fleet, group: str) -> dict[str, dict]:
    """Each unit of ``group``: its newest manifest's offsets and the live bytes of its chunks."""
    settings = settings_from_dict(
        {"topics": json.loads(fleet.setups["trainer"].env["DRIFTLINE_TOPICS"]),
         "state_dir": str(fleet.setups["trainer"].folder)}
    )  # fmt: skip
    store = store_for(settings, fleet.bench.bootstrap)
    try:
        return {
            m["unit"]: {"offsets": m["offsets"], "bytes": sum(map(len, chunks or [])), "size": m["size"]}
            for m, chunks in store.manifests()
            if m.get("group") == group
        }
    finally:
        store.close()


def wait_for_checkpoints(fleet: Fleet, plan: Plan, say: Callable[[str], None]) -> bool:
    """Until every trainer partition's newest checkpoint covers every event (the interval, then the topic read)."""
    say(f"waiting for checkpoints of every partition (every {plan.checkpoint_interval_s:g} s of a changed one) ...")
    consumer = make_consumer(fleet.bench.bootstrap, None)
    events = fleet.topics.events.name
    ends = {f"{events}:{p}": end_offset(consumer, TopicPartition(events, p)) for p in range(plan.partitions)}
    consumer.close()
    deadline = time.monotonic() + plan.checkpoint_interval_s * 4 + 120
    time.sleep(plan.checkpoint_interval_s + 2)
    while time.monotonic() < deadline:
        units = checkpoints(fleet, fleet.groups["trainer"])
        covered = [
            k for u in units.values() for k, end in ends.items() if k in u["offsets"] and u["offsets"][k] >= end - 1
        ]
        if len(covered) >= plan.partitions:
            return True
        time.sleep(max(2.0, plan.checkpoint_interval_s / 4))
    return False


def trainer_handover(fleet: Fleet, plan: Plan, say: Callable[[str], None]) -> HandOver:
    held = fleet.held("trainer")
    killed, survivor = "trainer-0", "trainer-1"
    dead = held[killed]
    by_partition = fleet.reader.keys_by_partition(plan.keys)
    devices = [d for p in dead for d in by_partition[p][: plan.probes]]
    probes = probe_events(devices, "t")
    wanted = {f"{e.device_id}/{e.event_id}" for e in probes}
    producer = make_producer(fleet.bench.bootstrap)
    records = [(fleet.topics.events.name, f"bench/{e.device_id}".encode(), e.to_bytes()) for e in probes]
    say(f"killing {killed} (partitions {dead}), {len(probes)} events to them ...")
    process = fleet.processes[killed]
    process.popen.send_signal(signal.SIGKILL)
    killed_at = time.time()
    began = time.monotonic()
    deliver(producer, records)
    process.popen.wait()
    first: float | None = None
    alive = fleet.alive()
    deadline = began + plan.timeout_s
    while True:
        fleet.read(0.05)
        answered = [fleet.reader.arrived[k] for k in wanted if k in fleet.reader.arrived]
        if first is None and answered:
            first = min(answered) - killed_at
        if len(answered) == len(wanted) and fleet.behind("trainer") == 0:
            caught_up = time.monotonic() - began
            break
        if time.monotonic() > deadline or any(p.popen.poll() is not None for p in alive):
            raise RuntimeError(
                f"trainer hand-over: {len(answered)} of {len(wanted)} probes answered: "
                + "; ".join(p.last_words() for p in fleet.processes.values())
            )
    rest = fleet.processes[survivor]
    return HandOver("trainer", killed, survivor, dead, len(probes), first or 0.0, caught_up, rest.rss_mb, peak_mb(rest))


def monitor_handover(fleet: Fleet, plan: Plan, say: Callable[[str], None]) -> HandOver:
    poll_until(lambda: fleet.behind("monitor") == 0, fleet.alive(), time.monotonic() + 600, "the monitors' lag")
    held = fleet.held("monitor")
    killed, survivor = "monitor-0", "monitor-1"
    dead = held[killed]
    name = "driftline_monitor_outcomes_total"
    counted = metric_by_partition(fleet.ports[killed], name)
    by_partition = fleet.reader.keys_by_partition(plan.keys)
    chosen = {p: by_partition[p][plan.probes : 2 * plan.probes] for p in dead}  # not the trainer's probes
    devices = [d for p in dead for d in chosen[p]]
    probes = probe_events(devices, "m")
    records = [(fleet.topics.events.name, f"bench/{e.device_id}".encode(), e.to_bytes()) for e in probes]
    target = {p: counted.get(p, 0.0) + len(chosen[p]) for p in dead}
    producer = make_producer(fleet.bench.bootstrap)
    say(f"killing {killed} (partitions {dead}), {len(probes)} outcomes to them ...")
    process = fleet.processes[killed]
    process.popen.send_signal(signal.SIGKILL)
    began = time.monotonic()
    deliver(producer, records)
    process.popen.wait()
    port = fleet.ports[survivor]
    first: float | None = None
    alive = fleet.alive()
    deadline = began + plan.timeout_s
    while True:
        now = metric_by_partition(port, name)
        elapsed = time.monotonic() - began
        if first is None and any(now.get(p, 0.0) > counted.get(p, 0.0) for p in dead):
            first = elapsed
        if all(now.get(p, 0.0) >= target[p] for p in dead) and fleet.behind("monitor") == 0:
            caught_up = elapsed
            break
        if time.monotonic() > deadline or any(p.popen.poll() is not None for p in alive):
            raise RuntimeError(
                f"monitor hand-over: counted {now} of {target}: "
                + "; ".join(p.last_words() for p in fleet.processes.values())
            )
        time.sleep(0.1)
    rest = fleet.processes[survivor]
    return HandOver("monitor", killed, survivor, dead, len(probes), first or 0.0, caught_up, rest.rss_mb, peak_mb(rest))


def measure(bench: Bench, plan: Plan, say: Callable[[str], None], progress) -> Result:
    fleet = Fleet(bench, plan)
    try:
        say("starting 2 trainers and 2 monitors ...")
        fleet.start()
        fleet.reader.read_until(lambda: WARM_UP in fleet.reader.answers, fleet.alive(), time.monotonic() + 300)
        before = {name: p.rss_mb for name, p in fleet.processes.items()}
        fill_s = fill(fleet, plan, say, progress)
        poll_until(lambda: fleet.behind("monitor") == 0, fleet.alive(), time.monotonic() + 900, "the monitors' lag")
        held = fleet.held("trainer") | fleet.held("monitor")
        instances = [
            Instance(name, name.split("-")[0], held.get(name, []), before[name], p.rss_mb, peak_mb(p))
            for name, p in fleet.processes.items()
        ]
        current = wait_for_checkpoints(fleet, plan, say)
        handovers = [trainer_handover(fleet, plan, say), monitor_handover(fleet, plan, say)]
    finally:
        say("stopping (each survivor checkpoints every partition it holds) ...")
        fleet.stop()
    sizes = {service: checkpoints(fleet, group) for service, group in fleet.groups.items()}
    return Result(
        keys=plan.keys,
        events=plan.keys * plan.events_per_key,
        fill_s=fill_s,
        instances=instances,
        handovers=handovers,
        checkpoint_bytes={s: sum(u["bytes"] for u in units.values()) for s, units in sizes.items()},
        checkpoint_units={s: len(units) for s, units in sizes.items()},
        checkpoint_current=current,
        plan=plan,
    )


def run(plan: Plan, out: Path, command: str, say: Callable[[str], None], progress) -> Path:
    with tempfile.TemporaryDirectory() as tmp, bench_on(plan.bootstrap, Path(tmp)) as bench:
        result = measure(bench, plan, say, progress)
    return report(result, command, out)


def targets(result: Result) -> list[tuple[str, str, bool]]:
    rows = []
    for x in result.instances:
        if x.service == "trainer":
            share = f"{x.name}, its {len(x.partitions)} of {result.plan.partitions} partitions"
            rows.append((f"{share}: RSS <= {TARGET_RSS_MB} MB", f"{x.rss_mb:,.0f} MB", x.rss_mb <= TARGET_RSS_MB))
    for h in result.handovers:
        if h.service == "trainer":
            rows.append((f"one trainer holding all {result.keys:,} keys: RSS <= {TARGET_RSS_MB} MB",
                         f"{h.survivor_rss_mb:,.0f} MB", h.survivor_rss_mb <= TARGET_RSS_MB))  # fmt: skip
        rows.append((f"{h.service} hand-over (kill to lag zero) <= {TARGET_HANDOVER_S:.0f} s",
                     f"{h.caught_up_s:.1f} s", h.caught_up_s <= TARGET_HANDOVER_S))  # fmt: skip
    return rows


def report(result: Result, command: str, out: Path) -> Path:
    """Write scale.json and scale.md into ``out``; returns the markdown file."""
    out.mkdir(parents=True, exist_ok=True)
    data = {
        **asdict(result),
        "checkpoint_bytes_per_key": {s: result.per_key(s) for s in result.checkpoint_bytes},
        "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in targets(result)],
        "command": command,
        "machine": f"{platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()})",
        "date": time.strftime("%Y-%m-%d"),
    }
    (out / "scale.json").write_text(json.dumps(data, indent=1))
    p = result.plan
    lines = [
        f"# Scale: {result.keys:,} per-device model keys over 2 trainers and 2 monitors",
        "",
        f"`{command}` on {data['machine']}, {data['date']}. {kafka_named(p.bootstrap)}, the four service "
        "processes and the benchmark share the machine. One stream, scope `device`, preset `logistic`, River's "
        f"Phishing features; {p.events_per_key} labelled event(s) per key ({result.events:,} events), produced in "
        f"one transaction to {p.partitions} events partitions; outcomes in {p.partitions} partitions. Trainers and "
        f"monitors at exactly-once, sessions of {p.session_timeout_ms / 1000:g} s (a killed member keeps its "
        f"partitions that long), checkpoints of a changed partition every {p.checkpoint_interval_s:g} s or 10,000 "
        f"records. Every event's outcome was read back {result.fill_s:.1f} s after the events' commit "
        f"({result.events / result.fill_s:,.0f} events/s over the two trainers, every key new).",
        "",
        "## Resident memory per instance",
        "",
        "| instance | partitions | before the keys | every key held | peak (VmHWM) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {x.name} | {', '.join(map(str, x.partitions))} | {x.rss_before_mb:,.0f} MB | {x.rss_mb:,.0f} MB | "
        f"{x.peak_mb:,.0f} MB |"
        for x in result.instances
    ]
    trainers = [x for x in result.instances if x.service == "trainer"]
    grown = sum(x.rss_mb - x.rss_before_mb for x in trainers)
    lines += [
        "",
        f"The trainers grew by {grown:,.0f} MB for {result.keys:,} keys: **{grown * 1024 / result.keys:,.1f} KB "
        "per key** of resident memory.",
        "",
        "## Checkpoints",
        "",
        "The newest checkpoint of every unit (a partition), after a clean stop of the survivors: the live bytes of "
        "its state on the checkpoint topic."
        + ("" if result.checkpoint_current else " (Before the kill, the trainers' checkpoints lagged the events.)"),
        "",
        "| group | units | bytes | bytes per key |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {s} | {result.checkpoint_units[s]} | {b:,} | {result.per_key(s):,.0f} |"
        for s, b in result.checkpoint_bytes.items()
    ]
    lines += [
        "",
        "## Hand-over after SIGKILL",
        "",
        "At the kill, events of keys of the killed instance's partitions are sent (probes). Timed from the kill "
        "to the survivor's first outcome of one (the monitor: its first count of one), and to its group's lag "
        "being zero with every probe answered (counted).",
        "",
        "| killed | its partitions | probes | to the first | to lag zero | survivor's RSS then | its peak |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {h.killed} | {', '.join(map(str, h.partitions))} | {h.probes} | {h.first_s:.1f} s | "
        f"{h.caught_up_s:.1f} s | {h.survivor_rss_mb:,.0f} MB | {h.survivor_peak_mb:,.0f} MB |"
        for h in result.handovers
    ]
    lines += ["", "## Targets", "", "| target | measured | met |", "| --- | ---: | --- |"]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in targets(result)]
    lines.append("")
    path = out / "scale.md"
    path.write_text("\n".join(lines))
    return path
