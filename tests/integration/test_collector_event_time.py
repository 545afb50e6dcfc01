"""Event time through the real broker: a clock a year ahead is refused at the collector, and a fast
clock within the allowance does not make another device's events late in the trainer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from collector_fixtures import auth, devices, headers_of, read_topic
from fastapi.testclient import TestClient
from kafka_helpers import TopicReader

from driftline.collector.app import create_app
from driftline.collector.intake import Ingestor
from driftline.collector.publisher import Publisher
from driftline.contracts import Outcome
from driftline.trainer.runner import TrainerRunner

ROOMS = {
    "task": "binary",
    "features": {"temperature": {}},
    "allowed_lateness_s": 60,
    "late_events": "drop",  # a late event would have no outcome at all
    "max_clock_skew_s": 300,
    "outcome_features": True,  # the outcomes show the cleaning steps: none may say "late"
}


def item(event_id: str, device: str, ts: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "device_id": device,
        "stream": "rooms",
        "ts": ts.isoformat(),
        "features": {"temperature": 20.0},
        "label": True,
    }


def test_a_clock_a_year_ahead_is_refused_and_makes_no_other_device_late(make_settings, bootstrap: str) -> None:
    settings = make_settings({"rooms": ROOMS}, devices=devices())
    now = datetime.now(UTC)
    year_ahead = item("a-future", "dev-a", now + timedelta(days=365))
    publisher = Publisher(bootstrap, send_timeout_s=10)
    try:
        with TestClient(create_app(Ingestor(settings, publisher))) as client:

            def post(device: str, *items: dict[str, Any]) -> Any:
                return client.post("/v1/streams/rooms/events", json=list(items), headers=auth(device))

            refused = post("dev-a", year_ahead)
            assert refused.status_code == 422, refused.text
            (problem,) = refused.json()["items"][0]["problems"]
            assert refused.json()["items"][0]["reason"] == "future" and problem["field"] == "ts"
            assert "ahead of the collector's clock" in problem["message"]
            # dev-a's clock runs 250 s fast, within the allowance; dev-b's is right. With one
            # watermark for the stream, dev-b's events would all be 250 s late (60 s allowed) and dropped.
            assert post("dev-a", item("a-fast", "dev-a", now + timedelta(seconds=250))).status_code == 202
            honest = [item(f"b-{i}", "dev-b", now + timedelta(seconds=i)) for i in range(5)]
            assert post("dev-b", *honest).status_code == 202
            # dev-a's own late event is still late against its own clock.
            assert post("dev-a", item("a-late", "dev-a", now)).status_code == 202
    finally:
        publisher.close()

    (dead,) = read_topic(bootstrap, settings.topics.deadletter.name, expected=1)
    assert orjson.loads(dead.value) == year_ahead and headers_of(dead)["reason"] == "future"

    reader = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    try:
        with TrainerRunner(settings, bootstrap, port=0) as runner:
            outcomes = reader.count(6)
            late = runner.core.metrics.dropped.labels("rooms", "late")
            for _ in range(100):  # the late one has no outcome: wait until the trainer counted it
                if late._value.get() == 1:
                    break
                reader.until(lambda seen: True, timeout=0.1)
            assert late._value.get() == 1
        outcomes = reader.drain(idle_s=1)
    finally:
        reader.close()
    assert sorted(o.event_id for o in outcomes) == ["a-fast", *(f"b-{i}" for i in range(5))]
    assert all("late" not in o.cleaning and o.learned for o in outcomes)
