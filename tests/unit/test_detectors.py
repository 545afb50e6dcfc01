"""Debounced detectors: one alarm per change, warnings where the detector has them, clear errors."""

from __future__ import annotations

import random

import pytest

from driftline.rules.detectors import DETECTORS, DebouncedDetector, DetectorError, make_detector, warning_params


def errors(n: int, before: float, after: float, change_at: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [float(rng.random() < (after if i >= change_at else before)) for i in range(n)]


def alarms(detector: DebouncedDetector, values: list[float]) -> list[tuple[str, int]]:
    return [(a.level, a.position) for v in values if (a := detector.update(v)) is not None]


def ramp(n: int, start: int, length: int, seed: int = 0) -> list[float]:
    """Errors whose rate climbs from 0.1 to 0.6 over ``length`` outcomes: a gradual change."""
    rng = random.Random(seed)
    return [float(rng.random() < 0.1 + 0.5 * min(1.0, max(0.0, (i - start) / length))) for i in range(n)]


def test_raw_adwin_reports_one_gradual_change_twice_the_wrapper_once() -> None:
    values = ramp(6000, 3000, 1500)
    raw = make_detector("ADWIN")
    raw_count = 0
    for v in values:
        raw.update(v)
        raw_count += raw.drift_detected
    wrapped = alarms(DebouncedDetector("ADWIN", debounce=1000), values)
    assert raw_count > 1  # the behaviour the debounce exists for
    assert [level for level, _ in wrapped] == ["drift"]
    assert 3000 < wrapped[0][1] < 4000


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_finds_a_large_change(name: str) -> None:
    found = alarms(DebouncedDetector(name, debounce=0), errors(4000, 0.05, 0.7, 3000, seed=1))
    drifts = [p for level, p in found if level == "drift" and p > 3000]
    assert drifts and drifts[0] < 3600


def test_warning_zone_is_reported_for_detectors_that_have_one() -> None:
    found = alarms(DebouncedDetector("HDDM_A", debounce=500), errors(3000, 0.1, 0.5, 1500, seed=0))
    assert ("warning" in [level for level, _ in found]) and ("drift" in [level for level, _ in found])


@pytest.mark.parametrize("name", ["ADWIN", "PageHinkley"])
def test_detectors_without_a_warning_zone_warn_before_they_detect_when_asked(name: str) -> None:
    values = errors(4000, 0.1, 0.5, 2000, seed=0)
    assert [level for level, _ in alarms(DebouncedDetector(name, debounce=500), values)] == ["drift"]
    found = alarms(DebouncedDetector(name, debounce=500, warnings=True), values)
    after = [(level, p) for level, p in found if p > 2000]
    assert [level for level, _ in after][:2] == ["warning", "drift"], found
    assert [level for level, _ in found].count("drift") == 1


def test_a_warning_twin_is_more_sensitive_never_less() -> None:
    assert warning_params("ADWIN") == {"delta": 0.2}
    assert warning_params("ADWIN", {"delta": 0.00001}) == {"delta": 0.001}
    assert warning_params("ADWIN", {"delta": 0.5}) == {"delta": 0.5}
    assert warning_params("PageHinkley", {"threshold": 40}) == {"threshold": 20.0}
    assert warning_params("KSWIN") == {"alpha": 0.05}
    assert warning_params("HDDM_A") is None  # native warning zone
    with pytest.raises(DetectorError, match="ADWIN: bad parameters"):
        warning_params("ADWIN", {"delta": "big"})


def test_a_drift_resets_the_warning_twin_too() -> None:
    detector = DebouncedDetector("ADWIN", debounce=0, warnings=True)
    for v in errors(3000, 0.1, 0.6, 1500, seed=2):
        alarm = detector.update(v)
        if alarm is not None and alarm.level == "drift":
            break
    assert detector.warner is not None and detector.warner.width == 0


def test_unknown_detector_or_bad_parameter_is_named() -> None:
    with pytest.raises(DetectorError, match="unknown drift detector 'ADWINN'"):
        make_detector("ADWINN")
    with pytest.raises(DetectorError, match="ADWIN: bad parameters"):
        make_detector("ADWIN", {"deltaa": 0.1})


# The DDM family and KSWIN also alarm on the first few hundred errors of a learning model, whichever way
# they move (small-sample estimates): the monitor's warm-up covers that, the drift suite scores it.
@pytest.mark.parametrize("name", ["ADWIN", "PageHinkley"])
def test_rising_only_keeps_quiet_when_the_error_falls_and_alarms_when_it_rises(name: str) -> None:
    # A model learning: its error falls from 0.5 to 0.05 over 2,000 outcomes, then stays.
    rng = random.Random(3)
    learning = [float(rng.random() < max(0.05, 0.5 - 0.45 * i / 2000)) for i in range(6000)]
    both = DebouncedDetector(name, debounce=500, warnings=True)
    rising = DebouncedDetector(name, debounce=500, warnings=True, rising_only=True)
    assert alarms(rising, learning) == []
    assert rising.falls >= (1 if alarms(both, learning) else 0)
    # Then the world changes and the error rises: that one change still alarms.
    found = alarms(rising, errors(4000, 0.05, 0.6, 1000, seed=4))
    drifts = [position for level, position in found if level == "drift"]
    assert len(drifts) == 1 and 6000 + 1000 < drifts[0] < 6000 + 1500


def test_two_sided_adwin_flags_a_model_that_got_better() -> None:
    # The behaviour rising_only exists for: plain ADWIN alarms on a falling error.
    assert [level for level, _ in alarms(DebouncedDetector("ADWIN"), errors(6000, 0.5, 0.05, 1000, seed=3))]


def bump(n: int, at: int, length: int, seed: int = 0) -> list[float]:
    """Errors at 0.05 with a rise to 0.8 for ``length`` outcomes from ``at``: a young learner reshaping itself."""
    rng = random.Random(seed)
    return [float(rng.random() < (0.8 if at <= i < at + length else 0.05)) for i in range(n)]


def test_a_young_rise_that_falls_back_is_held_and_dropped() -> None:
    values = bump(3000, 1000, 60)
    assert [level for level, _ in alarms(DebouncedDetector("ADWIN", rising_only=True), values)] == ["drift"]
    held = DebouncedDetector("ADWIN", rising_only=True, confirm=500, young=5000)
    assert [level for level, _ in alarms(held, values) if level == "drift"] == []
    assert held.unconfirmed == 1 and held.drifts == 0


def test_a_young_rise_that_lasts_alarms_once_confirmed() -> None:
    values = errors(3000, 0.05, 0.5, 1000)
    at_once = [p for level, p in alarms(DebouncedDetector("ADWIN", rising_only=True), values) if level == "drift"]
    held = DebouncedDetector("ADWIN", rising_only=True, confirm=300, young=5000)
    confirmed = [p for level, p in alarms(held, values) if level == "drift"]
    assert len(at_once) == 1 and confirmed == [at_once[0] + 300]
    assert held.unconfirmed == 0


def test_a_rise_past_the_young_span_alarms_at_once() -> None:
    values = errors(3000, 0.05, 0.5, 1000)
    at_once = alarms(DebouncedDetector("ADWIN", rising_only=True), values)
    grown = alarms(DebouncedDetector("ADWIN", rising_only=True, confirm=300, young=500), values)
    assert [a for a in grown if a[0] == "drift"] == [a for a in at_once if a[0] == "drift"]


def test_confirmation_spans_are_not_negative() -> None:
    with pytest.raises(DetectorError, match="confirm and young"):
        DebouncedDetector("ADWIN", confirm=-1)
