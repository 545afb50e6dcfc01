"""The CUSUM concept detector: quiet on stationary errors at any rate, a sharp rise found fast, state in checkpoints."""

from __future__ import annotations

import pickle
import random

import pytest

from driftline.config import ConfigError, settings_from_dict
from driftline.config.streams import check_drift_spec
from driftline.rules.concept import ConceptWatch
from driftline.rules.detectors import DetectorError, make_detector
from driftline.rules.errorshift import ErrorShift


def first_alarm(errors: list[bool], shift: ErrorShift) -> int | None:
    for i, error in enumerate(errors):
        shift.update(error)
        if shift.drift_detected:
            return i
    return None


@pytest.mark.parametrize("rate", [0.005, 0.05, 0.3])
def test_stationary_errors_alarm_no_more_often_than_the_run_length_says(rate: float) -> None:
    # 200,000 errors at a stated run length of 50,000: at most 4 alarms expected (Wald's bound), whatever the rate.
    rng, shift, alarms = random.Random(11), ErrorShift(run_length=50_000), 0
    for _ in range(200_000):
        shift.update(rng.random() < rate)
        alarms += shift.drift_detected
    assert alarms <= 4


def test_a_sharp_rise_of_an_accurate_model_is_found_within_two_hundred_errors() -> None:
    # 1% then 8%, as a recurring concept gives a well-trained tree: ADWIN at its defaults needs more than this.
    rng = random.Random(2)
    errors = [rng.random() < (0.01 if i < 1_000 else 0.08) for i in range(1_225)]
    found = first_alarm(errors, ErrorShift())
    assert found is not None and 1_000 <= found < 1_200
    adwin = make_detector("ADWIN")
    assert not any((adwin.update(e), adwin.drift_detected)[1] for e in errors[300:])  # type: ignore[func-returns-value]


def test_a_large_rise_is_found_by_the_large_arm_within_forty_errors() -> None:
    # 1% then 30%, as a concept's return gives a model reset in between: the small-shift arm alone (judging against
    # 4% errors) needs up to 64 inputs on these seeds, the large one (16%) at most 38.
    delays = []
    for seed in range(40):
        rng = random.Random(seed)
        errors = [rng.random() < (0.01 if i < 1_000 else 0.3) for i in range(1_100)]
        found = first_alarm(errors, ErrorShift())
        assert found is not None and found >= 1_000
        delays.append(found - 1_000)
    assert max(delays) <= 40, sorted(delays)


def test_the_rate_it_judges_against_does_not_follow_the_rise() -> None:
    shift = ErrorShift(min_instances=10)
    for i in range(1_000):
        shift.update(i % 50 == 0)
    before = shift.estimation
    for _ in range(5):  # errors in a row: held out of the reference while the sum is up
        shift.update(True)
    assert shift.estimation == before


def test_a_pickled_detector_goes_on_where_it_stopped() -> None:
    rng = random.Random(4)
    errors = [rng.random() < (0.02 if i < 3_000 else 0.2) for i in range(4_000)]
    original = ErrorShift()
    for e in errors[:2_000]:
        original.update(e)
    restored = pickle.loads(pickle.dumps(original))
    assert first_alarm(errors[2_000:], original) == first_alarm(errors[2_000:], restored) is not None


def test_a_detector_pickled_with_one_arm_restores_with_both_at_the_stated_rate() -> None:
    import math

    old = ErrorShift(run_length=10_000)
    for i in range(500):
        old.update(i % 40 == 0)
    slots = {name: getattr(old, name) for name in ErrorShift.__slots__ if name != "_sum_large"}
    slots["threshold"] = math.log(10_000)  # what a one-arm detector kept
    restored = ErrorShift.__new__(ErrorShift)
    restored.__setstate__((None, slots))
    assert restored._sum_large == 0.0 and restored.threshold == ErrorShift(run_length=10_000).threshold
    assert restored.estimation == old.estimation


def test_the_judge_takes_cusum_by_name_and_resets_on_its_alarm() -> None:
    settings = settings_from_dict(
        {"streams": {"rooms": {"task": "binary", "features": {"t": {}}, "drift": {"concept": "CUSUM"}}}}
    )
    check_drift_spec("rooms", settings.streams["rooms"])
    watch = ConceptWatch(settings.streams["rooms"].drift, "binary")
    watch.see("logistic", 1, 0.0)
    alarms = [watch.judge("logistic", 1, float(i % (100 if i < 3_000 else 5) == 0)) for i in range(3_400)]
    drifts = [i for i, a in enumerate(alarms) if a is not None and a.level == "drift"]
    assert len(drifts) == 1 and 3_000 <= drifts[0] < 3_200


@pytest.mark.parametrize(
    "params", [{"run_length": 1}, {"shift": 0}, {"ratio": 1}, {"max_rise": 0.01}, {"min_instances": 0}, {"x": 1}]
)
def test_bad_parameters_are_refused_naming_the_key(params: dict) -> None:
    with pytest.raises(DetectorError, match="CUSUM: bad parameters"):
        make_detector("CUSUM", params)
    with pytest.raises(ConfigError, match=r"streams\.rooms\.drift\.concept_params"):
        settings = settings_from_dict(
            {
                "streams": {
                    "rooms": {
                        "task": "binary",
                        "features": {"t": {}},
                        "drift": {"concept": "CUSUM", "concept_params": params},
                    }
                }
            }
        )
        check_drift_spec("rooms", settings.streams["rooms"])
