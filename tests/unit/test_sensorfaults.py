"""Sensor faults told apart from drift: a stuck sensor's repeated readings, spikes and dropouts read from cleaning."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from driftline.config.streams import StreamConfig
from driftline.learning.cleaning import Cleaner
from driftline.rules.sensorfaults import StuckReadings, fault_of


def test_a_run_of_equal_readings_is_stuck_once_when_it_reaches_the_count_and_a_change_ends_it() -> None:
    stuck = StuckReadings(after=3)
    readings = [1.5, 1.5, 1.5, 1.5, 2.0, 2.0, 2.0]
    assert [stuck.see("d", {"x": v}) for v in readings] == [[], [], ["x"], [], [], [], ["x"]]


def test_runs_are_per_device_and_only_numbers_count() -> None:
    stuck = StuckReadings(after=2)
    # Two devices alternating the same value: neither repeats its own reading.
    assert [stuck.see(d, {"x": 1.0}) for d in ("a", "b")] == [[], []]
    assert stuck.see("a", {"x": 2.0, "state": "on", "count": 3}) == []
    assert stuck.see("a", {"x": 2.0, "state": "on", "count": 3}) == ["x"]  # a category or a count may repeat


def test_the_device_seen_least_recently_is_forgotten_beyond_the_bound() -> None:
    stuck = StuckReadings(after=2, devices=2)
    for device in ("a", "b", "a", "c"):  # c's arrival forgets b, not a (seen again since)
        stuck.see(device, {"x": 1.0})
    assert list(stuck.runs) == ["a", "c"] and stuck.see("b", {"x": 1.0}) == []
    with pytest.raises(ValueError, match="at least 2 readings"):
        StuckReadings(after=1)


def test_cleaning_steps_read_as_the_fault_they_show() -> None:
    assert [fault_of(s) for s in ("clipped:t", "rejected:t", "out_of_range:t", "huge:t")] == [("spike", "t")] * 4
    assert [fault_of(s) for s in ("imputed:h", "missing:h", "unimputable:h")] == [("dropout", "h")] * 3
    assert [fault_of(s) for s in ("stuck:v", "converted:t", "late", "unknown_feature:z")] == [
        ("stuck", "v"), None, None, None
    ]  # fmt: skip


def test_the_cleaner_reports_a_stuck_sensor_as_a_step_and_keeps_the_reading() -> None:
    stream = StreamConfig(task="binary", features={"t": {}, "h": {}}, stuck_after=3)
    cleaner = Cleaner(stream)
    steps = [cleaner.clean({"t": 20.0, "h": 40.0 + i}, device="d1").steps for i in range(4)]
    assert steps == [[], [], ["stuck:t"], []]
    assert cleaner.clean({"t": 20.0, "h": 50.0}, device="d1").features == {"t": 20.0, "h": 50.0}
    # Checkpointed with the cleaner: the run goes on where it was.
    restored = pickle.loads(pickle.dumps(cleaner))
    assert restored.stuck is not None and restored.stuck.runs == cleaner.stuck.runs  # type: ignore[union-attr]
    # 0 turns the check off.
    off = Cleaner(StreamConfig(task="binary", features={"t": {}}, stuck_after=0))
    assert [off.clean({"t": 1.0}, device="d").steps for _ in range(20)] == [[]] * 20 and off.stuck is None
    with pytest.raises(ValidationError, match="at least 2 readings"):
        StreamConfig(task="binary", features={"t": {}}, stuck_after=1)


def test_a_cleaner_pickled_before_stuck_sensors_were_recognised_restores_with_none_seen() -> None:
    cleaner = Cleaner(StreamConfig(task="binary", features={"t": {}}))
    state = cleaner.__getstate__()
    del state["stuck"]
    old = Cleaner.__new__(Cleaner)
    old.__setstate__(state)
    assert old.stuck is None and old.clean({"t": 1.0}, device="d").features == {"t": 1.0}
