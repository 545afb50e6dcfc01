"""Checkpoints without a broker: signing, and state that continues exactly like the original after a round trip.

In the spirit of River's ``check_pickling``: a trainer core or a monitor state restored from its
snapshot must go on producing exactly what the original produces on the same following stream.
"""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from river import datasets

from driftline.checkpoint import Checkpoint, CheckpointError, Signer, signing_key
from driftline.config import settings_from_dict
from driftline.config.settings import Settings
from driftline.config.streams import StreamConfig
from driftline.contracts import ControlCommand, DriftEvent, LabelEvent, OutcomeRecord, SensorEvent
from driftline.monitor.state import MonitorState
from driftline.monitor.synthetic import outcomes
from driftline.trainer.core import TrainerCore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = list(datasets.Phishing())
KEY = b"sixteen bytes or more of key"


def checkpoint(state: bytes = b"models" * 1000) -> Checkpoint:
    return Checkpoint("trainer", "p3", {"events:3": 120, "labels:3": 80}, {"control:0": 4}, state)


def test_a_sealed_checkpoint_opens_whole_with_its_offsets() -> None:
    original = checkpoint()
    sealed = Signer(KEY).seal(original, chunk_bytes=1000)
    assert len(sealed.chunks) == 6
    opened = Signer(KEY).open(sealed.manifest, sealed.chunks)
    assert (opened.state, opened.offsets, opened.side_offsets) == (original.state, original.offsets, {"control:0": 4})
    assert opened.checkpoint_id == original.checkpoint_id


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m, c: c.__setitem__(2, c[2][:-1] + b"!"),  # one byte of the state
        lambda m, c: m["offsets"].__setitem__("events:3", 0),  # the offsets: replay from elsewhere
        lambda m, c: m.__setitem__("unit", "p4"),  # another unit's state
        lambda m, c: c.pop(),  # a chunk missing
    ],
    ids=["state", "offsets", "unit", "chunk"],
)
def test_a_tampered_checkpoint_is_refused_with_its_name(tamper: Any) -> None:
    sealed = Signer(KEY).seal(checkpoint(), chunk_bytes=1000)
    tamper(sealed.manifest, sealed.chunks)
    with pytest.raises(CheckpointError, match=r"^checkpoint trainer/p[34]: "):
        Signer(KEY).open(sealed.manifest, sealed.chunks)


def test_a_foreign_checkpoint_is_refused() -> None:
    sealed = Signer(b"another deployment's key").seal(checkpoint())
    with pytest.raises(CheckpointError, match="signature does not match"):
        Signer(KEY).open(sealed.manifest, sealed.chunks)


def test_the_signing_key_is_configured_read_or_generated_once(tmp_path: Path) -> None:
    assert signing_key("configured secret", None, tmp_path) == b"configured secret"
    generated = signing_key("", None, tmp_path)
    assert len(generated) >= 32 and signing_key("", None, tmp_path) == generated
    assert (tmp_path / "checkpoint.key").stat().st_mode & 0o077 == 0
    with pytest.raises(CheckpointError, match="does not exist"):
        signing_key("", tmp_path / "missing.key", tmp_path)


def trainer_settings(tmp_path: Path, model: str = "logistic") -> Settings:
    features = {name: {} for name in ROWS[0][0]}
    stream = {"task": "binary", "features": features, "model": model, "challengers": ["hoeffding"]}
    return settings_from_dict(
        {"state_dir": str(tmp_path), "streams": {"phish": {**stream, "holdout_fraction": 0.1}}}, "test"
    )


def events(start: int, stop: int, labelled: bool) -> list[SensorEvent]:
    return [
        SensorEvent(
            event_id=f"e{i}",
            device_id="d1",
            stream="phish",
            ts=T0 + timedelta(seconds=i),
            features=ROWS[i][0],
            label=ROWS[i][1] if labelled else None,
        )
        for i in range(start, stop)
    ]


def comparable(outcome: OutcomeRecord | None) -> dict[str, Any] | None:
    """An outcome without its timings, which differ from run to run."""
    return None if outcome is None else outcome.to_outcome().model_dump(exclude={"ts", "predict_ms", "learn_ms"})


def feed(core: TrainerCore, start: int, stop: int, rng: random.Random) -> list[Any]:
    """Events with inline labels, events whose labels come later (some never), duplicates, a command."""
    produced: list[Any] = []
    late = events(start, stop, labelled=False)
    for i, (inline, delayed) in enumerate(zip(events(start, stop, labelled=True), late, strict=True)):
        if i % 3 == 0:
            produced.append(comparable(core.on_event(delayed)))
        else:
            produced.append(comparable(core.on_event(inline)))
        if i % 7 == 0:
            produced.append(comparable(core.on_event(inline)))  # a duplicate
        if i % 3 == 0 and rng.random() < 0.8:
            label = LabelEvent(
                stream="phish", device_id="d1", event_id=delayed.event_id, label=ROWS[start + i][1], ts=delayed.ts
            )
            produced.append(comparable(core.on_label(label)))
    return produced


def test_a_restored_trainer_core_continues_exactly_like_the_original(tmp_path: Path) -> None:
    original = TrainerCore(trainer_settings(tmp_path))
    feed(original, 0, 400, random.Random(1))
    reset = ControlCommand(command_id="c1", action="reset", stream="phish", mode="cold", issuer="test")
    original.on_command(reset)
    feed(original, 400, 500, random.Random(2))

    restored = TrainerCore(trainer_settings(tmp_path))
    keys = restored.restore(original.snapshot(["phish"]))
    assert keys == ["phish"]
    slot, state = restored.slots["phish"], restored.keys["phish"]
    assert slot.version == original.slots["phish"].version == 2
    assert slot.learned == original.slots["phish"].learned > 0
    assert len(state.pending) == len(original.keys["phish"].pending) > 0
    # A command read again after recovery is not applied twice.
    assert [a.status for a in restored.on_command(reset)] == ["duplicate"]

    assert feed(restored, 500, 900, random.Random(3)) == feed(original, 500, 900, random.Random(3))
    probes = [x for x, _ in ROWS[900:1000]]
    assert [restored.predict("phish", x) for x in probes] == [original.predict("phish", x) for x in probes]


def test_released_keys_are_gone_and_other_keys_stay(tmp_path: Path) -> None:
    core = TrainerCore(trainer_settings(tmp_path))
    feed(core, 0, 20, random.Random(0))
    state = core.snapshot(["phish", "not-here"])
    core.release(["phish"])
    assert core.slots == {} and core.keys == {}
    assert core.restore(state) == ["phish"]


def monitor_state() -> MonitorState:
    streams = {"rooms": {"task": "binary", "features": {"temperature": {}, "humidity": {}}}}
    return MonitorState(settings_from_dict({"streams": streams}), window=100)


def carried_drift(position: int) -> DriftEvent:
    return DriftEvent(
        drift_id=f"rooms:v1:concept:-:drift:{position}",
        drift_kind="concept",
        stream="rooms",
        model_key="rooms",
        model_name="logistic",
        model_version=1,
        detector="ADWIN",
        position=position,
    )


def test_a_restored_monitor_state_continues_exactly_like_the_original() -> None:
    stream = list(outcomes(3000, error_before=0.1, error_after=0.45, change_at=1500))
    # The trainer's detections ride on outcomes, before and after the checkpoint.
    for i in (500, 1700):
        stream[i] = stream[i].model_copy(update={"drift": [carried_drift(i)]})
    original = monitor_state()
    for outcome in stream[:1000]:
        original.observe(outcome)
    restored = monitor_state()
    restored.restore("p0", original.snapshot("p0"))
    for outcome in stream[:10]:
        restored.observe(outcome)  # duplicates are still remembered
    for outcome in stream[1000:]:
        restored.observe(outcome)
        original.observe(outcome)
    scores = {key: series.scores["prequential"].values() for key, series in original.series.items()}
    assert {key: series.scores["prequential"].values() for key, series in restored.series.items()} == scores
    assert restored.accepted == original.accepted
    assert restored.drifts == original.drifts and sum(original.drifts.values()) == 2
    assert restored.dropped == {"duplicate": 10} and not original.dropped
    restored.restore("p0", None)
    assert restored.accepted == {} and restored.drifts == {}
    restored.release("p0")
    assert restored.units == {}


def test_each_unit_of_the_monitor_is_checkpointed_and_handed_over_on_its_own() -> None:
    """Units are outcomes partitions: one moves to another monitor with its counts, the others stay."""
    stream = list(outcomes(600, seed=3))
    one, other = monitor_state(), monitor_state()
    for i, outcome in enumerate(stream):
        one.observe(outcome, f"p{i % 3}")
    moved = one.snapshot("p1")
    one.release("p1")
    other.restore("p1", moved)
    assert sorted(one.units) == ["p0", "p2"] and sorted(other.units) == ["p1"]
    assert one.accepted[("rooms", "logistic")] == 400 and other.accepted[("rooms", "logistic")] == 200
    whole = monitor_state()
    for outcome in stream:
        whole.observe(outcome)
    labelled = one.series[("rooms", "logistic")].labels + other.series[("rooms", "logistic")].labels
    assert labelled == whole.series[("rooms", "logistic")].labels


def test_state_saved_before_the_shared_rules_and_the_models_side_moved_still_loads() -> None:
    # A checkpoint names each object's class by module; these left driftline.dedupe and driftline.trainer.
    from driftline.checkpoint import load_state
    from driftline.learning.cleaning import Cleaner
    from driftline.rules.dedupe import RecentIds

    ids = RecentIds(10)
    ids.seen("d1/e1")
    cleaner = Cleaner(StreamConfig(task="binary", features={"x": {"missing": "mean"}}))
    cleaner.clean({"x": 2.0})
    cleaner.stuck = None  # as then: stuck sensors were not recognised yet
    saved = pickle.dumps((ids, cleaner), protocol=2)  # classes named in text: rewritable as they were
    saved = saved.replace(b"driftline.rules.dedupe", b"driftline.dedupe")
    saved = saved.replace(b"driftline.learning.cleaning", b"driftline.trainer.cleaning")
    # The stream's config (StreamConfig, FeatureSpec, DriftSpec) was in the module driftline.config.
    saved = saved.replace(b"driftline.config.streams", b"driftline.config")
    assert b"driftline.trainer.cleaning" in saved and b"driftline.rules" not in saved
    assert b"driftline.config\n" in saved and b"driftline.config.streams" not in saved
    restored_ids, restored_cleaner = load_state(saved)
    assert restored_ids.seen("d1/e1") and not restored_ids.seen("d1/e2")
    assert restored_cleaner.clean({"x": None}).features == {"x": 2.0}
    assert restored_cleaner.stream == StreamConfig(task="binary", features={"x": {"missing": "mean"}})


def test_a_model_slot_saved_before_its_candidates_and_inputs_left_the_slot_module_still_loads() -> None:
    from driftline.checkpoint import load_state
    from driftline.learning.slot import ModelSlot

    slot = ModelSlot("rooms", StreamConfig(task="binary", features={"mode": {"type": "category"}}))
    _, _, predictions = slot.predict({"mode": "eco"})
    slot.learn({"mode": "eco"}, True, predictions)
    saved = pickle.dumps(slot, protocol=2)
    for moved in (b"driftline.learning.candidate", b"driftline.learning.model_input"):
        saved = saved.replace(moved, b"driftline.learning.slot")
    assert b"driftline.learning.candidate" not in saved and b"driftline.learning.model_input" not in saved
    restored = load_state(saved)
    assert restored.inputs.levels.keys() == {"mode"} and restored.served.name == slot.served.name
    assert restored.predict({"mode": "eco"}) == slot.predict({"mode": "eco"})
