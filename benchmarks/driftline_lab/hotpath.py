"""`driftline bench hotpath`: the trainer's per-event work, part by part, in one process without a broker.

The same Phishing events (River's dataset, as `bench throughput` sends them) go through

- ``river (the limit)``: bare River per model key, ``predict_proba_one``, ``predict_one`` and
  ``learn_one`` on the raw features, nothing else;
- ``trainer, whole record``: the trainer's handler for one Kafka record, bytes in, the outputs
  handed to a producer (``TrainerService.on_record`` as the loop calls it, then ``produce``), with
  the default configuration of a stream (cleaning, dedupe, holdout, concept and data drift,
  metrics);

and each part of that path alone, over the same events in the same order: decode and validate,
dedupe, cleaning, encoding for the model, the models (the key's slot: predict then learn), the
concept judge, the data-drift judge, metrics, outcome encoding and produce. ``driftline's own
work`` is the whole record less the models. Contenders alternate round by round; CPU time of this
process per event, min and median over the rounds. The producer points at an address where no
broker listens, so ``produce`` only queues (what it costs the trainer's thread).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Message, Producer

from driftline.config import settings_from_dict
from driftline.config.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EVENTS_TOPIC = "bench.events"


@dataclass
class Plan:
    events: int = 20_000
    keys: list[int] = field(default_factory=lambda: [1, 100])
    rounds: int = 5
    preset: str = "logistic"

    @classmethod
    def quick(cls) -> Plan:
        return cls(events=2_000, keys=[1], rounds=1)


def settings_for(preset: str, keys: int, state_dir: Path) -> Settings:
    from river import datasets

    features = {name: {} for name in next(iter(datasets.Phishing()))[0]}
    scope = "stream" if keys == 1 else "device"
    stream = {"task": "binary", "scope": scope, "model": preset, "features": features}
    return settings_from_dict(
        {
            "state_dir": str(state_dir),
            "trainer": {"snapshot_every": 0},
            "topics": {"events": {"name": EVENTS_TOPIC, "partitions": 6}},
            "streams": {"bench": stream},
        },
        "bench hotpath",
    )


def event_payloads(n: int, keys: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of ``n`` labelled Phishing events over ``keys`` devices, as the collector writes them."""
    from river import datasets

    from driftline.contracts import SensorEvent

    rows = list(datasets.Phishing())
    payloads = []
    for i in range(n):
        x, y = rows[i % len(rows)]
        device = f"d{i % keys}"
        event = SensorEvent(
            event_id=f"e{i}", device_id=device, stream="bench", ts=T0 + timedelta(milliseconds=i), features=x, label=y
        )
        payloads.append(((f"bench/{device}" if keys > 1 else "bench").encode(), event.to_bytes()))
    return payloads


Part = Callable[[], Callable[[], None]]
"""Set-up of one timed run: returns the work to time (fresh state each run)."""


def _timed(setup: Part) -> float:
    work = setup()
    gc.collect()
    # This thread's CPU only: librdkafka's own threads are not the handler's work.
    began = time.thread_time()
    work()
    return time.thread_time() - began


