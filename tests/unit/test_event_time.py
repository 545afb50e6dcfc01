"""Event time: the collector's bound on clocks running ahead, and lateness judged per device in the trainer."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from driftline.collector.ingest import Accepted, Rejected, StreamRules, check_items
from driftline.config import settings_from_dict
from driftline.config.streams import StreamConfig
from driftline.contracts import LabelEvent, SensorEvent
from driftline.learning.cleaning import Cleaner
from driftline.trainer.core import TrainerCore

RECEIVED = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


def rules(**stream: object) -> StreamRules:
    return StreamRules.of("rooms", StreamConfig(**{"task": "binary", "features": {"t": {}}, **stream}))


def item(i: int, ts: datetime, device: str = "dev") -> dict:
    return {"event_id": f"e{i}", "device_id": device, "stream": "rooms", "ts": ts.isoformat(), "features": {"t": 1.0}}


def test_an_event_further_ahead_than_the_skew_allows_is_rejected_naming_the_problem() -> None:
    items = [item(0, RECEIVED + timedelta(seconds=299)), item(1, RECEIVED + YEAR), item(2, RECEIVED - YEAR)]
    results = check_items(items, SensorEvent, "rooms", "dev", rules(), received=RECEIVED)
    assert [type(r) for r in results] == [Accepted, Rejected, Accepted]  # the past is lateness's business
    rejected = results[1]
    assert isinstance(rejected, Rejected) and rejected.reason == "future"
    ((field, message),) = rejected.problems
    assert field == "ts" and "31536000 s ahead of the collector's clock" in message
    assert "streams.rooms.max_clock_skew_s allows 300 s" in message


def test_the_skew_allowance_is_per_stream_and_applies_to_labels_too() -> None:
    label = {"stream": "rooms", "device_id": "dev", "event_id": "e0", "label": True}
    late_label = {**label, "ts": (RECEIVED + timedelta(seconds=61)).isoformat()}
    (result,) = check_items([late_label], LabelEvent, "rooms", "dev", rules(max_clock_skew_s=60), received=RECEIVED)
    assert isinstance(result, Rejected) and result.reason == "future"
    (result,) = check_items([late_label], LabelEvent, "rooms", "dev", rules(), received=RECEIVED)
    assert isinstance(result, Accepted)


def test_clamping_sets_the_time_to_when_the_collector_received_it() -> None:
    items = [item(0, RECEIVED + YEAR), item(1, RECEIVED + timedelta(seconds=10))]
    results = check_items(items, SensorEvent, "rooms", "dev", rules(future_events="clamp"), received=RECEIVED)
    assert all(isinstance(r, Accepted) for r in results)
    clamped, kept = results
    assert isinstance(clamped, Accepted) and isinstance(kept, Accepted)
    assert clamped.clamped and clamped.message.ts == RECEIVED
    assert SensorEvent.model_validate_json(clamped.value).ts == RECEIVED  # what goes to Kafka
    assert not kept.clamped and kept.message.ts == RECEIVED + timedelta(seconds=10)


def cleaner(**stream: object) -> Cleaner:
    config = {"task": "binary", "features": {"a": {}}, "allowed_lateness_s": 60, "late_events": "drop", **stream}
    return Cleaner(StreamConfig(**config))


def test_one_devices_fast_clock_does_not_make_another_devices_events_late() -> None:
    c = cleaner()
    assert c.clean({"a": 1}, ts=RECEIVED + YEAR, device="fast").dropped is None
    for i in range(5):
        assert c.clean({"a": 1}, ts=RECEIVED + timedelta(seconds=i), device="honest").steps == []
    # Each device is still judged against its own newest event.
    assert c.clean({"a": 1}, ts=RECEIVED, device="fast").dropped == "late"
    assert c.clean({"a": 1}, ts=RECEIVED - timedelta(seconds=61), device="honest").dropped == "late"
    assert c.clean({"a": 1}, ts=RECEIVED - timedelta(seconds=50), device="honest").dropped is None


def test_the_watermarks_are_bounded_forgetting_the_device_touched_least_recently() -> None:
    c = cleaner(max_watermark_devices=3)
    for device in ("d0", "d1", "d2"):
        c.clean({"a": 1}, ts=RECEIVED, device=device)
    c.clean({"a": 1}, ts=RECEIVED, device="d0")  # d0 touched again: d1 is now the oldest
    c.clean({"a": 1}, ts=RECEIVED, device="d3")
    assert list(c.watermarks) == ["d2", "d0", "d3"]
    assert c.clean({"a": 1}, ts=RECEIVED - YEAR, device="d1").dropped is None  # forgotten: judged afresh
    assert c.clean({"a": 1}, ts=RECEIVED - YEAR, device="d3").dropped == "late"


def test_serving_does_not_move_a_watermark() -> None:
    c = cleaner()
    c.clean({"a": 1}, ts=RECEIVED + YEAR, device="d", learn=False)
    assert c.watermarks == {}


def test_watermarks_are_part_of_the_trainers_checkpoint(tmp_path: Path) -> None:
    stream = {"task": "binary", "features": {"a": {}}, "allowed_lateness_s": 60, "late_events": "drop"}
    settings = settings_from_dict({"state_dir": str(tmp_path), "streams": {"rooms": stream}}, "test")

    def event(i: int, device: str, ts: datetime) -> SensorEvent:
        return SensorEvent(event_id=f"e{i}", device_id=device, stream="rooms", ts=ts, features={"a": 1.0}, label=True)

    core = TrainerCore(settings)
    assert core.on_event(event(0, "fast", RECEIVED + YEAR)) is not None
    assert core.on_event(event(1, "honest", RECEIVED)) is not None
    state = core.snapshot(["rooms"])

    restored = TrainerCore(settings)
    restored.restore(state)
    assert restored.keys["rooms"].cleaner.watermarks == {"fast": RECEIVED + YEAR, "honest": RECEIVED}
    assert restored.on_event(event(2, "honest", RECEIVED + timedelta(seconds=1))) is not None
    assert restored.on_event(event(3, "fast", RECEIVED)) is None  # still late against its own clock
    assert restored.metrics.dropped.labels("rooms", "late")._value.get() == 1


def test_a_checkpoint_from_before_per_device_watermarks_restores() -> None:
    c = cleaner()
    c.clean({"a": 1}, ts=RECEIVED, device="d")
    # How a Cleaner with one stream-wide ``watermark`` slot was pickled: (None, its slots).
    legacy = (None, {"stream": c.stream, "_state": c._state, "watermark": RECEIVED})
    old = Cleaner.__new__(Cleaner)
    old.__setstate__(legacy)
    assert old.watermarks == {} and old.stream is c.stream
    assert pickle.loads(pickle.dumps(c)).watermarks == {"d": RECEIVED}


@pytest.mark.parametrize("policy", ["reject", "clamp"])
def test_the_policy_is_configured_per_stream(policy: str) -> None:
    assert rules(future_events=policy).clamp_future is (policy == "clamp")


def test_clamped_events_are_counted() -> None:
    from driftline.collector.intake import Ingestor
    from driftline.collector.publisher import Publisher

    stream = {"task": "binary", "features": {"t": {}}, "future_events": "clamp"}
    ingestor = Ingestor(settings_from_dict({"streams": {"rooms": stream}}, "test"), Publisher("127.0.0.1:1"))
    now = datetime.now(UTC)
    results = ingestor.check([item(0, now + YEAR), item(1, now)], "events", "rooms", "dev")
    ingestor.count(results, "rooms", "http")
    assert ingestor.metrics.clamped.labels("rooms", "http")._value.get() == 1
    assert ingestor.metrics.accepted.labels("rooms", "http")._value.get() == 2


def test_the_bound_holds_whatever_the_items_time_zones() -> None:
    plus2, minus5 = timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))
    limit = RECEIVED + timedelta(seconds=300)
    times = [limit, limit + timedelta(seconds=1)]
    stamps = [ts.astimezone(zone) for zone in (plus2, UTC, minus5) for ts in times]
    items = [item(i, ts) for i, ts in enumerate(stamps)]
    results = check_items(items, SensorEvent, "rooms", "dev", rules(), received=RECEIVED)
    assert [isinstance(r, Accepted) for r in results] == [True, False] * 3
