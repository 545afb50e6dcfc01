"""MonitorState without Kafka: dedupe, holdout, delayed labels, version resets, bounds."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from driftline.config import ConfigError, settings_from_dict
from driftline.contracts import Outcome
from driftline.dedupe import RecentIds
from driftline.monitor.scores import ScoreError, Scores
from driftline.monitor.state import MAX_CLASSES, MonitorState
from driftline.monitor.synthetic import START, outcomes

ROOMS = {"task": "binary", "features": {"temperature": {}, "humidity": {}}}


def state_for(streams: dict, **kwargs) -> MonitorState:
    return MonitorState(settings_from_dict({"streams": streams}), **kwargs)


def test_duplicate_outcomes_are_dropped_within_a_bounded_memory() -> None:
    ids = RecentIds(2)
    assert [ids.seen(x) for x in ("a", "b", "a", "c", "a")] == [False, False, True, False, False]
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
    assert state.tracks["rooms"].data["humidity"].position == 1  # features fed once


def test_a_new_model_version_restarts_its_detectors() -> None:
    state = state_for({"rooms": ROOMS})
    for o in outcomes(300):
        state.observe(o)
    assert state.tracks["rooms"].concept.detector.position == 300
    for o in outcomes(10, model_version=2, prefix="v2-", start=START + timedelta(seconds=300)):
        state.observe(o)
    assert state.tracks["rooms"].model_version == 2 and state.tracks["rooms"].concept.detector.position == 10
    assert state.series[("rooms", "logistic")].version == 2


def test_a_restarted_trainer_starting_at_version_one_again_is_judged_afresh() -> None:
    state = state_for({"rooms": ROOMS})
    for o in outcomes(300, model_version=7):
        state.observe(o)
    # The restarted trainer's model: version 1, newer events, and a concept change within them.
    restarted = START + timedelta(seconds=1000)
    events = []
    for o in outcomes(3000, model_version=1, prefix="r", start=restarted, error_after=0.5, change_at=1500):
        events += state.observe(o)
    track = state.tracks["rooms"]
    assert track.model_version == 1 and track.concept.detector.position == 3000
    drifts = [e for e in events if e.level == "drift" and e.drift_kind == "concept"]
    assert [e.model_version for e in drifts] == [1] and drifts[0].position > 1500
    # A late outcome of the replaced version 7 (an older event) is scored but starts no new life.
    late = next(outcomes(1, model_version=7, prefix="late", start=START + timedelta(seconds=300)))
    assert state.observe(late) == []
    assert state.tracks["rooms"].model_version == 1 and state.tracks["rooms"].concept.detector.position == 3000
    assert state.series[("rooms", "logistic")].labels["prequential"] == 3301


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


def concept_drifts(state: MonitorState, batch) -> list[tuple[int, str]]:
    """(model version, level) of every concept alarm ``batch`` raised."""
    return [(e.model_version, e.level) for o in batch for e in state.observe(o) if e.drift_kind == "concept"]


def drifting_rooms(**drift: int) -> dict:
    return {"rooms": {**ROOMS, "drift": {"data": None, **drift}}}


def test_a_model_whose_error_only_falls_raises_no_concept_alarm() -> None:
    state = state_for(drifting_rooms(warmup=0))
    learning = outcomes(4000, error_before=0.5, error_after=0.05, change_at=1000, seed=5)
    assert concept_drifts(state, learning) == []
    assert state.tracks["rooms"].concept.detector.falls >= 1  # the fall was seen, and kept quiet


def test_a_new_version_warms_up_before_it_may_alarm() -> None:
    state = state_for(drifting_rooms(warmup=500))
    concept_drifts(state, outcomes(1000, seed=6))
    # Version 2 meets a rise 100 outcomes in: inside its warm-up, so nothing is said of it.
    later = START + timedelta(seconds=1000)
    v2 = outcomes(1500, error_before=0.05, error_after=0.6, change_at=100, model_version=2, prefix="v2-", start=later)
    assert concept_drifts(state, v2) == []


def test_the_cool_down_of_a_drift_outlives_the_reset_it_caused() -> None:
    state = state_for(drifting_rooms(warmup=0, debounce=2000))
    v1 = outcomes(2000, error_before=0.05, error_after=0.6, change_at=1000, seed=7)
    assert [level for _, level in concept_drifts(state, v1) if level == "drift"] == ["drift"]
    # The reset model does well at first, then fails on the same change: no second reset (no loop).
    later = START + timedelta(seconds=2000)
    v2 = outcomes(900, error_before=0.05, error_after=0.6, change_at=300, model_version=2, prefix="v2-", start=later)
    assert [a for a in concept_drifts(state, v2) if a[1] == "drift"] == []
    # Past the cool-down, a new rise is a new change, and alarms again.
    later += timedelta(seconds=900)
    v3 = outcomes(2500, error_before=0.05, error_after=0.6, change_at=1500, model_version=3, prefix="v3-", start=later)
    assert [a for a in concept_drifts(state, v3) if a[1] == "drift"] == [(3, "drift")]


def with_features(batch, make) -> list:
    """``batch`` with each outcome's features replaced by ``make(i)``."""
    return [o.model_copy(update={"features": make(i)}) for i, o in enumerate(batch)]


def data_drifts(state: MonitorState, batch) -> list[tuple[str | None, int]]:
    return [(e.feature, e.position) for o in batch for e in state.observe(o) if e.drift_kind == "data"]


def test_a_category_whose_mix_changes_is_a_data_drift_naming_it() -> None:
    rng = random.Random(11)
    streams = {"rooms": {"task": "binary", "features": {"mode": {"type": "category"}}}}
    before, after = ["eco"] * 6 + ["comfort"] * 3 + ["boost"], ["eco"] + ["comfort"] * 3 + ["boost"] * 6
    stationary = with_features(outcomes(4000, seed=12), lambda i: {"mode": rng.choice(before)})
    assert data_drifts(state_for(streams), stationary) == []
    shifted = with_features(outcomes(4000, seed=13), lambda i: {"mode": rng.choice(before if i < 2000 else after)})
    [(feature, position)] = data_drifts(state_for(streams), shifted)
    assert feature == "mode" and 2000 < position < 2600


def test_a_feature_marked_cyclical_is_not_judged_and_the_cool_down_counts_event_time() -> None:
    streams = {
        "rooms": {
            "task": "binary",
            "features": {"temperature": {}, "hour": {"drift": False}},
            "drift": {"data_debounce": 0, "data_cooldown_s": 3600},
        }
    }
    state = state_for(streams)
    # Two shifts of temperature ten minutes of event time apart (an outcome a second), and an hour
    # of day that wraps: one alarm, for temperature, none for the hour.
    batch = with_features(
        outcomes(3000, seed=14), lambda i: {"temperature": 20.0 + 5 * (i >= 1000) - 5 * (i >= 1600), "hour": i % 24}
    )
    assert [feature for feature, _ in data_drifts(state, batch)] == ["temperature"]
    assert set(state.tracks["rooms"].data) == {"temperature"}
    # Without the cool-down, the second shift alarms too.
    streams["rooms"]["drift"]["data_cooldown_s"] = 0
    assert [feature for feature, _ in data_drifts(state_for(streams), batch)] == ["temperature", "temperature"]
