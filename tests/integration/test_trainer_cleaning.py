"""Each cleaning rule, through the real broker: events in, outcomes (or their absence) and counters out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from kafka_helpers import TopicReader, produce

from driftline.contracts import Outcome, SensorEvent
from driftline.trainer.runner import TrainerRunner

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STREAM = {
    "task": "binary",
    "model": "logistic",
    "outcome_features": True,  # the outcomes show what cleaning made of each event
    "late_events": "drop",
    "allowed_lateness_s": 60,
    "features": {
        "temp": {"unit": "degC", "min": -20, "max": 50, "missing": "mean"},
        "hum": {"unit": "percent", "min": 0, "max": 100, "missing": "median", "out_of_range": "missing"},
        "co2": {"unit": "ppm", "min": 300, "max": 5000, "missing": "last", "out_of_range": "reject"},
        "mode": {"type": "category", "missing": "constant", "fill": "auto"},
        "door": {"type": "bool", "missing": "drop"},
    },
}
BASE = {"temp": 20.0, "hum": 40.0, "co2": 400.0, "mode": "eco", "door": False}

# (event id, seconds after T0, feature changes, units): sent in this order, all from device d1.
SCRIPT: list[tuple[str, int, dict[str, Any], dict[str, str] | None]] = [
    ("ok-1", 0, {}, None),
    ("ok-2", 10, {"temp": 24.0, "hum": 60.0, "co2": 500.0}, None),
    ("fahrenheit", 20, {"temp": 68.0}, {"temp": "degF"}),
    ("too-hot", 30, {"temp": 80.0}, None),
    ("no-temp", 40, {"temp": None}, None),
    ("wet", 50, {"hum": 150.0}, None),
    ("co2-absurd", 60, {"co2": 9000.0}, None),
    ("no-co2", 70, {"co2": None}, None),
    ("no-mode", 80, {"mode": None}, None),
    ("no-door", 90, {"door": None}, None),
    ("extra", 100, {"bogus": 1.0}, None),
    ("ok-2", 110, {}, None),  # a duplicate id
    ("late", 0, {}, None),  # 110 s behind the newest event, 60 s allowed
    ("typo", 120, {"temp": "hot"}, None),
]


@pytest.fixture(scope="module")
def cleaning_run(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Outcome], str]:
    from conftest import unique_topics
    from driftline.config import settings_from_dict
    from driftline.kafkaio.topics import ensure_topics

    settings = settings_from_dict(
        {
            "kafka": {"bootstrap_servers": bootstrap},
            "topics": unique_topics("clean"),
            "trainer": {"group_id": f"trainer-{uuid.uuid4().hex[:8]}"},
            "state_dir": str(tmp_path_factory.mktemp("clean")),
            "streams": {"rooms": STREAM},
        }
    )
    ensure_topics(bootstrap, settings.topics)
    events = [
        SensorEvent(
            event_id=event_id,
            device_id="d1",
            stream="rooms",
            ts=T0 + timedelta(seconds=seconds),
            features={**BASE, **changes},
            units=units,
            label=True,
        )
        for event_id, seconds, changes, units in SCRIPT
    ]
    produce(bootstrap, settings.topics.events.name, (("rooms", e) for e in events))
    reader = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    expected = len({e for e, *_ in SCRIPT}) - 3  # the duplicate, the absurd CO2 and the missing door
    with TrainerRunner(settings, bootstrap, port=0) as runner:
        outcomes = reader.count(expected - 1)  # ... and the late one
        # Every event was consumed once the counter says so; no outcome can still be on its way.
        metrics = ""
        for _ in range(100):
            metrics = httpx.get(f"{runner.url}/metrics").text
            if 'driftline_trainer_events_consumed_total{stream="rooms"} 14.0' in metrics:
                break
            reader.until(lambda seen: True, timeout=0.1)
        outcomes = reader.seen
    reader.close()
    return {o.event_id: o for o in outcomes}, metrics


def test_valid_event_passes_untouched(cleaning_run) -> None:
    outcomes, _ = cleaning_run
    assert outcomes["ok-1"].features == {"temp": 20.0, "hum": 40.0, "co2": 400.0, "mode": "eco", "door": False}
    assert outcomes["ok-1"].cleaning == []


def test_unit_is_converted(cleaning_run) -> None:
    outcome = cleaning_run[0]["fahrenheit"]
    assert outcome.features["temp"] == pytest.approx(20.0)
    assert outcome.cleaning == ["converted:temp"]


def test_out_of_range_is_clipped(cleaning_run) -> None:
    outcome = cleaning_run[0]["too-hot"]
    assert outcome.features["temp"] == 50.0 and outcome.cleaning == ["clipped:temp"]


def test_missing_is_imputed_with_the_running_mean(cleaning_run) -> None:
    outcome = cleaning_run[0]["no-temp"]
    assert outcome.features["temp"] == pytest.approx((20 + 24 + 20 + 50) / 4)
    assert outcome.cleaning == ["imputed:temp"]


def test_out_of_range_as_missing_is_imputed_with_the_median(cleaning_run) -> None:
    outcome = cleaning_run[0]["wet"]
    assert outcome.features["hum"] == pytest.approx(40.0)  # median of 40, 60, 40, 40, 40
    assert outcome.cleaning == ["out_of_range:hum", "imputed:hum"]


def test_out_of_range_reject_drops_the_event(cleaning_run) -> None:
    outcomes, metrics = cleaning_run
    assert "co2-absurd" not in outcomes
    assert 'driftline_trainer_events_dropped_total{reason="out_of_range",stream="rooms"} 1.0' in metrics


def test_missing_is_imputed_with_the_last_value(cleaning_run) -> None:
    outcome = cleaning_run[0]["no-co2"]
    assert outcome.features["co2"] == 400.0 and outcome.cleaning == ["imputed:co2"]


def test_missing_category_gets_the_constant(cleaning_run) -> None:
    assert cleaning_run[0]["no-mode"].features["mode"] == "auto"


def test_missing_with_drop_policy_drops_the_event(cleaning_run) -> None:
    outcomes, metrics = cleaning_run
    assert "no-door" not in outcomes
    assert 'driftline_trainer_events_dropped_total{reason="missing",stream="rooms"} 1.0' in metrics


def test_unknown_feature_is_dropped(cleaning_run) -> None:
    outcomes, metrics = cleaning_run
    assert "bogus" not in outcomes["extra"].features
    assert outcomes["extra"].cleaning == ["unknown_feature:bogus"]
    counter = 'driftline_trainer_cleaning_steps_total{feature="(unknown)",step="unknown_feature",stream="rooms"}'
    assert f"{counter} 1.0" in metrics


def test_duplicate_is_dropped(cleaning_run) -> None:
    outcomes, metrics = cleaning_run
    assert outcomes["ok-2"].features["temp"] == 24.0  # the first one, not the copy
    assert 'driftline_trainer_events_dropped_total{reason="duplicate",stream="rooms"} 1.0' in metrics


def test_late_event_is_dropped_as_configured(cleaning_run) -> None:
    outcomes, metrics = cleaning_run
    assert "late" not in outcomes
    assert 'driftline_trainer_events_dropped_total{reason="late",stream="rooms"} 1.0' in metrics


def test_wrong_type_is_imputed(cleaning_run) -> None:
    outcome = cleaning_run[0]["typo"]
    assert outcome.cleaning == ["wrong_type:temp", "imputed:temp"]


def test_every_cleaned_event_was_predicted_then_learned(cleaning_run) -> None:
    outcomes, metrics = cleaning_run
    assert len(outcomes) == 10
    assert all(o.learned and o.prediction is not None for o in outcomes.values())
    assert 'driftline_trainer_events_learned_total{stream="rooms"} 10.0' in metrics
