"""`driftline bench chaos`: the pipeline as real processes, a seeded nemesis, and the invariants over the whole run.

A three-node Kafka cluster (replication 3, min.insync.replicas 2), two trainers and two monitors
(each pair one consumer group), the collector with its MQTT bridge, Mosquitto and the archiver,
every one a process of its own. Devices post labelled Phishing rows over HTTP and publish them
over MQTT at QoS 1 (:mod:`driftline_lab.fleet`) while the nemesis (:mod:`driftline_lab.nemesis`)
kills a random process or a Kafka node, or stops Mosquitto, sometimes two at once, and starts
it again after a random pause. Every service's resident memory is sampled the whole time.

When the time is up the fleet finishes what it has under way, and the whole history is judged
(:mod:`driftline_lab.invariants`): every acknowledged event has exactly one committed outcome, is
counted once by the monitors and is in the lake; nothing refused is anywhere downstream; no
service ends dead or unhealthy; memory stays flat as the soak judges it; and the trainers' final
predictions on probe rows nobody streamed equal those of a fresh, uninterrupted trainer run over
the same events topic afterwards (:mod:`driftline_lab.chaos_checks`).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.config import settings_from_dict
from driftline.kafkaio.cluster import LocalCluster
from driftline.kafkaio.topics import ensure_topics
from driftline.ops.mosquitto import Mosquitto
from driftline.processes import ManagedProcess, free_ports, http_ok, wait_until
from driftline_lab.faults import OutcomeCount, config_for, phishing_rows
from driftline_lab.fleet import HttpDevice, MqttDevice
from driftline_lab.nemesis import Nemesis, Spacing, kind_of, schedule
from driftline_lab.soak import Sample, tree_usage

if TYPE_CHECKING:
    from driftline_lab.chaos_checks import ChaosResult

HTTP_DEVICES = ("h1", "h2", "h3")
MQTT_DEVICES = ("m1", "m2")
#: Rows no device streams: the probes that compare the trainers with the uninterrupted run.
PROBE_ROWS = 100
BRIDGE_PASSWORD = "a bridge password of the chaos run"


@dataclass
class Plan:
    """What one chaos run does; :meth:`quick` is the CI run."""

    minutes: float = 20.0
    seed: int = 0
    spacing: Spacing = field(default_factory=Spacing)
    #: Seconds between two posts of an HTTP device (a batch each) and two publishes of an MQTT device.
    http_tick_s: float = 0.5
    http_batch: int = 10
    mqtt_tick_s: float = 0.1
    sample_s: float = 5.0
    #: Memory is judged after this long since a service's (re)start, as the soak's warm-up.
    warm_up_s: float = 60.0
    window_s: float = 60.0
    #: A service whose samples past their warm-ups span less than this is reported, not judged (too short).
    judged_s: float = 300.0

    @classmethod
    def quick(cls, seed: int = 0) -> Plan:
        """About three minutes in all: at least ten faults, every kind among them, some two at once."""
        spacing = Spacing(gap_s=(3.0, 6.0), pause_s=(1.0, 3.0), pair_chance=0.35)
        return cls(minutes=1.25, seed=seed, spacing=spacing, sample_s=1.0, warm_up_s=20.0, window_s=15.0,
                   judged_s=60.0)  # fmt: skip

    @property
    def seconds(self) -> float:
        return self.minutes * 60


class Pipeline:
    """Every process of the run, by target name (``trainer-1``, ``kafka-2``...).

    What the nemesis strikes and restores (:class:`driftline_lab.nemesis.Targets`)."""

    def __init__(self, folder: Path, data: dict[str, Any], cluster: LocalCluster, mosquitto: Mosquitto) -> None:
        self.folder, self.data, self.cluster, self.mosquitto = folder, data, cluster, mosquitto
        config = folder / "chaos.toml"
        config.write_text("")
        self.env = {**os.environ, **{f"DRIFTLINE_{k.upper()}": json.dumps(v) if isinstance(v, dict) else str(v)
                                     for k, v in data.items()}}  # fmt: skip
        names = ["collector", "trainer-1", "trainer-2", "monitor-1", "monitor-2"]
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.services: dict[str, ManagedProcess] = {}
        for name, port in self.ports.items():
            command = kind_of(name) if "-" in name else name
            argv = [sys.executable, "-m", "driftline.cli", command, "-c", str(config)]
            env = {**self.env, f"DRIFTLINE_{command.upper()}__PORT": str(port)}
            if command != "collector":
                env[f"DRIFTLINE_{command.upper()}__INSTANCE_ID"] = name
            else:
                env |= {"DRIFTLINE_COLLECTOR__MQTT__ENABLED": "true", "DRIFTLINE_COLLECTOR__MQTT__PORT":
                        str(mosquitto.port), "DRIFTLINE_COLLECTOR__MQTT__PASSWORD": BRIDGE_PASSWORD}  # fmt: skip
            url = self.url(name)
            self.services[name] = ManagedProcess(name, argv, folder / "logs" / f"{name}.log",
                                                 lambda u=url: http_ok(f"{u}/metrics"), env=env)  # fmt: skip
        log = folder / "logs" / "archiver.log"
        argv = [sys.executable, "-m", "driftline.cli", "archive", "-c", str(config), "--lake", str(self.lake)]
        self._archivings = 0
        self.services["archiver"] = ManagedProcess("archiver", argv, log, self._archiving, env=self.env)
        #: Monotonic times each target was (re)launched at, for the memory's warm-up.
        self.started: dict[str, list[float]] = {}
        #: Targets struck and not restored yet: a process starting is running, but not up.
        self.down: set[str] = set()

    @property
    def lake(self) -> Path:
        return self.folder / "lake"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def _archiving(self) -> bool:
        """The archiver logs a line as it starts consuming: this life's is one more than the lives before."""
        log = self.services["archiver"].log_file
        return log.exists() and log.read_text(errors="replace").count("archiving ") > self._archivings

    def start(self) -> None:
        """Start every service at once (one by one, their imports alone took a minute on a loaded machine)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(self.services)) as pool:
            list(pool.map(self.restore, self.services))

    # The nemesis's targets

    def targets(self) -> list[str]:
        return [*self.services, *(f"kafka-{n.node_id}" for n in self.cluster.nodes), "mosquitto-1"]

    def up(self, target: str) -> bool:
        if target in self.down:
            return False
        if target in self.services:
            return self.services[target].running
        if kind_of(target) == "kafka":
            return self.cluster.nodes[int(target.rpartition("-")[2]) - 1].running
        return self.mosquitto.running

    def strike(self, target: str) -> None:
        self.down.add(target)
        if target in self.services:
            if target == "archiver":
                self._archivings = self.services[target].log_file.read_text(errors="replace").count("archiving ")
            self.services[target].kill()
        elif kind_of(target) == "kafka":
            self.cluster.nodes[int(target.rpartition("-")[2]) - 1].kill()
        else:
            self.mosquitto.stop()

    def restore(self, target: str) -> None:
        self.started.setdefault(target, []).append(time.monotonic())  # a new process from now on
        if target in self.services:
            self.services[target].start(180)
        elif kind_of(target) == "kafka":
            node = self.cluster.nodes[int(target.rpartition("-")[2]) - 1]
            node.start(180, wait=False)
            if wait_until(node.answers, 180, 0.3) is None:
                raise RuntimeError(f"{target} did not answer within 180 s of its restart")
        else:
            self.mosquitto.start()
        self.down.discard(target)

    def pids(self) -> dict[str, int]:
        """Each service's process id now (those down are left out); Kafka nodes as ``kafka-<n>``."""
        pids = {name: p.pid for name, p in self.services.items() if p.running and p.pid}
        for node in self.cluster.nodes:
            if node.pid:
                pids[f"kafka-{node.node_id}"] = node.pid
        return pids

    def kill(self) -> None:
        for process in self.services.values():
            process.kill()


