"""The stack's simulated run, replayed in process through the trainer's core and scored as the stack scores it.

``driftline stack`` takes minutes: Kafka, five services, the fleet. To try a drift judge on the stack's own
scenarios (rooms, machines) this replays the same simulated emissions through one
:class:`~driftline.trainer.core.TrainerCore` in the order the stack's trainer takes them (each event and
label at its own time, as ``trainer.align_labels_s`` aligns them), with no Kafka, and scores the outcomes
with the stack's drift report (:func:`~driftline.drift_report.score_run`). The figures come close to a stack
run's but are not the same run: the stack's partitions, batches and late-arriving labels order some
records differently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from driftline.collector.simulator import SimOptions
from driftline.collector.simulator.run import build_simulations, ground_truth, interleave
from driftline.collector.simulator.scenarios import SCENARIOS
from driftline.config import ConfigError, Settings
from driftline.config.streams import check_drift_spec
from driftline.contracts import DriftEvent, LabelEvent, Outcome
from driftline.drift_report import DriftReport, score_run
from driftline.trainer.core import TrainerCore, UnknownStream


@dataclass
class Plan:
    events: int = 20_000
    seed: int = 0
    devices: int = 4
    #: Overrides of every stream's ``drift`` section (``concept``, ``warmup``, ``concept_params`` ...).
    drift: dict[str, Any] = field(default_factory=dict)


def with_drift(settings: Settings, update: dict[str, Any]) -> Settings:
    """``settings`` with ``update`` applied to the drift section of every stream, checked as a config is: a
    ValueError naming the key that is refused."""
    if not update:
        return settings
    streams = {}
    for name, stream in settings.streams.items():
        try:
            spec = stream.drift.model_validate({**stream.drift.model_dump(), **update})
            check_drift_spec(name, stream.model_copy(update={"drift": spec}))
        except ValidationError as e:
            first = e.errors()[0]
            raise ValueError(f"drift.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        except ConfigError as e:
            raise ValueError(str(e)) from None
        streams[name] = stream.model_copy(update={"drift": spec})
    return settings.model_copy(update={"streams": streams})


def replay(settings: Settings, plan: Plan, progress: Callable[[int], None] | None = None) -> DriftReport:
    """Simulate the stack's scenarios, let one trainer core take every event and label, score what it did."""
    settings = with_drift(settings, plan.drift)
    options = SimOptions(devices=plan.devices, events=plan.events, seed=plan.seed)
    simulations = build_simulations(settings, SCENARIOS, options)
    emissions = list(interleave(simulations))
    truth = ground_truth(simulations)
    core = TrainerCore(settings)
    outcomes: list[Outcome] = []
    drifts: list[DriftEvent] = []
    order = sorted(range(len(emissions)), key=lambda i: (emissions[i].message.ts, i))
    for done, i in enumerate(order, 1):
        message = emissions[i].message
        try:
            outcome = core.on_label(message) if isinstance(message, LabelEvent) else core.on_event(message)
        except UnknownStream:
            continue
        if outcome is not None:
            outcomes.append(outcome.to_outcome())
            drifts.extend(outcome.drift or ())
        if progress is not None and done % 1000 == 0:
            progress(1000)
    return score_run(outcomes, drifts, truth["drift_points"], truth["faults"])
