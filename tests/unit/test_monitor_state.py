"""MonitorState without Kafka: dedupe, holdout, delayed labels, version resets, bounds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from driftline.config import settings_from_dict
from driftline.config.base import ConfigError
from driftline.contracts import DriftEvent, Outcome
from driftline.monitor.state import MAX_CLASSES, MonitorState
from driftline.monitor.synthetic import START, outcomes
from driftline.rules.dedupe import RecentIds
from driftline.rules.scores import ScoreError, Scores

ROOMS = {"task": "binary", "features": {"temperature": {}, "humidity": {}}}


def state_for(streams: dict, **kwargs) -> MonitorState:
    return MonitorState(settings_from_dict({"streams": streams}), **kwargs)


def test_duplicate_outcomes_are_dropped_within_a_bounded_memory() -> None:
    ids = RecentIds(2)  # the last two at least, twice as many at most
    assert [ids.seen(x) for x in "abacdea"] == [False, False, True, False, False, False, False]
    state = state_for({"rooms": ROOMS}, dedupe=True)
    batch = list(outcomes(50))
    for o in batch + batch:
        state.observe(o)
    assert state.accepted[("rooms", "logistic")] == 50 and state.dropped["duplicate"] == 50


def test_outcomes_are_deduplicated_only_behind_an_at_least_once_trainer() -> None:
    """An exactly-once trainer writes each outcome once: then ids are not even looked at."""
    assert not settings_from_dict({}).monitor.dedupes(settings_from_dict({}).trainer)
    at_least_once = settings_from_dict({"trainer": {"exactly_once": False}})
    assert at_least_once.monitor.dedupes(at_least_once.trainer)
    forced = settings_from_dict({"monitor": {"port": 0, "dedupe": "on"}})
    assert forced.monitor.dedupes(forced.trainer)
    off = settings_from_dict({"monitor": {"port": 0, "dedupe": "off"}, "trainer": {"exactly_once": False}})
    assert not off.monitor.dedupes(off.trainer)
    state = state_for({"rooms": ROOMS}, dedupe=False)
    batch = list(outcomes(50))
    for o in batch + batch:
        state.observe(o)
    assert state.accepted[("rooms", "logistic")] == 100 and state.dropped["duplicate"] == 0


def test_holdout_is_scored_apart_from_prequential() -> None:
    state = state_for({"rooms": ROOMS})
    for i, o in enumerate(outcomes(100)):
        state.observe(o.model_copy(update={"holdout": i % 4 == 0}))
    series = state.series[("rooms", "logistic")]
    assert series.labels == {"prequential": 75, "holdout": 25}
    assert set(series.scores) == {"prequential", "holdout"}


def test_a_delayed_label_counts_its_prediction_once_and_records_the_delay() -> None:
    state = state_for({"rooms": ROOMS})
    first = next(outcomes(1))
    state.observe(first.model_copy(update={"label": None, "outcome_id": "k:e0:predicted"}))
    state.observe(first.model_copy(update={"label_delay_s": 42.0}))
    series = state.series[("rooms", "logistic")]
    assert series.predictions == 1 and sum(series.labels.values()) == 1
    assert series.label_delay.count == 1 and series.label_delay.total == 42.0


def test_a_new_model_version_raises_the_series_version_and_a_late_one_does_not_lower_it() -> None:
    state = state_for({"rooms": ROOMS})
    for o in outcomes(300):
        state.observe(o)
    for o in outcomes(10, model_version=2, prefix="v2-", start=START + timedelta(seconds=300)):
        state.observe(o)
    assert state.series[("rooms", "logistic")].version == 2
    state.observe(next(outcomes(1, model_version=1, prefix="late")))
    assert state.series[("rooms", "logistic")].version == 2
    assert state.series[("rooms", "logistic")].labels["prequential"] == 311


def test_per_device_series_only_when_asked_and_capped() -> None:
    state = state_for({"rooms": ROOMS, "halls": {**ROOMS, "per_device_metrics": True}}, max_device_series=2)
    for device in ("a", "b", "c"):
        for stream in ("rooms", "halls"):
            for o in outcomes(5, stream=stream, device_id=device, prefix=device):
                state.observe(o)
    assert sorted(state.devices) == [("halls", "logistic", "a"), ("halls", "logistic", "b")]
    assert state.device_overflow == {"halls": 5}


def test_predicted_classes_are_capped() -> None:
    state = state_for({"kinds": {"task": "multiclass", "features": {"x": {}}}})
    for i in range(MAX_CLASSES + 5):
        o = next(outcomes(1, stream="kinds", features=("x",), prefix=f"c{i}-"))
        state.observe(o.model_copy(update={"prediction": f"class{i}", "label": f"class{i}", "proba": None}))
    classes = state.series[("kinds", "logistic")].classes
    assert len(classes) == MAX_CLASSES + 1 and classes["__other__"] == 5


def test_regression_scores_and_unscorable_outcomes() -> None:
    scores = Scores("regression", window=10)
    for y, p in ((1.0, 2.0), (3.0, 3.0)):
        scores.update(y, p, None)
    assert scores.values()[("mae", "cumulative")] == 0.5
    with pytest.raises(ScoreError, match="must be numbers"):
        scores.update("hot", 1.0, None)
    state = state_for({"plant": {"task": "regression", "features": {"temperature": {}, "humidity": {}}}})
    state.observe(next(outcomes(1, stream="plant")))  # a bool label on a regression stream
    assert state.dropped["unscorable"] == 1


def test_binary_proba_feeds_roc_auc_and_log_loss() -> None:
    state = state_for({"rooms": ROOMS})
    for o in outcomes(200):
        state.observe(o)
    values = state.series[("rooms", "logistic")].scores["prequential"].values()
    assert 0.8 < values[("roc_auc", "cumulative")] <= 1.0 and values[("log_loss", "rolling")] > 0


def test_a_binary_detector_on_feature_values_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"streams.rooms.drift.data: DDM judges 0/1 errors"):
        state_for({"rooms": {**ROOMS, "drift": {"data": "DDM"}}})
    with pytest.raises(ConfigError, match=r"streams.rooms.drift.concept_params"):
        state_for({"rooms": {**ROOMS, "drift": {"concept_params": {"nope": 1}}}})


def test_unknown_streams_are_counted_not_scored() -> None:
    state = state_for({"rooms": ROOMS})
    o = next(outcomes(1, stream="elsewhere"))
    state.observe(o)
    assert state.dropped["unknown_stream"] == 1 and not state.series
    assert isinstance(o, Outcome) and o.event_ts == START + timedelta(0)


def detection(kind: str = "concept", level: str = "drift", feature: str | None = None, **more) -> DriftEvent:
    """A detection as the trainer carries it on the outcome it made it at."""
    return DriftEvent(
        drift_id=f"rooms:v1:{kind}:{feature or '-'}:{level}:{more.get('position', 1200)}",
        drift_kind=kind,
        level=level,
        stream="rooms",
        model_key="rooms",
        model_name="logistic",
        model_version=1,
        detector="ADWIN" if kind == "concept" else "CUSUM",  # the default detectors of each kind
        feature=feature,
        position=more.pop("position", 1200),
        **more,
    )


def test_the_detections_outcomes_carry_are_counted_once_each_and_every_detector_starts_at_zero() -> None:
    """The trainer judges; the monitor counts what the outcome it judged at carries."""
    state = state_for({"rooms": {**ROOMS, "features": {**ROOMS["features"], "hour": {"drift": False}}}})
    batch = list(outcomes(100))
    state.observe(batch[0])
    # Concept and every watched feature at 0 from the first outcome: increase() then sees the first detection.
    assert state.drifts == {
        ("rooms", "logistic", "concept", "ADWIN", ""): 0,
        ("rooms", "logistic", "data", "CUSUM", "temperature"): 0,
        ("rooms", "logistic", "data", "CUSUM", "humidity"): 0,
    }
    assert state.warnings == {("rooms", "logistic", "concept", "ADWIN", ""): 0}
    detected_at = START + timedelta(hours=5)
    carried = {
        10: [detection(level="warning", position=10)],
        20: [detection(ts=detected_at), detection("data", feature="humidity", position=20)],
        30: [detection("data", "drift", "temperature", position=30, ts=detected_at + timedelta(seconds=1))],
    }
    for i, o in enumerate(batch[1:], start=1):
        state.observe(o.model_copy(update={"drift": carried.get(i)}))
    assert state.drifts == {
        ("rooms", "logistic", "concept", "ADWIN", ""): 1,
        ("rooms", "logistic", "data", "CUSUM", "temperature"): 1,
        ("rooms", "logistic", "data", "CUSUM", "humidity"): 1,
    }
    assert state.warnings == {("rooms", "logistic", "concept", "ADWIN", ""): 1}
    assert state.last_drift_ts[("rooms", "logistic", "concept", "ADWIN", "")] == detected_at.timestamp()
    key = state.history.view()["rooms"]["keys"][0]
    assert (key["drifts"], key["data_drifts"]) == (1, 2)  # the warning is no mark
    assert [m["kind"] for m in key["marks"]] == ["drift", "data", "data"]
    assert state.accepted[("rooms", "logistic")] == 100


def test_a_stream_without_data_drift_counts_no_data_detectors() -> None:
    state = state_for({"rooms": {**ROOMS, "drift": {"data": None}}})
    state.observe(next(outcomes(1)))
    assert state.drifts == {("rooms", "logistic", "concept", "ADWIN", ""): 0}
