"""The chaos run's judgement, once the fleet has finished: the history read back and every invariant checked.

:func:`judge` waits (on conditions, with deadlines) until the outcomes, the monitors' counts and
the lake have caught up with what devices got acknowledged, then reads each whole and hands it to
:mod:`driftline_lab.invariants`. It also probes the trainers' final models on rows nobody
streamed, and runs a fresh trainer in this process over the same events topic, uninterrupted,
whose answers must be the same, bit for bit (JSON keeps floats exact).
"""

from __future__ import annotations

import contextlib
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from driftline.config import settings_from_dict
from driftline.config.settings import Settings
from driftline.httpserver import exposed_total
from driftline.kafkaio.topics import ensure_topics
from driftline.processes import wait_until
from driftline.rules import metric_names as names
from driftline.trainer.runner import TrainerRunner
from driftline_lab.faults import OutcomeCount, outcomes_of
from driftline_lab.invariants import Delivery, check_delivery, lake_rows, memory_problems, service_problems
from driftline_lab.nemesis import Fault, Injected
from driftline_lab.soak import Plan as SoakPlan
from driftline_lab.soak import Sample, Trend, trend

if TYPE_CHECKING:
    from driftline_lab.chaos import Fleet, Pipeline, Plan

#: How long the services get to catch up with the fleet's last acknowledged event.
CATCH_UP_S = 300.0


@dataclass
class ChaosResult:
    """What the run did and what it delivered."""

    plan: Any
    delivery: Delivery
    #: Every process at the end: None running, -1 not (its exit code is not kept across restarts).
    exits: dict[str, int | None]
    healthy: dict[str, bool]
    #: Model keys probed, and whether the trainers' answers equal the uninterrupted run's.
    probed_keys: list[str]
    probes_equal: bool
    probe_differences: list[str]
    recoveries: dict[str, float]
    http_retries: int
    faults: list[Fault] = field(default_factory=list)
    injected: list[Injected] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    trends: list[Trend] = field(default_factory=list)
    fleet_problems: list[str] = field(default_factory=list)
    chaos_s: float = 0.0

    def finish(
        self,
        faults: list[Fault],
        injected: list[Injected],
        samples: list[Sample],
        started: dict[str, list[float]],
        began: float,
        chaos_s: float,
        fleet_problems: list[str],
    ) -> None:
        """Add the nemesis's record, the memory samples (and their judgement) and the fleet's own problems."""
        self.faults, self.injected, self.samples, self.chaos_s = faults, injected, samples, chaos_s
        self.fleet_problems = fleet_problems
        self.trends = memory_trends(self.plan, samples, {k: [t - began for t in v] for k, v in started.items()},
                                    self.exits)  # fmt: skip

    def problems(self, memory: bool = True) -> list[str]:
        """Every broken invariant; empty when the run passed. Without ``memory``, memory that did not stay flat is
        left to the report: a measured target, judged on a full run (a quick run's minutes say little about it)."""
        found = self.delivery.problems() + service_problems(self.exits, self.healthy)
        if memory:
            found += memory_problems(self.trends)
        if not self.probes_equal:
            found.append("the trainers' final predictions differ from an uninterrupted run's: "
                         + "; ".join(self.probe_differences[:3]))  # fmt: skip
        found += self.fleet_problems
        found += [f"{', '.join(i.fault.targets)} never came back: {i.error}" for i in self.injected if i.error]
        return found

    def by_kind(self) -> dict[str, int]:
        """Faults injected, by kind (a pair counts once for each of its kinds)."""
        return dict(sorted(Counter(k for i in self.injected for k in i.fault.kinds).items()))

    def first_outcome(self) -> tuple[float | None, float | None]:
        """(p50, max) seconds from a fault's restore to the first outcome committed after it."""
        times = [i.first_outcome_s for i in self.injected if i.first_outcome_s is not None]
        return (statistics.median(times), max(times)) if times else (None, None)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["plan"] = asdict(self.plan)
        data["faults_by_kind"] = self.by_kind()
        data["problems"] = self.problems()
        data["trends"] = [{**asdict(t), "flat": t.flat} for t in self.trends]
        return data


def memory_trends(
    plan: Plan, samples: list[Sample], started: dict[str, list[float]], exits: dict[str, int | None]
) -> list[Trend]:
    """Each service's memory trend as the soak judges it, over its samples past the warm-up of its every life
    (a restarted process starts small and grows into its work again, which is no leak); a service whose
    samples span less than ``plan.judged_s`` so is left out, too short to judge."""
    judged = SoakPlan(warm_up_s=0.0, window_s=plan.window_s)
    trends = []
    for service in sorted({name for s in samples for name in s.rss_mb if not name.startswith("kafka")}):
        lives = started.get(service, [0.0])
        warm = [
            s for s in samples
            if service in s.rss_mb and s.t - max((t for t in lives if t <= s.t), default=0.0) >= plan.warm_up_s
        ]  # fmt: skip
        span = warm[-1].t - warm[0].t if warm else 0.0
        if span >= plan.judged_s and (found := trend(service, warm, judged, exits.get(service) is None)):
            trends.append(found)
    return trends


