"""The accuracy estimated from the predictions' confidence, before labels, in the monitor's state and metrics."""

from __future__ import annotations

from prometheus_client import generate_latest

from driftline.config import settings_from_dict
from driftline.monitor.estimate import ConfidenceAccuracy
from driftline.monitor.exposition import registry_for
from driftline.monitor.state import MonitorState
from driftline.monitor.synthetic import outcomes

ROOMS = {"task": "binary", "features": {"temperature": {}, "humidity": {}}}


def test_the_estimate_is_the_mean_probability_of_the_predictions_over_a_window() -> None:
    estimate = ConfidenceAccuracy(window=3)
    assert estimate.get() is None
    estimate.update("UP", {"UP": 0.9, "DOWN": 0.1})
    estimate.update(True, None)  # no probabilities: nothing to go on
    assert estimate.get() == 0.9
    for p in (0.8, 0.6, 0.7):
        estimate.update(False, {"True": 1 - p, "False": p})
    assert abs(estimate.get() - 0.7) < 1e-12  # the 0.9 left the window


def test_the_monitor_estimates_accuracy_from_outcomes_whose_labels_have_not_arrived() -> None:
    state = MonitorState(settings_from_dict({"streams": {"rooms": ROOMS}}), window=100)
    unlabelled = [o.model_copy(update={"label": None, "learned": False}) for o in outcomes(150, seed=3)]
    for outcome in unlabelled:
        state.observe(outcome)
    series = state.series[("rooms", "logistic")]
    assert sum(series.labels.values()) == 0  # nothing realised yet
    expected = [o.proba[str(o.prediction)] for o in unlabelled][-100:]
    assert abs(series.confidence.get() - sum(expected) / 100) < 1e-9

    text = generate_latest(registry_for(state)).decode()
    line = next(x for x in text.splitlines() if x.startswith("driftline_accuracy_estimated{"))
    assert 'method="confidence"' in line and 'stream="rooms"' in line and 'window="rolling"' in line
    assert abs(float(line.split()[-1]) - sum(expected) / 100) < 1e-9
    # Realised accuracy has no sample yet: the estimate is not passed off as it.
    assert not any(x.startswith("driftline_accuracy{") for x in text.splitlines())


def test_a_label_arriving_later_does_not_count_the_prediction_twice() -> None:
    state = MonitorState(settings_from_dict({"streams": {"rooms": ROOMS}}), window=100)
    for outcome in outcomes(20, seed=4):
        state.observe(outcome.model_copy(update={"label": None, "outcome_id": outcome.outcome_id + ":p"}))
        state.observe(outcome.model_copy(update={"label_delay_s": 5.0}))
    assert state.series[("rooms", "logistic")].confidence.count == 20


def test_a_regression_stream_has_no_estimate() -> None:
    stream = {"task": "regression", "features": {"temperature": {}, "humidity": {}}}
    state = MonitorState(settings_from_dict({"streams": {"rooms": stream}}))
    for outcome in outcomes(10):
        state.observe(outcome.model_copy(update={"label": 1.5, "prediction": 1.0, "proba": None}))
    assert state.series[("rooms", "logistic")].confidence is None
    assert "driftline_accuracy_estimated{" not in generate_latest(registry_for(state)).decode()