class Sampler(threading.Thread):
    """Every ``every`` seconds: each process's RSS and CPU (:func:`driftline_lab.soak.tree_usage`) and the
    committed outcomes so far, until halted."""

    def __init__(self, pipeline: Pipeline, outcomes: OutcomeCount, every: float, began: float) -> None:
        super().__init__(daemon=True, name="sampler")
        self.pipeline, self.outcomes, self.every, self.began = pipeline, outcomes, every, began
        self.samples: list[Sample] = []
        #: (seconds since the run began, committed outcomes so far), every 0.2 s.
        self.counts: list[tuple[float, int]] = []
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        next_sample = 0.0
        try:
            while not self.halt.wait(0.2):
                t = time.monotonic() - self.began
                self.counts.append((t, self.outcomes()))
                if t >= next_sample:
                    usage = {name: tree_usage(pid) for name, pid in self.pipeline.pids().items()}
                    rss = {name: u[0] for name, u in usage.items()}
                    cpu = {name: u[1] for name, u in usage.items()}
                    self.samples.append(Sample(t, rss, cpu, {}, self.counts[-1][1]))
                    next_sample = t + self.every
        except BaseException as e:  # reported by the run, not lost in a thread
            self.error = e


def first_outcome_after(counts: list[tuple[float, int]], t: float) -> float | None:
    """Seconds from ``t`` to the first sample whose count grew past the count at ``t``."""
    before = next((n for s, n in reversed(counts) if s <= t), 0)
    return next((s - t for s, n in counts if s > t and n > before), None)


@dataclass
class Fleet:
    http: list[HttpDevice]
    mqtt: list[MqttDevice]

    @property
    def devices(self) -> list[HttpDevice | MqttDevice]:
        return [*self.http, *self.mqtt]

    def start(self) -> None:
        for device in self.devices:
            device.start()

    def finish(self, timeout: float) -> list[str]:
        """Stop sending; wait for what is under way to be acknowledged. Returns what went wrong."""
        for device in self.devices:
            device.finish()
        problems = []
        for device in self.devices:
            device.join(timeout)
            if device.is_alive():
                problems.append(f"{device.device} was still sending after {timeout:.0f} s")
        for device in self.mqtt:
            if not device.close(timeout):
                problems.append(f"{device.device}: {device.unacknowledged} messages never acknowledged")
        return problems + [f"{d.device} was answered {e}" for d in self.devices for e in d.errors]

    def acknowledged(self) -> set[tuple[str, str]]:
        return set().union(*(d.acknowledged for d in self.devices))

    def refused(self) -> set[tuple[str, str]]:
        return set().union(*(d.refused for d in self.devices))


