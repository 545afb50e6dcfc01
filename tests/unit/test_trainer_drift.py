"""The trainer's own reaction to a concept drift: per model key, by the stream's policy, where the monitor sees it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from driftline.config import settings_from_dict
from driftline.contracts import Outcome, SensorEvent, parse
from driftline.monitor.state import MonitorState
from driftline.trainer.core import TrainerCore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
#: Device m2's concept starts to flip at this event, and has flipped (its label is the opposite of
#: what it was) this many events later.
FLIP = 1500
GRADUAL = 400


def core_for(tmp_path: Path, policy: str) -> TrainerCore:
    stream = {"task": "binary", "scope": "device", "features": {"x": {}}, "drift": {"on_alert": policy}}
    return TrainerCore(settings_from_dict({"state_dir": str(tmp_path), "streams": {"machines": stream}}, "test"))


def events(n: int = 3000, seed: int = 0) -> list[SensorEvent]:
    """Three devices with the same concept (x > 0.5), except that m2's flips gradually from ``FLIP``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        for device in ("m1", "m2", "m3"):
            x = rng.random()
            label = x > 0.5
            flipped = device == "m2" and rng.random() < min(max((i - FLIP) / GRADUAL, 0.0), 1.0)
            ts = T0 + timedelta(seconds=i)
            label = not label if flipped else label
            out.append(
                SensorEvent(
                    event_id=f"e{i}", device_id=device, stream="machines", ts=ts, features={"x": x}, label=label
                )
            )
    return out


def run(core: TrainerCore, stream: list[SensorEvent]) -> list[Outcome]:
    """The outcomes the trainer emits, as the monitor would read them."""
    return [parse(Outcome, o.to_bytes()) for e in stream if (o := core.on_event(e)) is not None]


def versions(core: TrainerCore) -> dict[str, int]:
    return {key: slot.version for key, slot in sorted(core.slots.items())}


def test_a_drift_resets_only_the_model_key_that_drifted_soon_after_the_change(tmp_path: Path) -> None:
    core = core_for(tmp_path, "warm_reset")
    outcomes = run(core, events())
    assert versions(core) == {"machines/m1": 1, "machines/m2": 2, "machines/m3": 1}
    first_v2 = next(o for o in outcomes if o.model_key == "machines/m2" and o.model_version == 2)
    assert T0 + timedelta(seconds=FLIP) < first_v2.event_ts < T0 + timedelta(seconds=FLIP + 300)
    assert core.metrics.drift_reactions.labels("machines", "background")._value.get() == 1
    assert core.metrics.drift_reactions.labels("machines", "warm")._value.get() == 1


def test_the_trainer_resets_right_after_the_outcome_that_carries_the_drift_to_the_monitor(tmp_path: Path) -> None:
    core = core_for(tmp_path, "cold_reset")
    outcomes = run(core, events())
    drifts = [d for o in outcomes for d in o.drift or () if d.drift_kind == "concept" and d.level == "drift"]
    assert [d.model_key for d in drifts] == ["machines/m2"]
    monitor = MonitorState(core.settings)
    for o in outcomes:
        monitor.observe(o)
    assert {k: n for k, n in monitor.drifts.items() if k[2] == "concept" and n} == {
        ("machines", drifts[0].model_name, "concept", "ADWIN", ""): 1
    }
    (drift,) = drifts
    mine = [o for o in outcomes if o.model_key == drift.model_key]
    judged = [i for i, o in enumerate(mine) if o.model_version == drift.model_version and o.label is not None]
    last = judged[drift.position - 1]  # the outcome the detection was made on
    assert mine[last].model_version == drift.model_version
    assert mine[last + 1].model_version == drift.model_version + 1


def test_the_same_events_give_the_same_resets_at_the_same_outcomes(tmp_path: Path) -> None:
    stream = events(seed=7)
    first = run(core_for(tmp_path / "a", "warm_reset"), stream)
    second = run(core_for(tmp_path / "b", "warm_reset"), stream)
    assert [(o.outcome_id, o.model_version, o.prediction) for o in first] == [
        (o.outcome_id, o.model_version, o.prediction) for o in second
    ]


def test_a_model_that_only_gets_better_is_never_reset(tmp_path: Path) -> None:
    core = core_for(tmp_path, "cold_reset")
    run(core, [e for e in events() if e.device_id != "m2"])
    assert versions(core) == {"machines/m1": 1, "machines/m3": 1}


@pytest.mark.parametrize("policy", ["notify", "rollback"])
def test_notify_changes_nothing_and_rollback_needs_a_snapshot(tmp_path: Path, policy: str) -> None:
    core = core_for(tmp_path, policy)
    run(core, events())
    assert versions(core)["machines/m2"] == 1


def test_rollback_serves_the_newest_snapshot_of_that_key(tmp_path: Path) -> None:
    core = core_for(tmp_path, "rollback")
    stream = events()
    run(core, stream[: 3 * FLIP])
    core.slots["machines/m2"].snapshot(core.snapshot_root, core.signer)
    run(core, stream[3 * FLIP :])
    assert versions(core) == {"machines/m1": 1, "machines/m2": 2, "machines/m3": 1}
    assert core.metrics.drift_reactions.labels("machines", "rollback")._value.get() == 1


def test_the_outcome_carries_the_trainers_detections_concept_and_data(tmp_path: Path) -> None:
    stream = {"task": "binary", "scope": "device", "features": {"x": {}, "hum": {}}}
    core = TrainerCore(settings_from_dict({"state_dir": str(tmp_path), "streams": {"machines": stream}}, "test"))
    rng = random.Random(1)
    # Device m3's humidity sensor, which the label does not depend on, moves from about 40 to about 60
    # halfway: a data drift, its concept unchanged.
    stream_events = [
        e.model_copy(update={"features": {**e.features, "hum": rng.gauss(60 if moved else 40, 2)}})
        for e in events()
        if (moved := e.device_id == "m3" and e.ts >= T0 + timedelta(seconds=1500)) or True
    ]
    outcomes = run(core, stream_events)
    carried = [(o, d) for o in outcomes for d in o.drift or ()]
    concept = [(o, d) for o, d in carried if d.drift_kind == "concept" and d.level == "drift"]
    data = [(o, d) for o, d in carried if d.drift_kind == "data"]
    # The concept drift of m2 is carried by the outcome it was judged at, and only m2's.
    assert {d.model_key for _, d in concept} == {"machines/m2"}
    assert all(o.model_key == d.model_key and o.model_version == d.model_version for o, d in concept)
    # The data drift of m3 is found once, soon after its change, counted in m3's events.
    assert [(d.model_key, d.feature) for _, d in data] == [("machines/m3", "hum")]
    assert 1500 < data[0][1].position < 1600
    assert data[0][0].event_ts >= T0 + timedelta(seconds=1500) and data[0][0].model_key == "machines/m3"
    # No outcome carries its features any more; cleaning steps only where cleaning took one (faults are read there).
    assert all(o.features is None and (o.cleaning is None or len(o.cleaning) > 0) for o in outcomes)