def monitors_counted(urls: list[str]) -> float:
    """Outcomes counted, summed across the monitor instances (0 for one that does not answer)."""
    total = 0.0
    for url in urls:
        with contextlib.suppress(httpx.HTTPError):
            total += exposed_total(httpx.get(f"{url}/metrics", timeout=5).text, names.MONITOR_OUTCOMES)
    return total


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def probe(url: str, key: str, probes: list[dict[str, Any]]) -> list[Any]:
    with httpx.Client(timeout=10) as client:
        return [client.post(f"{url}/predict", json={"model_key": key, "features": x}).json() for x in probes]


def held_keys(url: str) -> list[str]:
    try:
        return [m["model_key"] for m in httpx.get(f"{url}/models", timeout=5).json()]
    except httpx.HTTPError:
        return []


def reference_settings(settings: Settings) -> Settings:
    """The run's settings with topics and groups of its own but the events and labels topics."""
    data = settings.model_dump(mode="json")
    tag = uuid.uuid4().hex[:6]
    for role, spec in data["topics"].items():
        if role not in ("events", "labels"):
            spec["name"] = f"chaos-reference-{tag}.{role}"
    data["trainer"]["group_id"] = f"chaos-reference-{tag}"
    data["checkpoints"]["secret"] = settings.checkpoints.secret.get_secret_value()
    return settings_from_dict(data)


def judge(
    plan: Plan, pipeline: Pipeline, settings: Settings, fleet: Fleet, probes: list[dict[str, Any]],
    say: Callable[[str], None],
) -> ChaosResult:  # fmt: skip
    """Wait for the services to catch up with the fleet, then check every invariant over the whole history."""
    acknowledged, refused = fleet.acknowledged(), fleet.refused()
    bootstrap = pipeline.cluster.bootstrap_servers
    say(f"chaos: checking {len(acknowledged):,} acknowledged events and {len(refused):,} refused")
    counted = OutcomeCount(bootstrap, settings)
    try:
        wait_until(lambda: counted() >= len(acknowledged), CATCH_UP_S, 0.2)
    finally:
        counted.close()
    monitors = [pipeline.url(n) for n in ("monitor-1", "monitor-2")]
    wait_until(lambda: monitors_counted(monitors) >= len(acknowledged), CATCH_UP_S, 0.5)
    wait_until(lambda: not acknowledged - set(lake_rows(pipeline.lake)), CATCH_UP_S, 1.0)
    time.sleep(2.0)  # and nothing more after them: what arrives now is a duplicate or a stray
    delivery = check_delivery(
        acknowledged, refused, outcomes_of(bootstrap, settings), monitors_counted(monitors), lake_rows(pipeline.lake)
    )
    http = [n for n in pipeline.services if n != "archiver"]
    health = {n: wait_until(lambda n=n: healthy(pipeline.url(n)), 60, 0.5) is not None for n in http}
    exits = {n: (None if p.running else -1) for n, p in pipeline.services.items()}
    exits |= {f"kafka-{n.node_id}": (None if n.running else -1) for n in pipeline.cluster.nodes}
    exits["mosquitto"] = None if pipeline.mosquitto.running else -1
    recoveries = {
        n: sum(exposed_total(httpx.get(f"{pipeline.url(f'{n}-{i}')}/metrics", timeout=5).text, metric)
               for i in (1, 2))
        for n, metric in (("trainer", names.TRAINER_KAFKA_RECOVERIES), ("monitor", names.MONITOR_KAFKA_RECOVERIES))
    }  # fmt: skip

    say("chaos: probing the trainers, then an uninterrupted trainer over the same events")
    answers: dict[str, list[Any]] = {}
    for trainer in ("trainer-1", "trainer-2"):
        for key in held_keys(pipeline.url(trainer)):
            answers[key] = probe(pipeline.url(trainer), key, probes)
    reference = reference_settings(settings)
    ensure_topics(bootstrap, reference.topics, 3)
    distinct = len(acknowledged)
    with TrainerRunner(reference, bootstrap, port=0) as runner:
        fresh = OutcomeCount(bootstrap, reference)
        try:
            wait_until(lambda: fresh() >= distinct, CATCH_UP_S, 0.2)
        finally:
            fresh.close()
        expected = {key: probe(runner.url, key, probes) for key in answers}
    differences = [
        f"{key}: {sum(a != b for a, b in zip(answers[key], expected[key], strict=True))} of {len(probes)} probes"
        for key in answers
        if answers[key] != expected[key]
    ]
    every_key = {f"phish/{d.device}" for d in fleet.devices}
    if set(answers) != every_key:
        differences.append(f"the trainers hold {sorted(answers)}, not every key of {sorted(every_key)}")
    return ChaosResult(
        plan, delivery, exits, health, sorted(answers), not differences, differences, recoveries,
        sum(d.retries for d in fleet.http),
    )  # fmt: skip
