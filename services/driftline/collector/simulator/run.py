"""Run simulations against Kafka (through the collector's validation) or a running HTTP collector.

This is the edge: the generator stays pure; here emissions are paced, batched and delivered,
and the ground truth (drift points, faults) is written beside.
"""

from __future__ import annotations

import heapq
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from driftline.collector.client import post_items
from driftline.collector.ingest import Rejected
from driftline.collector.intake import Ingestor
from driftline.collector.publisher import Publisher
from driftline.collector.simulator.generator import Emission, SimOptions, Simulation
from driftline.collector.simulator.scenarios import SCENARIOS
from driftline.config.base import ConfigError
from driftline.config.settings import Settings
from driftline.kafkaio.clients import cluster


@dataclass
class SimReport:
    events: int = 0
    labels: int = 0
    rejected: int = 0
    elapsed_s: float = 0.0
    truth_file: Path | None = None
    simulations: list[Simulation] = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        rate = self.events / self.elapsed_s if self.elapsed_s else 0.0
        where = f"; ground truth in {self.truth_file}" if self.truth_file else ""
        return (
            f"simulated {self.events} events and {self.labels} late labels in {self.elapsed_s:.1f}s "
            f"({rate:.0f} events/s), {self.rejected} rejected{where}"
        )


Sink = Callable[[list[Emission]], int]  # delivers a batch, returns how many items were rejected


def ground_truth(simulations: list[Simulation]) -> dict[str, Any]:
    """The true drift points and faults of a run, with the time where each starts and ends (and the event id
    where each drift starts)."""
    points, faults = [], []
    for sim in simulations:
        for p in sim.drift_points:
            device = sim.device_id(p.start_seq % sim.options.devices)
            points.append(
                {
                    **p.to_dict(),
                    "start_event_id": sim.event_id(p.start_seq, device),
                    "start_ts": sim.ts_of(p.start_seq).isoformat(),
                    "end_ts": sim.ts_of(p.end_seq).isoformat(),
                }
            )
        faults += [
            {
                "stream": sim.scenario.name,
                **asdict(f),
                "start_ts": sim.ts_of(f.start_seq).isoformat(),
                "end_ts": sim.ts_of(f.end_seq).isoformat(),
            }
            for f in sim.faults
        ]
    options = simulations[0].options if simulations else SimOptions()
    return {"seed": options.seed, "drift_points": points, "faults": faults}


def write_ground_truth(simulations: list[Simulation], out_dir: Path) -> Path:
    """``drift_points.json`` (points and faults) and ``drift_points.csv`` (points) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    truth = ground_truth(simulations)
    path = out_dir / "drift_points.json"
    path.write_text(json.dumps(truth, indent=2))
    columns = ["stream", "kind", "start_seq", "end_seq", "from_concept", "to_concept", "start_event_id", "start_ts"]
    rows = [",".join(str(p[c]) for c in columns) for p in truth["drift_points"]]
    (out_dir / "drift_points.csv").write_text("\n".join([",".join(columns), *rows]) + "\n")
    return path


def interleave(simulations: list[Simulation]) -> Iterator[Emission]:
    """The streams' emissions merged by event time, as a fleet would send them."""
    return heapq.merge(*simulations, key=lambda e: e.message.ts)


T = TypeVar("T")


def paced(items: Iterable[T], rate: float | None, batch: int) -> Iterator[list[T]]:
    """Batches of ``items``, held back so items leave at ``rate`` per second (None: as fast as possible).

    Shared by the simulator and ``driftline replay``.
    """
    started = time.monotonic()
    sent = 0
    chunk: list[T] = []
    # At a set rate, batches are small enough to keep the pace smooth (about 20 per second).
    size = batch if rate is None else max(1, min(batch, int(rate / 20)))
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            if rate is not None:
                time.sleep(max(0.0, started + sent / rate - time.monotonic()))
            yield chunk
            sent += len(chunk)
            chunk = []
    if chunk:
        yield chunk


def kafka_sink(ingestor: Ingestor) -> Sink:
    """Straight to Kafka, through the same validation as HTTP and MQTT."""

    def deliver(batch: list[Emission]) -> int:
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for e in batch:
            groups[("labels" if e.is_label else "events", e.message.stream)].append(e.message.model_dump(mode="json"))
        rejected = 0
        for (kind, stream), items in groups.items():
            results = ingestor.ingest(items, kind, stream, None, "simulator")
            rejected += sum(isinstance(r, Rejected) for r in results)
        return rejected

    return deliver


def http_sink(url: str, tokens: dict[str, str], timeout_s: float = 30.0, retries: int = 10) -> Sink:
    """To a running collector, one request per (stream, kind, device), retrying a 503 after Retry-After.

    Raises :class:`~driftline.collector.client.CollectorError` when the collector refuses a request whole.
    """
    client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s)

    def deliver(batch: list[Emission]) -> int:
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for e in batch:
            kind = "labels" if e.is_label else "events"
            groups[(e.message.stream, kind, e.message.device_id)].append(e.message.model_dump(mode="json"))
        rejected = 0
        for (stream, kind, device), items in groups.items():
            if device not in tokens:
                raise ConfigError(f"simulate: no token for device {device!r}; pass one per simulated device")
            # A 422 with per-item results means every item was rejected: counted, not a failure.
            rejected += post_items(client, stream, kind, items, device, tokens[device], retries)
        return rejected

    return deliver


def simulate(
    simulations: list[Simulation],
    sink: Sink,
    rate: float | None = None,
    batch: int = 500,
    out_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimReport:
    """Deliver every emission of ``simulations`` through ``sink``; write the ground truth to ``out_dir``."""
    report = SimReport(simulations=simulations)
    started = time.monotonic()
    for chunk in paced(interleave(simulations), rate, batch):
        report.rejected += sink(chunk)
        labels = sum(e.is_label for e in chunk)
        report.labels += labels
        report.events += len(chunk) - labels
        if progress:
            progress(len(chunk))
    report.elapsed_s = time.monotonic() - started
    if out_dir is not None:
        report.truth_file = write_ground_truth(simulations, out_dir)
    return report


def build_simulations(settings: Settings, scenarios: Iterable[str], options: SimOptions) -> list[Simulation]:
    """A simulation per scenario; a :class:`ConfigError` names a scenario or option that cannot run.

    Cheap (nothing is generated yet), so commands call it before they start anything.
    """
    simulations = []
    for name in scenarios:
        if name not in SCENARIOS:
            raise ConfigError(f"simulate: no scenario {name!r} (known: {', '.join(SCENARIOS)})")
        settings.stream(name)  # the scenario's stream must be configured
        try:
            simulations.append(Simulation(SCENARIOS[name], options))
        except ValueError as e:
            raise ConfigError(f"simulate: {e}") from None
    return simulations


def run_simulation(
    settings: Settings,
    bootstrap: str | None = None,
    *,
    scenarios: Iterable[str] = ("rooms", "machines"),
    options: SimOptions | None = None,
    rate: float | None = None,
    collector_url: str | None = None,
    tokens: dict[str, str] | None = None,
    out_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimReport:
    """Simulate a fleet for each scenario (each one a configured stream) into Kafka or a collector.

    With ``collector_url`` the events go over HTTP with ``tokens`` (device id -> token); otherwise
    straight to Kafka at ``bootstrap`` (default: the configured servers) with the same validation.
    """
    simulations = build_simulations(settings, scenarios, options or SimOptions())
    if out_dir is None:
        out_dir = settings.state_dir / "simulation"
    if collector_url:
        return simulate(simulations, http_sink(collector_url, tokens or {}), rate, 500, out_dir, progress)
    servers = bootstrap or settings.kafka.bootstrap_servers
    if not servers:
        raise ConfigError("simulate: no Kafka bootstrap servers given or configured")
    publisher = Publisher(cluster(settings, servers), settings.collector.send_timeout_s)
    try:
        return simulate(simulations, kafka_sink(Ingestor(settings, publisher)), rate, 500, out_dir, progress)
    finally:
        publisher.close()
