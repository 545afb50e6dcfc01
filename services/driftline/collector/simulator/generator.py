"""The simulation itself: a seeded, pure generator of sensor events and late labels.

Events are numbered by ``seq`` (their generation order); drift points and faults refer to it,
and each event carries it, with its true concept, in ``metadata`` so detections can be scored.
Delivery is then made imperfect on purpose: duplicates, out-of-order events, late labels.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from driftline.collector.simulator.scenarios import Scenario
from driftline.collector.simulator.schedule import DriftPoint, check_schedule, concept_at, default_schedule
from driftline.contracts import LabelEvent, SensorEvent


@dataclass(frozen=True)
class SimOptions:
    """Everything that shapes a run; the same options and seed give the same events."""

    devices: int = 4
    events: int = 1000
    seed: int = 0
    interval_s: float = 1.0  # virtual seconds between consecutive events of the stream
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    late_label_fraction: float = 0.2  # events whose label comes later as a LabelEvent
    label_delay_s: tuple[float, float] = (5.0, 60.0)
    duplicate_rate: float = 0.01
    out_of_order_rate: float = 0.02
    max_disorder: int = 8  # how many positions an out-of-order event is held back
    fault_rate: float = 0.003  # per event: chance a device starts a stuck, spike or dropout fault
    unit_change_at: float | None = 0.6  # fraction of the run when device 0 switches to degF
    drift: list[DriftPoint] | None = None  # None: default_schedule


@dataclass(frozen=True)
class Fault:
    kind: Literal["stuck", "spike", "dropout", "unit_change"]
    device_id: str
    feature: str
    start_seq: int
    end_seq: int


@dataclass(frozen=True, slots=True)
class Emission:
    """One message to send, in sending order."""

    message: SensorEvent | LabelEvent
    seq: int
    duplicate: bool = False

    @property
    def is_label(self) -> bool:
        return isinstance(self.message, LabelEvent)


@dataclass
class _Device:
    id: str
    stuck: dict[str, tuple[Any, int]] = field(default_factory=dict)  # feature -> (value, until seq)
    fahrenheit: bool = False


class Simulation:
    """Iterate to get the emissions; ``drift_points`` and ``faults`` are the ground truth."""

    def __init__(self, scenario: Scenario, options: SimOptions | None = None):
        self.scenario = scenario
        self.options = options = options or SimOptions()
        if options.devices < 1 or options.events < 0:
            raise ValueError("a simulation needs at least one device and a non-negative event count")
        self.initial = scenario.concepts[0].name
        names = (scenario.concepts[0].name, scenario.concepts[1].name)
        self.drift_points = (
            options.drift if options.drift is not None else default_schedule(scenario.name, options.events, names)
        )
        check_schedule(self.drift_points, self.initial)
        self.faults: list[Fault] = []

    def device_id(self, index: int) -> str:
        return f"{self.scenario.name}-{index:03d}"

    def event_id(self, seq: int, device_id: str) -> str:
        return f"{device_id}-{seq:07d}"

    def ts_of(self, seq: int) -> datetime:
        return self.options.start + timedelta(seconds=seq * self.options.interval_s)

    def __iter__(self) -> Iterator[Emission]:
        o = self.options
        rng = random.Random(f"{o.seed}/{self.scenario.name}")
        devices = [_Device(self.device_id(i)) for i in range(o.devices)]
        self.faults = []
        unit_change_seq = int(o.events * o.unit_change_at) if o.unit_change_at is not None else None
        order = itertools.count()  # tiebreak, so the heap never compares emissions
        held: list[tuple[int, int, Emission]] = []  # (release after seq, tiebreak, emission)
        labels: list[tuple[datetime, int, LabelEvent]] = []  # (due time, tiebreak, label)
        for seq in range(o.events):
            device = devices[seq % o.devices]
            if seq == unit_change_seq and "temperature" in self.scenario.units:
                devices[0].fahrenheit = True
                self.faults.append(Fault("unit_change", devices[0].id, "temperature", seq, o.events))
            event = self._event(seq, device, rng)
            ts = event.ts
            while labels and labels[0][0] <= ts:
                _, _, label = heapq.heappop(labels)
                yield Emission(label, seq)
            if event.label is None:
                pass
            elif rng.random() < o.late_label_fraction:
                delay = rng.uniform(*o.label_delay_s)
                label = LabelEvent(
                    stream=event.stream, device_id=event.device_id, event_id=event.event_id,
                    label=event.label, ts=ts + timedelta(seconds=delay),
                )  # fmt: skip
                heapq.heappush(labels, (label.ts, seq, label))
                event = event.model_copy(update={"label": None})
            emission = Emission(event, seq)
            if rng.random() < o.out_of_order_rate:
                heapq.heappush(held, (seq + rng.randint(2, o.max_disorder), next(order), emission))
            else:
                yield emission
            if rng.random() < o.duplicate_rate:
                heapq.heappush(held, (seq + rng.randint(1, o.max_disorder), next(order), Emission(event, seq, True)))
            while held and held[0][0] <= seq + 1:
                yield heapq.heappop(held)[2]
        for _, _, emission in sorted(held, key=lambda item: item[:2]):
            yield emission
        for _, _, label in sorted(labels, key=lambda item: item[:2]):
            yield Emission(label, o.events)

    def _event(self, seq: int, device: _Device, rng: random.Random) -> SensorEvent:
        sc = self.scenario
        old, new, progress = concept_at(self.drift_points, self.initial, seq)
        point = self._active(seq)
        if point is not None and point.kind == "gradual":
            # Gradual: whole events come from the new concept, more and more often.
            old = new = new if rng.random() < progress else old
            progress = 1.0
        a, b = sc.concept(old), sc.concept(new)
        # Incremental: the concept itself moves, its parameters interpolated.
        rate = (1 - progress) * a.positive_rate + progress * b.positive_rate
        label = rng.random() < rate
        features: dict[str, Any] = {}
        for name in sc.features:
            (ma, sa), (mb, sb) = (a.positive[name], b.positive[name]) if label else (a.negative[name], b.negative[name])
            value = rng.gauss((1 - progress) * ma + progress * mb, (1 - progress) * sa + progress * sb)
            features[name] = max(0.0, value) if name in sc.nonnegative else value
        features = self._faults(seq, device, features, rng)
        units = None
        if device.fahrenheit and features.get("temperature") is not None:
            features["temperature"] = features["temperature"] * 9 / 5 + 32
            units = {"temperature": "degF"}
        concept = new if progress >= 1.0 else f"{old}->{new}:{progress:.3f}"
        return SensorEvent(
            event_id=self.event_id(seq, device.id),
            device_id=device.id,
            stream=sc.name,
            ts=self.ts_of(seq),
            features={k: (round(v, 3) if isinstance(v, float) else v) for k, v in features.items()},
            label=label,
            units=units,
            metadata={"seq": str(seq), "concept": concept},
        )

    def _active(self, seq: int) -> DriftPoint | None:
        return next((p for p in self.drift_points if p.start_seq <= seq < p.end_seq), None)

    def _faults(self, seq: int, device: _Device, features: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        o = self.options
        for name, (value, until) in list(device.stuck.items()):
            if seq < until:
                features[name] = value
            else:
                del device.stuck[name]
        if rng.random() >= o.fault_rate:
            return features
        kind = rng.choice(("stuck", "spike", "dropout"))
        name = rng.choice(self.scenario.features)
        if kind == "stuck":
            # The device repeats this value for its next 20 readings.
            until = seq + 20 * o.devices
            device.stuck[name] = (features[name], until)
            self.faults.append(Fault("stuck", device.id, name, seq, until))
        elif kind == "spike":
            features[name] = features[name] * 10 + 100
            self.faults.append(Fault("spike", device.id, name, seq, seq + 1))
        else:
            features[name] = None
            self.faults.append(Fault("dropout", device.id, name, seq, seq + 1))
        return features
