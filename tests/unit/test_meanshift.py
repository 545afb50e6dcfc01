"""The CUSUM data detector: a false-alarm rate as stated by its run length, shifts found, state in checkpoints."""

from __future__ import annotations

import pickle
import random

import pytest

from driftline.config import ConfigError, settings_from_dict
from driftline.config.streams import check_drift_spec
from driftline.rules.datadrift import DataWatch
from driftline.rules.meanshift import MeanShift, cusum_threshold


def watch_of(drift: dict | None = None, features: int = 3) -> DataWatch:
    stream = {"task": "binary", "features": {f"f{i}": {} for i in range(features)}, "drift": drift or {}}
    settings = settings_from_dict({"streams": {"rooms": stream}})
    check_drift_spec("rooms", settings.streams["rooms"])  # as the trainer and the monitor do at start
    watch = DataWatch.of(settings.streams["rooms"].drift, settings.streams["rooms"].features)
    assert watch is not None
    return watch


def test_the_threshold_grows_with_the_run_length_and_refuses_nonsense() -> None:
    assert 0 < cusum_threshold(1_000, 0.5) < cusum_threshold(10_000, 0.5) < cusum_threshold(100_000, 0.5)
    with pytest.raises(ValueError, match="run length"):
        cusum_threshold(1, 0.5)


def test_stationary_features_alarm_about_as_rarely_as_the_run_length_says() -> None:
    # 20 features of 400,000 normal values each, judged on blocks of 16, stated run length 100,000 values:
    # about 80 false alarms expected in all (Siegmund's approximation errs a little on the quiet side).
    rng, block, features = random.Random(3), 16, 20
    shift = MeanShift(features, block=block, run_length=100_000)
    alarms = sum(
        shift.update(f, rng.gauss(5.0, 2.0 / 4)) is not None for _ in range(400_000 // block) for f in range(features)
    )
    assert 30 <= alarms <= 110


def test_a_watch_finds_a_shift_of_a_quarter_deviation_within_a_thousand_events() -> None:
    rng = random.Random(5)
    watch = watch_of()
    found = []
    for i in range(30_000):
        x = {f"f{j}": rng.gauss(20.0 + 0.5 * (j == 1 and i >= 20_000), 2.0) for j in range(3)}
        found += [(feature, detector, alarm.position) for feature, detector, alarm in watch.see(x, float(i))]
    assert {detector for _, detector, _ in found} == {"CUSUM"}
    assert [position for feature, _, position in found if feature == "f1"] == [pytest.approx(20_500, abs=500)]
    # The others are stationary: 60,000 values at 0.5 false alarms per 100,000 expected.
    assert len([feature for feature, _, _ in found if feature != "f1"]) <= 1


def test_a_checkpointed_watch_goes_on_where_it_stopped() -> None:
    rng = random.Random(7)
    rows = [{f"f{j}": rng.gauss(1.0 + 3 * (i >= 3_000), 1.0) for j in range(3)} for i in range(4_000)]
    original = watch_of()
    for x in rows[:2_000]:
        original.see(x, 0.0)
    restored = pickle.loads(pickle.dumps(original))
    assert restored.shift is not None and restored.shift.state == original.shift.state  # type: ignore[union-attr]
    after = [[f for f, _, _ in w.see(x, 0.0)] for w in (original, restored) for x in rows[2_000:]]
    assert after[:2_000] == after[2_000:] and sum(map(len, after[:2_000])) == 3


def test_another_detector_name_gives_each_feature_a_river_detector() -> None:
    watch = watch_of({"data": "ADWIN"})
    assert watch.shift is None and sorted(watch.detectors) == ["f0", "f1", "f2"]


@pytest.mark.parametrize("params", [{"run_length": 1}, {"allowance": -1}, {"reference": 1}, {"window": 3}])
def test_bad_cusum_parameters_are_refused_naming_the_key(params: dict) -> None:
    with pytest.raises(ConfigError, match=r"streams\.rooms\.drift\.data_params: CUSUM"):
        watch_of({"data_params": params})
