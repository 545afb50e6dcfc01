"""The accuracy estimated from the predictions' confidence before labels, its calibration on the labelled ones,
in the monitor's state and metrics."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from driftline.config import settings_from_dict
from driftline.monitor.estimate import METHODS, MIN_LABELS, REFIT_EVERY, Calibration, ConfidenceAccuracy
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


# The calibration: confidence -> chance of being right, from the labelled predictions


def labelled(calibration: Calibration, pairs: list[tuple[float, int, int]]) -> None:
    """Add (confidence, right, wrong) counts."""
    for confidence, right, wrong in pairs:
        for _ in range(right):
            calibration.add(confidence, True)
        for _ in range(wrong):
            calibration.add(confidence, False)


def test_isotonic_calibration_is_exact_where_the_shares_already_rise() -> None:
    calibration = Calibration(window=1000)
    labelled(calibration, [(0.6, 30, 70), (0.7, 50, 50), (0.9, 95, 5)])
    xs, ys = calibration.fit()
    assert list(xs) == pytest.approx([0.6, 0.7, 0.9]) and list(ys) == pytest.approx([0.3, 0.5, 0.95])
    # Between the confidences seen it interpolates; beyond them it holds the nearest value.
    got = calibration.calibrated(np.array([0.5, 0.6, 0.8, 1.0]))
    assert list(got) == pytest.approx([0.3, 0.3, 0.725, 0.95])


def test_isotonic_calibration_pools_adjacent_violators_into_a_monotone_bounded_fit() -> None:
    calibration = Calibration(window=1000)
    # 0.8 was right less often than 0.7: the two pool into their weighted mean, (60 + 20) / (80 + 40).
    labelled(calibration, [(0.6, 20, 60), (0.7, 60, 20), (0.8, 20, 20), (0.95, 99, 1)])  # 300: fitted at the 300th
    _, ys = calibration.fit()
    assert list(ys) == pytest.approx([0.25, 80 / 120, 80 / 120, 0.99])
    rng = np.random.default_rng(0)
    for method in METHODS:
        noisy = Calibration(window=2000, method=method)
        for confidence in rng.uniform(0.5, 1.0, 2000):
            noisy.add(float(confidence), bool(rng.random() < confidence**3))
        values = noisy.calibrated(np.linspace(0, 1, 201))
        assert np.all(np.diff(values) >= -1e-12), method
        assert np.all((values >= 0) & (values <= 1)), method


def test_too_few_labels_give_no_calibrated_estimate_and_the_raw_one_stays() -> None:
    estimate = ConfidenceAccuracy(window=50)
    for _ in range(50):
        estimate.update("UP", {"UP": 0.6, "DOWN": 0.4})
    for i in range(MIN_LABELS - 1):
        estimate.learn("UP", {"UP": 0.6, "DOWN": 0.4}, right=i % 10 != 0)
    assert estimate.calibrated() is None and estimate.best() == (pytest.approx(0.6), "confidence")
    estimate.learn("UP", {"UP": 0.6, "DOWN": 0.4}, right=True)
    assert estimate.calibration_labels == MIN_LABELS
    assert estimate.calibrated() == pytest.approx(0.9)  # 90 of the 100 predictions at 0.6 were right
    assert estimate.best() == (pytest.approx(0.9), "calibrated") and estimate.get() == pytest.approx(0.6)


def test_the_calibration_window_rolls_and_refits_every_so_many_labels() -> None:
    calibration = Calibration(window=200)
    labelled(calibration, [(0.7, 200, 0)])
    assert calibration.calibrated(np.array([0.7]))[0] == 1.0
    labelled(calibration, [(0.7, 0, REFIT_EVERY - 1)])
    assert calibration.calibrated(np.array([0.7]))[0] == 1.0  # not refitted yet
    labelled(calibration, [(0.7, 0, 1)])
    assert calibration.calibrated(np.array([0.7]))[0] == pytest.approx(0.5)  # half the window is the wrong ones
    labelled(calibration, [(0.7, 0, 100)])
    assert calibration.labels == 200 and calibration.calibrated(np.array([0.7]))[0] == 0.0


def test_the_calibration_pickles_small_and_fits_alike_after() -> None:
    estimate = ConfidenceAccuracy(window=1000)
    rng = np.random.default_rng(1)
    for _ in range(5000):
        p = float(rng.uniform(0.5, 1))
        proba = {"a": p, "b": 1 - p}
        estimate.update("a", proba)
        estimate.learn("a", proba, bool(rng.random() < p))
    before = estimate.calibrated()
    data = pickle.dumps(estimate, protocol=pickle.HIGHEST_PROTOCOL)
    # The window of 2,000 labels is 2 bytes each, beside the fit made at the last hundredth label.
    assert estimate.calibration.labels == 2000 and len(pickle.dumps(estimate.calibration)) < 4500 + 16 * 1001
    again = pickle.loads(data)
    assert again.calibrated() == before


def test_the_fit_depends_on_the_labels_not_on_when_it_is_read() -> None:
    # A monitor scraped mid-stream and one read only at the end must say the same: a fit made when read and
    # kept differed by the scrapes' timing (test_monitor_scaleout's survivor against a single monitor).
    rng = np.random.default_rng(2)
    rows = [(float(p), bool(rng.random() < p)) for p in rng.uniform(0.5, 1, 1250)]
    read_often, read_once = ConfidenceAccuracy(window=500), ConfidenceAccuracy(window=500)
    for i, (p, right) in enumerate(rows):
        for estimate in (read_often, read_once):
            estimate.update("a", {"a": p, "b": 1 - p})
            estimate.learn("a", {"a": p, "b": 1 - p}, right)
        if i % 37 == 0:
            read_often.calibrated()
    assert read_often.calibrated() == read_once.calibrated() is not None


def test_a_checkpoint_from_before_the_calibration_loads_with_an_empty_one() -> None:
    estimate = ConfidenceAccuracy(window=10)
    estimate.update("a", {"a": 0.8, "b": 0.2})
    old = dict(estimate.__dict__)
    del old["calibration"], old["parts"]
    restored = ConfidenceAccuracy.__new__(ConfidenceAccuracy)
    restored.__setstate__(old)
    assert restored.get() == pytest.approx(0.8) and restored.calibration_labels == 0
    assert restored.calibration.window == 20 and restored.calibrated() is None


def test_units_calibrate_their_own_and_pool_by_the_predictions_each_is_over() -> None:
    first, second = ConfidenceAccuracy(window=100), ConfidenceAccuracy(window=100)
    for estimate, right_share, n in ((first, 0.9, 100), (second, 0.6, 50)):
        for i in range(200):
            estimate.learn("a", {"a": 0.7, "b": 0.3}, right=i < 200 * right_share)
        for _ in range(n):
            estimate.update("a", {"a": 0.7, "b": 0.3})
    pooled = ConfidenceAccuracy.pooled([first, second])
    assert pooled.get() == pytest.approx(0.7)
    assert pooled.calibrated() == pytest.approx((0.9 * 100 + 0.6 * 50) / 150)
    assert pooled.calibration_labels == 400 and pooled.best()[1] == "calibrated"
    fresh = ConfidenceAccuracy(window=100)
    fresh.update("a", {"a": 0.7, "b": 0.3})
    mixed = ConfidenceAccuracy.pooled([first, fresh])
    assert mixed.calibrated() == pytest.approx(0.9)  # over the units calibrated
    assert mixed.best() == (pytest.approx((0.9 * 100 + 0.7) / 101), "mixed")


def test_the_monitor_calibrates_on_labelled_outcomes_and_says_on_how_many() -> None:
    state = MonitorState(settings_from_dict({"streams": {"rooms": ROOMS}}), window=100)
    batch = list(outcomes(400, seed=5))
    for outcome in batch[:150]:  # labelled with the event: a prediction and its label at once
        state.observe(outcome)
    text = generate_latest(registry_for(state)).decode()
    assert samples(text, "driftline_accuracy_estimate_calibration_labels") == {(): 150.0}
    series = state.series[("rooms", "logistic")]
    right = [(o.proba[str(o.prediction)], o.prediction == o.label) for o in batch[:150]]
    assert series.confidence.calibration.labels == 150 == len(right)
    estimated = samples(text, "driftline_accuracy_estimated", "method")
    assert set(estimated) == {("confidence",), ("calibrated",)}
    assert estimated[("calibrated",)] == pytest.approx(series.confidence.calibrated())
    assert estimated[("confidence",)] == pytest.approx(series.confidence.get())
    # Fewer than 100: the raw estimate only, and the labels it would rest on.
    state = MonitorState(settings_from_dict({"streams": {"rooms": ROOMS}}), window=100)
    for outcome in batch[:60]:
        state.observe(outcome)
    text = generate_latest(registry_for(state)).decode()
    assert set(samples(text, "driftline_accuracy_estimated", "method")) == {("confidence",)}
    assert samples(text, "driftline_accuracy_estimate_calibration_labels") == {(): 60.0}


def samples(text: str, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(sample.labels[k] for k in keys): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }
