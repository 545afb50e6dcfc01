"""A checkpoint's per-device keys taken over lazily: dormant until needed, then exactly like the original.

The broker's side: tests/integration/test_trainer_recovery.py (kill -9 at random points, exact outcomes).
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from river import datasets

from driftline.config import settings_from_dict
from driftline.config.settings import Settings
from driftline.contracts import ControlCommand, LabelEvent, OutcomeRecord, SensorEvent
from driftline.trainer.checkpointed import kept_state
from driftline.trainer.core import TrainerCore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = list(datasets.Phishing())
DEVICES = ("d1", "d2", "d3")


def device_settings(tmp_path: Path) -> Settings:
    stream = {"task": "binary", "scope": "device", "features": {name: {} for name in ROWS[0][0]}}
    return settings_from_dict({"state_dir": str(tmp_path), "streams": {"phish": stream}}, "test")


def event(i: int, labelled: bool = True) -> SensorEvent:
    x, y = ROWS[i]
    device = DEVICES[i % len(DEVICES)]
    return SensorEvent(event_id=f"e{i}", device_id=device, stream="phish", ts=T0 + timedelta(seconds=i), features=x,
                       label=y if labelled else None)  # fmt: skip


def comparable(outcome: OutcomeRecord | None) -> dict[str, Any] | None:
    return None if outcome is None else outcome.to_outcome().model_dump(exclude={"ts", "predict_ms", "learn_ms"})


def fed(tmp_path: Path, stop: int) -> TrainerCore:
    core = TrainerCore(device_settings(tmp_path))
    for i in range(stop):
        core.on_event(event(i, labelled=i % 4 != 0))
    return core


def test_restored_keys_stay_dormant_and_a_snapshot_writes_them_back_as_they_came(tmp_path: Path) -> None:
    original = fed(tmp_path, 300)
    keys = sorted(original.slots)
    state = original.snapshot(keys)
    restored = TrainerCore(device_settings(tmp_path))
    assert sorted(restored.restore(state)) == keys
    assert restored.slots == {} and restored.held() == len(keys) == 3
    assert restored.snapshot(keys) == state
    restored.release(keys[:1])
    assert restored.held() == 2


def test_each_key_wakes_when_needed_and_goes_on_exactly_like_the_original(tmp_path: Path) -> None:
    original = fed(tmp_path, 300)
    keys = sorted(original.slots)
    restored = TrainerCore(device_settings(tmp_path))
    restored.restore(original.snapshot(keys))
    # A label of a waiting prediction wakes its key (event 0 of d1 waited for its label).
    label = LabelEvent(stream="phish", device_id="d1", event_id="e0", label=ROWS[0][1], ts=T0)
    assert comparable(restored.on_label(label)) == comparable(original.on_label(label))
    assert sorted(restored.slots) == ["phish/d1"]
    # A command for one key wakes that key only; one for the stream wakes all.
    command = ControlCommand(command_id="c1", action="reset", stream="phish", model_key="phish/d2", mode="cold",
                             issuer="test")  # fmt: skip
    assert [a.status for a in restored.on_command(command)] == [a.status for a in original.on_command(command)]
    assert sorted(restored.slots) == ["phish/d1", "phish/d2"]
    probe = ROWS[999][0]
    assert restored.predict("phish/d3", probe) == original.predict("phish/d3", probe)
    assert sorted(restored.slots) == keys and restored.held() == 3
    after = [comparable(restored.on_event(event(i))) for i in range(300, 600)]
    assert after == [comparable(original.on_event(event(i))) for i in range(300, 600)]


def test_a_checkpoint_from_before_keys_were_frozen_one_by_one_is_restored_whole(tmp_path: Path) -> None:
    original = fed(tmp_path, 60)
    keys = sorted(original.slots)
    frozen: dict[str, bytes] = pickle.loads(original.snapshot(keys))
    old = pickle.dumps({key: kept_state(kept) for key, kept in frozen.items()})
    restored = TrainerCore(device_settings(tmp_path))
    assert sorted(restored.restore(old)) == keys and sorted(restored.slots) == keys
    after = [comparable(restored.on_event(event(i))) for i in range(60, 120)]
    assert after == [comparable(original.on_event(event(i))) for i in range(60, 120)]


def test_a_key_unused_for_a_whole_checkpoint_interval_sleeps_and_wakes_exactly_where_it_was(tmp_path: Path) -> None:
    sleeper, awake = fed(tmp_path, 300), fed(tmp_path, 300)
    keys = sorted(sleeper.slots)
    sleeper.snapshot(keys)  # every key was used since the start: all stay live
    assert sorted(sleeper.slots) == keys
    for i in range(300, 330, 3):  # only d1's events (i % 3 == 0)
        assert comparable(sleeper.on_event(event(i))) == comparable(awake.on_event(event(i)))
    state = sleeper.snapshot(keys)
    assert sorted(sleeper.slots) == ["phish/d1"] and sleeper.held() == 3
    assert sleeper.snapshot(keys) == state, "a sleeping key's bytes are written back as they came"
    assert sleeper.slots == {}, "d1, unused since the last snapshot, sleeps too"
    after = [comparable(sleeper.on_event(event(i))) for i in range(330, 600)]
    assert after == [comparable(awake.on_event(event(i))) for i in range(330, 600)]
    assert sorted(sleeper.slots) == keys


def test_a_stream_scoped_key_never_sleeps(tmp_path: Path) -> None:
    stream = {"task": "binary", "features": {name: {} for name in ROWS[0][0]}}
    core = TrainerCore(settings_from_dict({"state_dir": str(tmp_path), "streams": {"phish": stream}}, "test"))
    core.on_event(event(0))
    core.snapshot(["phish"])
    core.snapshot(["phish"])
    assert list(core.slots) == ["phish"]