def settings_data(bootstrap: str, folder: Path) -> dict[str, Any]:
    """The faults scenario's config (small batches, frequent commits), with the MQTT devices too."""
    from driftline.collector.auth import hash_token

    data = config_for(bootstrap, folder / "state", 3)
    data["devices"] = {d: {"token_sha256": hash_token(f"token-{d}")} for d in (*HTTP_DEVICES, *MQTT_DEVICES)}
    data["trainer"]["group_id"] = f"chaos-trainer-{uuid.uuid4().hex[:6]}"
    data["monitor"]["group_id"] = f"chaos-monitor-{uuid.uuid4().hex[:6]}"
    return data


def run(plan: Plan, folder: Path, say: Callable[[str], None], tick: Callable[[], None]) -> ChaosResult:
    """One chaos run in ``folder``: what it did and its verdict."""
    from driftline_lab.chaos_checks import judge

    rows = phishing_rows()
    streamed, probes = rows[:-PROBE_ROWS], [x for x, _ in rows[-PROBE_ROWS:]]
    cluster = LocalCluster(folder / "kafka")
    users = {"collector": BRIDGE_PASSWORD, **{d: f"token-{d}" for d in MQTT_DEVICES}}
    mosquitto = Mosquitto(folder / "mosquitto", users)
    say("chaos: starting a three-node Kafka cluster and Mosquitto")
    cluster.start(180)
    pipeline: Pipeline | None = None
    try:
        mosquitto.start()
        data = settings_data(cluster.bootstrap_servers, folder)
        settings = settings_from_dict(data)
        ensure_topics(cluster.bootstrap_servers, settings.topics, 3)
        pipeline = Pipeline(folder, data, cluster, mosquitto)
        say("chaos: starting the collector, 2 trainers, 2 monitors and the archiver")
        pipeline.start()
        faults = schedule(plan.seed, plan.seconds, pipeline.targets(), plan.spacing)
        fleet = Fleet(
            [HttpDevice(d, f"token-{d}", pipeline.url("collector"), streamed, plan.http_tick_s, plan.http_batch)
             for d in HTTP_DEVICES],
            [MqttDevice(d, f"token-{d}", mosquitto.port, streamed, plan.mqtt_tick_s) for d in MQTT_DEVICES],
        )  # fmt: skip
        outcomes = OutcomeCount(cluster.bootstrap_servers, settings)
        began = time.monotonic()
        sampler = Sampler(pipeline, outcomes, plan.sample_s, began)
        nemesis = Nemesis(faults, pipeline, began, say)
        fleet.start()
        sampler.start()
        nemesis.start()
        # The schedule is played whole (a fault waits for its targets to be back), for a little longer at most.
        grace = min(60.0, plan.seconds / 4)
        while (elapsed := time.monotonic() - began) < plan.seconds or (
            not nemesis.through and elapsed < plan.seconds + grace
        ):
            time.sleep(1.0)
            if elapsed < plan.seconds:
                tick()
        say("chaos: time is up; the nemesis stops, the fleet finishes what it has under way")
        nemesis.halt()
        nemesis.join()
        for target in pipeline.targets():  # a fault that errored may have left one down
            if not pipeline.up(target):
                pipeline.restore(target)
        fleet_problems = fleet.finish(180)
        chaos_s = time.monotonic() - began
        result = judge(plan, pipeline, settings, fleet, probes, say)
        sampler.halt.set()
        sampler.join()
        outcomes.close()
        if sampler.error:
            raise sampler.error
        for happened in nemesis.injected:
            if happened.restored_s is not None:
                happened.first_outcome_s = first_outcome_after(sampler.counts, happened.restored_s)
        result.finish(faults, nemesis.injected, sampler.samples, pipeline.started, began, chaos_s, fleet_problems)
        return result
    finally:
        # Killed, not stopped: the verdict is in, and clean stops took the CI run 40 s more.
        if pipeline is not None:
            pipeline.kill()
        mosquitto.stop()
        for node in cluster.nodes:
            node.kill()


def bench(plan: Plan, out: Path, command: str, say: Callable[[str], None], progress) -> Path:
    """``driftline bench chaos``: one run in a scratch folder; writes chaos.md, .json and .png to ``out``."""
    import tempfile

    from driftline_lab import chaos_report

    tick = progress(int(plan.seconds))
    with tempfile.TemporaryDirectory(prefix="driftline-chaos-") as folder:
        result = run(plan, Path(folder), say, tick)
    return chaos_report.write(result, command, out)
