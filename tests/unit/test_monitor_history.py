"""The status page's per-key history: bounded, by event time, versions never rolled back by late outcomes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from driftline.config import settings_from_dict
from driftline.contracts import DriftEvent
from driftline.monitor.decode import OutcomeView
from driftline.monitor.history import History
from driftline.monitor.state import MonitorState
from driftline.monitor.synthetic import START, outcomes
from driftline.monitor.ui import merged, status_data


def views(n: int, **kwargs):
    """Synthetic outcomes as the monitor decodes them."""
    return (OutcomeView.of(o) for o in outcomes(n, **kwargs))


def test_points_are_bucketed_bounded_and_scored_as_accuracy() -> None:
    history = History(every=10, points=5, max_keys=2)
    for i, outcome in enumerate(views(200, error_before=0.0, model_key="k")):
        history.labelled(history.seen(outcome, "binary"), outcome, float(i % 10 == 0))
    key = history.keys["k"]
    assert key.labelled == 200 and len(key.points) == 5  # 20 buckets, the newest 5 kept
    assert [p[1] for p in key.points] == [0.9] * 5
    assert key.points[-1][0] == (START + timedelta(seconds=199)).timestamp()
    for name in ("a", "b", "c"):
        history.seen(next(views(1, model_key=name)), "binary")
    assert list(history.keys) == ["b", "c"]  # an LRU of max_keys


def test_a_new_version_is_marked_once_and_a_late_outcome_of_the_old_one_does_not_roll_it_back() -> None:
    history = History()
    for outcome in views(10, model_key="k"):
        history.seen(outcome, "binary")
    later = START + timedelta(seconds=100)
    history.seen(next(views(1, model_key="k", model_version=2, start=later)), "binary")
    history.seen(next(views(1, model_key="k", model_version=1, prefix="late")), "binary")
    key = history.keys["k"]
    assert key.version == 2
    assert [(kind, text) for _, kind, text in key.marks] == [("version", "logistic v2")]


def concept_drift(position: int) -> DriftEvent:
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


def test_the_state_feeds_the_history_and_a_restore_starts_it_over() -> None:
    settings = settings_from_dict(
        {"streams": {"rooms": {"task": "binary", "features": {"temperature": {}, "humidity": {}}}}}, "test"
    )
    state = MonitorState(settings)
    for i, outcome in enumerate(outcomes(3000, error_before=0.05, error_after=0.6, change_at=1500, seed=1)):
        # The trainer's detection rides on the outcome it made it at.
        drift = [concept_drift(i)] if i == 1700 else None
        state.observe(outcome.model_copy(update={"drift": drift}))
    data = status_data(state)
    [stream] = data["streams"]
    [key] = stream["keys"]
    assert len(key["t"]) == 60 and key["drifts"] == 1
    assert [(m["t"], m["kind"]) for m in key["marks"]] == [((START + timedelta(seconds=1700)).timestamp(), "drift")]
    assert stream["models"][0]["drifts"] == 1
    assert stream["models"][0]["labelled"] == 3000
    assert stream["models"][0]["predict_us_mean"] is None  # the synthetic outcomes carry no timings
    state.observe(next(outcomes(1, prefix="timed")).model_copy(update={"predict_ms": 0.25, "learn_ms": 1.0}))
    state.observe(next(outcomes(1, prefix="again")).model_copy(update={"predict_ms": 0.75}))
    [model] = status_data(state)["streams"][0]["models"]
    assert (model["predict_us_mean"], model["learn_us_mean"]) == (500.0, 1000.0)
    state.restore("p0", state.snapshot("p0"))  # the page starts over; the figures come back
    [stream] = status_data(state)["streams"]
    assert stream["keys"] == [] and stream["models"][0]["labelled"] == 3002
    state.release("p0")
    assert status_data(state)["streams"] == []


def test_the_pages_of_two_monitors_pool_into_the_page_of_one() -> None:
    """With monitor.peers the page adds the other monitors' partitions: as one monitor holding them all."""
    settings = settings_from_dict(
        {"streams": {"rooms": {"task": "binary", "scope": "device", "features": {"temperature": {}}}}}, "test"
    )
    one, first, second = MonitorState(settings), MonitorState(settings), MonitorState(settings)
    for device, unit, error in (("d1", "p0", 0.1), ("d2", "p1", 0.4), ("d3", "p1", 0.3)):
        batch = outcomes(700, model_key=f"rooms/{device}", device_id=device, error_before=error, seed=len(device))
        for i, outcome in enumerate(batch):
            outcome = outcome.model_copy(
                update={"label_delay_s": float(i % 7), "predict_ms": 0.01 * (i % 5), "outcome_id": f"{device}:{i}"}
            )
            one.observe(outcome, unit)
            (first if unit == "p0" else second).observe(outcome, unit)
    whole, pooled = status_data(one), merged([status_data(first), status_data(second)], ["http://m3:8002"])
    assert (pooled["partitions"], pooled["monitors"], pooled["missing"]) == (["0", "1"], 2, ["http://m3:8002"])
    [expected], [got] = whole["streams"][0]["models"], pooled["streams"][0]["models"]
    for name, value in expected.items():
        assert got[name] == (pytest.approx(value) if isinstance(value, float) else value), name
    assert sorted(k["model_key"] for k in pooled["streams"][0]["keys"]) == ["rooms/d1", "rooms/d2", "rooms/d3"]
