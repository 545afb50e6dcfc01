"""Recurring concepts recalled from a model key's library: the library's rules, the trainer's use of it at a drift,
its place in the checkpoint, its config, and `driftline bench recall` (structure only)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from driftline.cli import app
from driftline.config import settings_from_dict
from driftline.config.base import ConfigError
from driftline.config.streams import DriftSpec
from driftline.contracts import Outcome, SensorEvent, parse
from driftline.learning.library import ModelLibrary
from driftline.trainer.core import TrainerCore
from driftline_lab.recall import ARF, Plan, contenders, recurring

T0 = datetime(2026, 1, 1, tzinfo=UTC)
#: Events per concept: A (x > 0.5), then B (the opposite), then A again.
PERIOD = 2000


# The library itself


def test_the_least_recently_kept_model_makes_room() -> None:
    library = ModelLibrary(size=2, window=3)
    for version in (1, 2, 3):
        evicted = library.drifted(f"model {version}", version)
    assert evicted is not None and evicted.version == 1
    assert [e.version for e in library.entries] == [2, 3]
    library.trim(size=1)
    assert [e.version for e in library.entries] == [3]


def test_a_model_that_only_ties_the_served_one_is_not_recalled() -> None:
    library = ModelLibrary(size=3, window=2)
    library.drifted(lambda x: x > 0, version=1)
    assert library.record(1, True, wrong=0.0) is False
    assert library.record(-1, False, wrong=0.0) is True
    assert library.recall(lambda model, x: model(x)) is None  # both perfect: the served model stays
    assert library.trial is None and [e.version for e in library.entries] == [1]


def test_a_regressor_is_scored_by_its_mean_absolute_error() -> None:
    library = ModelLibrary(size=3, window=2, regression=True)
    library.drifted(lambda x: 2 * x, version=1)  # the concept that comes back
    library.drifted(lambda x: 0.0, version=2)
    library.record(1.0, 2.0, wrong=1.5)
    library.record(2.0, 4.0, wrong=2.5)
    found = library.recall(lambda model, x: model(x))
    assert found is not None and found.version == 1


# The trainer: a drift keeps the replaced model, the trial after it may recall one


def core_for(tmp_path: Path, **drift: Any) -> TrainerCore:
    stream = {"task": "binary", "features": {"x": {}}, "drift": {"data": None, **drift}}
    return TrainerCore(settings_from_dict({"state_dir": str(tmp_path), "streams": {"plant": stream}}, "test"))


def recurring_events(periods: int = 3, seed: int = 0) -> list[SensorEvent]:
    """Concept A (the label is x > 0.5), B (its opposite), A again..., ``PERIOD`` events each."""
    rng = random.Random(seed)
    out = []
    for i in range(periods * PERIOD):
        x = rng.random()
        label = (x > 0.5) if (i // PERIOD) % 2 == 0 else (x <= 0.5)
        out.append(SensorEvent(event_id=f"e{i}", device_id="d", stream="plant", ts=T0 + timedelta(seconds=i),
                               features={"x": x}, label=label))  # fmt: skip
    return out


def run_core(core: TrainerCore, events: list[SensorEvent]) -> list[Outcome]:
    return [parse(Outcome, o.to_bytes()) for e in events if (o := core.on_event(e)) is not None]


def test_a_recurring_concept_comes_back_from_the_library(tmp_path: Path) -> None:
    core = core_for(tmp_path)
    outcomes = run_core(core, recurring_events())
    slot = core.slots["plant"]
    # A served as v1, B as v2 (its drift kept v1), then A's drift kept v2, and after the trial v1 serves as v4.
    assert core.metrics.drift_reactions.labels("plant", "recall")._value.get() == 1
    assert slot.version == 4 and slot.recalled_from == 1
    assert slot.library is not None and [e.version for e in slot.library.entries] == [2, 3]
    recalled = [i for i, o in enumerate(outcomes) if o.model_version == 4]
    # Soon after the switch back: the detection, then the trial's 200 labels.
    assert 2 * PERIOD + 200 < recalled[0] < 2 * PERIOD + 700
    after = outcomes[recalled[0] : recalled[0] + 500]
    assert sum(o.prediction == o.label for o in after) / len(after) > 0.95  # it knew A from the start


def test_without_a_library_the_concept_is_learned_again(tmp_path: Path) -> None:
    core = core_for(tmp_path, library=0)
    run_core(core, recurring_events())
    slot = core.slots["plant"]
    assert slot.library is None and slot.recalled_from is None
    assert core.metrics.drift_reactions.labels("plant", "recall")._value.get() == 0


def test_the_library_and_its_trial_are_in_the_checkpoint(tmp_path: Path) -> None:
    events = recurring_events()
    whole = run_core(core_for(tmp_path / "whole"), events)
    first = core_for(tmp_path / "first")
    library = None
    # Stop mid-trial after the switch back to A: the library holds models and the trial has begun.
    for cut, event in enumerate(events):
        first.on_event(event)
        library = first.slots["plant"].library
        if cut > 2 * PERIOD and library is not None and library.trial and len(library.trial) == 50:
            break
    assert library is not None and len(library.entries) == 2
    second = core_for(tmp_path / "second")
    assert second.restore(first.snapshot(["plant"])) == ["plant"]
    resumed = run_core(second, events[cut + 1 :])
    assert [(o.outcome_id, o.model_version, o.prediction) for o in resumed] == [
        (o.outcome_id, o.model_version, o.prediction) for o in whole[cut + 1 :]
    ]
    assert second.slots["plant"].recalled_from == 1


def test_a_library_needs_a_reset_to_recall_at() -> None:
    with pytest.raises(ValueError, match="on_alert = 'notify' resets nothing"):
        DriftSpec(on_alert="notify", library=2)
    assert DriftSpec(on_alert="notify").library == 3  # the default is left unused, not refused
    with pytest.raises((ValueError, ConfigError)):
        DriftSpec(recall_window=5)


def test_a_smaller_library_in_the_running_config_applies_at_the_next_drift(tmp_path: Path) -> None:
    core = core_for(tmp_path, library=1)
    run_core(core, recurring_events(periods=4))
    library = core.slots["plant"].library
    assert library is not None and library.size == 1 and len(library.entries) <= 1


# `driftline bench recall`: structure only


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("recall")
    result = CliRunner().invoke(app, ["bench", "recall", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| warm reset |" in result.output  # the command prints the report it wrote
    return out / "recall.md", json.loads((out / "recall.json").read_text())


def test_the_quick_bench_writes_its_table_and_plot(quick: tuple[Path, dict[str, Any]]) -> None:
    path, data = quick
    plan = Plan.quick()
    assert [p["policy"] for p in data["policies"]] == list(contenders(plan))  # no ARF in the quick run
    text = path.read_text()
    for policy in data["policies"]:
        assert f"| {policy['policy']} |" in text
        assert len(policy["by_generator"]) == len(plan.generators)
    assert "Memory per key" in text and ARF not in text
    assert all(len(r["after_switch"]) == plan.segments for r in data["streams"])
    png = path.parent / "recall.png"
    assert png.read_bytes().startswith(b"\x89PNG")


def test_a_recurring_stream_switches_between_two_concepts() -> None:
    rows = list(recurring("STAGGER", 0, period=50, segments=3))
    assert len(rows) == 150 and all(isinstance(x, dict) for x, _ in rows)