class Parts:
    """The contenders of one case: each a set-up returning the work over all events."""

    def __init__(self, plan: Plan, keys: int, state_dir: Path) -> None:
        self.plan = plan
        self.keys = keys
        self.state_dir = state_dir
        self.settings = settings_for(plan.preset, keys, state_dir)
        self.payloads = event_payloads(plan.events, keys)
        self.messages = [
            Message(topic=EVENTS_TOPIC, partition=0, offset=i, key=k, value=v) for i, (k, v) in enumerate(self.payloads)
        ]
        from driftline.wire import decode_event

        self.events = [decode_event(v) for _, v in self.payloads]

    # The limit and the whole

    def river(self) -> Callable[[], None]:
        from driftline.modelspec import build_model

        preset, events, keyed = self.plan.preset, self.events, self.keys > 1
        models: dict[str, Any] = {}

        def work() -> None:
            for event in events:
                key = event.device_id if keyed else ""
                model = models.get(key)
                if model is None:
                    model = models[key] = build_model(preset)
                x = event.features
                model.predict_proba_one(x)
                model.predict_one(x)
                model.learn_one(x, event.label)

        return work

    def producer(self) -> Producer:
        # No broker: produce() only queues, which is what it costs the loop's thread.
        return Producer({"linger.ms": 5, "queue.buffering.max.messages": 2_000_000, "log_level": 0})

    def _handler(self) -> tuple[Callable[[str, Message], Any], Callable[..., None]]:
        """The trainer's record handler on a fresh unit, and a producer's ``produce`` for its outputs."""
        from driftline.trainer.handler import TrainerService

        service = TrainerService(self.settings, "127.0.0.1:9")
        service.restore("p0", None)
        return service.on_record, self.producer().produce

    def whole(self) -> Callable[[], None]:
        on_record, produce = self._handler()
        messages = self.messages

        def work() -> None:
            for message in messages:
                for topic, key, value, headers in on_record("p0", message):
                    produce(topic, value=value, key=key, headers=headers)

        return work

    def batches(self) -> Callable[[], None]:
        """The whole record as the trainer's loop hands records over: in batches of its ``max_poll_records``, each
        grouped by model key (a key's state stays in the CPU's caches while its records are handled)."""
        from driftline.kafkaio.loop import group_by_key

        on_record, produce = self._handler()
        size = self.settings.trainer.max_poll_records
        batches = [self.messages[i : i + size] for i in range(0, len(self.messages), size)]

        def work() -> None:
            for batch in batches:
                batch = list(batch)
                group_by_key(batch)
                for message in batch:
                    for topic, key, value, headers in on_record("p0", message):
                        produce(topic, value=value, key=key, headers=headers)

        return work

    # The parts

    def decode(self) -> Callable[[], None]:
        from driftline.wire import decode_event

        values = [v for _, v in self.payloads]

        def work() -> None:
            for value in values:
                decode_event(value)

        return work

    def dedupe(self) -> Callable[[], None]:
        from driftline.learning.pending import event_ident
        from driftline.rules.dedupe import RecentIds

        stream = self.settings.streams["bench"]
        events, keyed = self.events, self.keys > 1
        memories: dict[str, RecentIds] = {}

        def work() -> None:
            for event in events:
                key = event.device_id if keyed else ""
                memory = memories.get(key)
                if memory is None:
                    memory = memories[key] = RecentIds(stream.dedupe_window)
                memory.seen(event_ident(event.device_id, event.event_id))

        return work

    def cleaning(self) -> Callable[[], None]:
        from driftline.learning.cleaning import Cleaner

        stream = self.settings.streams["bench"]
        events, keyed = self.events, self.keys > 1
        cleaners: dict[str, Cleaner] = {}

        def work() -> None:
            for event in events:
                key = event.device_id if keyed else ""
                cleaner = cleaners.get(key)
                if cleaner is None:
                    cleaner = cleaners[key] = Cleaner(stream)
                cleaner.clean(event.features, event.units, event.ts, device=event.device_id)

        return work

    def _cleaned(self) -> list[dict[str, Any]]:
        from driftline.learning.cleaning import Cleaner

        cleaner = Cleaner(self.settings.streams["bench"])
        return [cleaner.clean(e.features, e.units, e.ts, device=e.device_id).features for e in self.events]

    def encoding(self) -> Callable[[], None]:
        from driftline.learning.model_input import ModelInput

        cleaned = self._cleaned()
        inputs = ModelInput()

        def work() -> None:
            for x in cleaned:
                inputs.encode(x)

        return work

    def models(self) -> Callable[[], None]:
        from driftline.learning.slot import ModelInput, ModelSlot

        stream = self.settings.streams["bench"]
        inputs = ModelInput()
        rows = [(e.device_id, inputs.encode(x), e.label) for e, x in zip(self.events, self._cleaned(), strict=True)]
        keyed = self.keys > 1
        slots: dict[str, ModelSlot] = {}

        def work() -> None:
            for device, encoded, y in rows:
                key = device if keyed else ""
                slot = slots.get(key)
                if slot is None:
                    slot = slots[key] = ModelSlot(key or "bench", stream)
                _, _, predictions = slot.predict(encoded.text, encoded)
                slot.learn(encoded.text, y, predictions, encoded)

        return work

    def concept(self) -> Callable[[], None]:
        from driftline.rules.concept import ConceptWatch

        stream = self.settings.streams["bench"]
        keyed = self.keys > 1
        # A model that is right 90% of the time: the errors the judge sees.
        rows = [(e.device_id, e.ts.timestamp(), float(i % 10 == 0)) for i, e in enumerate(self.events)]
        watches: dict[str, ConceptWatch] = {}

        def work() -> None:
            for device, ts, error in rows:
                key = device if keyed else ""
                watch = watches.get(key)
                if watch is None:
                    watch = watches[key] = ConceptWatch(stream.drift, stream.task)
                watch.see("logistic", 1, ts)
                watch.judge("logistic", 1, error)

        return work

    def data_drift(self) -> Callable[[], None]:
        from driftline.rules.datadrift import DataWatch

        stream = self.settings.streams["bench"]
        keyed = self.keys > 1
        rows = [(e.device_id, e.ts.timestamp(), x) for e, x in zip(self.events, self._cleaned(), strict=True)]
        watches: dict[str, DataWatch | None] = {}

        def work() -> None:
            for device, ts, x in rows:
                key = device if keyed else ""
                if key not in watches:
                    watches[key] = DataWatch.of(stream.drift, stream.features)
                watch = watches[key]
                if watch is not None:
                    watch.see(x, ts)

        return work

    def metrics(self) -> Callable[[], None]:
        from driftline.trainer.metrics import TrainerMetrics

        metrics = TrainerMetrics()
        n = len(self.events)

        def work() -> None:
            bound = metrics.of_stream("bench")
            for _ in range(n):
                bound.consumed += 1
                bound.predict_seconds("logistic").observe(0.00002)
                bound.predicted += 1
                bound.learn_seconds("logistic").observe(0.00002)
                bound.learned += 1

        return work

    def _outcomes(self) -> list[Any]:
        from driftline.trainer.core import TrainerCore

        core = TrainerCore(self.settings)
        return [o for e in self.events if (o := core.on_event(e)) is not None]

    def outcome_encoding(self) -> Callable[[], None]:
        outcomes = self._outcomes()

        def work() -> None:
            for outcome in outcomes:
                outcome.to_bytes()

        return work

    def produce(self) -> Callable[[], None]:
        values = [o.to_bytes() for o in self._outcomes()]
        producer = self.producer()
        topic = self.settings.topics.outcomes.name

        def work() -> None:
            for value in values:
                producer.produce(topic, value=value, key=b"bench")

        return work

    def contenders(self) -> dict[str, Part]:
        return {
            "river (the limit)": self.river,
            "trainer, whole record": self.whole,
            "trainer, the loop's batches (by model key)": self.batches,
            "decode and validate": self.decode,
            "dedupe": self.dedupe,
            "cleaning": self.cleaning,
            "encoding for the model": self.encoding,
            "models (predict, learn)": self.models,
            "concept judge": self.concept,
            "data-drift judge": self.data_drift,
            "metrics": self.metrics,
            "outcome encoding": self.outcome_encoding,
            "produce": self.produce,
        }


