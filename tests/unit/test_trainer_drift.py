"""The trainer's reaction to a concept drift: per model key, by the stream's policy, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from driftline.config import settings_from_dict
from driftline.contracts import DriftEvent, SensorEvent
from driftline.trainer.core import TrainerCore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def core_with_devices(tmp_path: Path, policy: str) -> TrainerCore:
    stream = {
        "task": "binary",
        "scope": "device",
        "features": {"x": {}},
        "drift": {"on_alert": policy},
    }
    core = TrainerCore(settings_from_dict({"state_dir": str(tmp_path), "streams": {"machines": stream}}, "test"))
    for i in range(20):
        for device in ("m1", "m2", "m3"):
            core.on_event(
                SensorEvent(
                    event_id=f"e{i}",
                    device_id=device,
                    stream="machines",
                    ts=T0 + timedelta(seconds=i),
                    features={"x": float(i % 3)},
                    label=i % 3 == 0,
                )
            )
    return core


def detection(key: str, level: str = "drift", version: int = 1, ident: str = "d1") -> DriftEvent:
    return DriftEvent(
        drift_id=f"{key}:{ident}", drift_kind="concept", level=level, stream="machines", model_key=key,
        model_name="logistic", model_version=version, detector="ADWIN", position=700,
    )  # fmt: skip


def versions(core: TrainerCore) -> dict[str, int]:
    return {key: slot.version for key, slot in sorted(core.slots.items())}


def test_a_drift_resets_only_the_model_key_that_drifted(tmp_path: Path) -> None:
    core = core_with_devices(tmp_path, "warm_reset")
    assert core.on_drift(detection("machines/m2", "warning", ident="w1")) == "background"
    assert core.on_drift(detection("machines/m2")) == "warm"  # the background model is served
    assert versions(core) == {"machines/m1": 1, "machines/m2": 2, "machines/m3": 1}
    assert core.metrics.drift_reactions.labels("machines", "warm")._value.get() == 1


def test_a_drift_read_twice_or_about_a_replaced_version_changes_nothing(tmp_path: Path) -> None:
    core = core_with_devices(tmp_path, "cold_reset")
    assert core.on_drift(detection("machines/m1")) == "cold"
    assert core.on_drift(detection("machines/m1")) is None  # a replay after a crash
    assert core.on_drift(detection("machines/m1", ident="d2")) is None  # judged version 1, now 2
    assert core.on_drift(detection("machines/nowhere")) is None
    assert versions(core)["machines/m1"] == 2


@pytest.mark.parametrize(("policy", "done", "version"), [("notify", None, 1), ("rollback", None, 1)])
def test_notify_changes_nothing_and_rollback_needs_a_snapshot(
    tmp_path: Path, policy: str, done: str | None, version: int
) -> None:
    core = core_with_devices(tmp_path, policy)
    assert core.on_drift(detection("machines/m3", "warning")) is None  # only warm_reset prepares a model
    assert core.on_drift(detection("machines/m3", ident="d2")) is done
    assert versions(core)["machines/m3"] == version


def test_rollback_serves_the_newest_snapshot_of_that_key(tmp_path: Path) -> None:
    core = core_with_devices(tmp_path, "rollback")
    core.slots["machines/m3"].snapshot(core.snapshot_root, core.signer)
    assert core.on_drift(detection("machines/m3")) == "rollback"
    assert versions(core) == {"machines/m1": 1, "machines/m2": 1, "machines/m3": 2}