@dataclass
class CaseResult:
    keys: int
    events: int
    #: contender -> CPU µs per event, one per round.
    runs: dict[str, list[float]] = field(default_factory=dict)

    def minimum(self, name: str) -> float:
        return min(self.runs[name])

    def median(self, name: str) -> float:
        return statistics.median(self.runs[name])

    def own_work(self) -> list[float]:
        """Per round, the whole record less the models (the same round's)."""
        whole, models = self.runs["trainer, whole record"], self.runs["models (predict, learn)"]
        return [w - m for w, m in zip(whole, models, strict=True)]


def run_case(plan: Plan, keys: int, state_dir: Path, progress: Callable[[], None] | None = None) -> CaseResult:
    parts = Parts(plan, keys, state_dir)
    contenders = parts.contenders()
    result = CaseResult(keys, plan.events, {name: [] for name in contenders})
    names = list(contenders)
    for round_ in range(plan.rounds):
        # Alternate the order: a contender never always runs first (warm caches) or last.
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            result.runs[name].append(_timed(contenders[name]) / plan.events * 1e6)
            if progress is not None:
                progress()
    return result


def render(plan: Plan, results: list[CaseResult], command: str) -> str:
    lines = [
        "# The trainer's hot path, part by part",
        "",
        f"`{command}`: {plan.events:,} labelled Phishing events (9 number features), preset `{plan.preset}`,"
        f" {plan.rounds} rounds alternating; CPU µs per event of the handling thread, min / median. In process,"
        " no broker (produce only queues). Each part runs alone over the same events.",
        "",
    ]
    header = "| part | " + " | ".join(f"{r.keys} key{'s' if r.keys > 1 else ''}" for r in results) + " |"
    lines += [header, "| --- |" + " ---: |" * len(results)]
    for name in results[0].runs:
        cells = [f"{r.minimum(name):.1f} / {r.median(name):.1f}" for r in results]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    own = [r.own_work() for r in results]
    lines.append("| **driftline's own work** (whole record less models) | "
                 + " | ".join(f"**{min(o):.1f} / {statistics.median(o):.1f}**" for o in own) + " |")  # fmt: skip
    for whole in ("trainer, whole record", "trainer, the loop's batches (by model key)"):
        ratio = [
            statistics.median(rv / w for rv, w in zip(r.runs["river (the limit)"], r.runs[whole], strict=True))
            for r in results
        ]
        lines.append(f"| {whole.removeprefix('trainer, ')} / bare River, events per CPU-second (median of rounds) | "
                     + " | ".join(f"{x:.2f}x" for x in ratio) + " |")  # fmt: skip
    lines += [
        "",
        "The parts do not add up to the whole exactly: the whole also pays for the record handler's own calls"
        " (dispatch, the unit's key set, label requests, holdout), and each part alone runs with warmer caches.",
        "",
    ]
    return "\n".join(lines)


def run(plan: Plan, out: Path, command: str, say: Callable[[str], None], progress: Any) -> Path:
    import tempfile

    tick = progress(len(plan.keys) * plan.rounds * 13) if progress is not None else None
    results = []
    with tempfile.TemporaryDirectory(prefix="driftline-hotpath-") as tmp:
        for keys in plan.keys:
            say(f"{keys} key(s): {plan.events:,} events x {plan.rounds} rounds")
            results.append(run_case(plan, keys, Path(tmp) / f"k{keys}", tick))
    report = render(plan, results, command)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "hotpath.md"
    path.write_text(report)
    return path
