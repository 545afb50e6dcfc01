"""Cleaning rules, one by one, without a broker."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.config.streams import StreamConfig
from driftline.learning import cleaning
from driftline.learning.cleaning import Cleaner
from driftline.learning.units import UnitError, convert

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_ABSENT = object()


def cleaner(**features: dict) -> Cleaner:
    return Cleaner(StreamConfig(task="binary", features=features, late_events="drop", allowed_lateness_s=60))


def test_valid_values_pass_unchanged_and_in_order() -> None:
    c = cleaner(a={}, b={"type": "category"}, c={"type": "bool"})
    result = c.clean({"c": True, "b": "x", "a": 3})
    assert result.features == {"a": 3.0, "b": "x", "c": True}
    assert result.steps == [] and result.dropped is None


@pytest.mark.parametrize(
    ("policy", "observed", "expected"),
    [("mean", [1.0, 2.0, 6.0], 3.0), ("median", [1.0, 2.0, 60.0], 2.0), ("last", [1.0, 7.0], 7.0)],
)
def test_missing_value_is_imputed(policy: str, observed: list[float], expected: float) -> None:
    c = cleaner(x={"missing": policy})
    for value in observed:
        c.clean({"x": value})
    result = c.clean({"x": None})
    assert result.features == {"x": pytest.approx(expected)}
    assert result.steps == ["imputed:x"]


def test_constant_imputation_and_absent_feature_count_as_missing() -> None:
    c = cleaner(mode={"type": "category", "missing": "constant", "fill": "auto"})
    assert c.clean({}).features == {"mode": "auto"}


def test_missing_with_drop_policy_drops_the_event() -> None:
    result = cleaner(door={"type": "bool", "missing": "drop"}).clean({"door": None})
    assert result.dropped == "missing:door"


def test_missing_with_nothing_seen_yet_stays_missing() -> None:
    result = cleaner(x={"missing": "mean"}).clean({"x": None})
    assert result.features == {} and result.steps == ["unimputable:x"]


def test_keep_leaves_the_feature_absent_silently() -> None:
    c = cleaner(x={"missing": "keep"})
    c.clean({"x": 10.0})  # statistics exist, yet nothing is imputed
    result = c.clean({"x": None})
    assert result.features == {} and result.steps == []


def test_out_of_range_clip_reject_and_missing() -> None:
    assert cleaner(t={"min": 0, "max": 10}).clean({"t": 12}).features == {"t": 10.0}
    assert cleaner(t={"min": 0, "max": 10}).clean({"t": -1}).steps == ["clipped:t"]
    assert cleaner(t={"min": 0, "out_of_range": "reject"}).clean({"t": -1}).dropped == "out_of_range:t"
    c = cleaner(t={"min": 0, "max": 10, "out_of_range": "missing", "missing": "mean"})
    c.clean({"t": 4})
    result = c.clean({"t": 99})
    assert result.features == {"t": 4.0} and result.steps == ["out_of_range:t", "imputed:t"]


def test_unit_conversion_before_the_range_check() -> None:
    c = cleaner(t={"unit": "degC", "min": -20, "max": 50})
    result = c.clean({"t": 68.0}, units={"t": "°F"})
    assert result.features["t"] == pytest.approx(20.0)
    assert result.steps == ["converted:t"]
    assert c.clean({"t": 212.0}, units={"t": "degF"}).features["t"] == 50.0  # 100 °C, then clipped


def test_unconvertible_unit_makes_the_value_missing() -> None:
    result = cleaner(t={"unit": "degC", "missing": "keep"}).clean({"t": 3.0}, units={"t": "mA"})
    assert result.features == {} and result.steps == ["unit_unknown:t"]


def test_unknown_features_are_dropped_and_counted() -> None:
    result = cleaner(a={}).clean({"a": 1.0, "zzz": 2.0})
    assert result.features == {"a": 1.0} and result.steps == ["unknown_feature:zzz"]


def test_wrong_type_is_treated_as_missing() -> None:
    c = cleaner(a={"missing": "last"})
    c.clean({"a": 5})
    result = c.clean({"a": "hot"})
    assert result.features == {"a": 5.0} and result.steps == ["wrong_type:a", "imputed:a"]


def test_late_events_against_the_event_time_watermark() -> None:
    c = cleaner(a={})
    assert c.clean({"a": 1}, ts=T0 + timedelta(seconds=600)).dropped is None
    assert c.clean({"a": 1}, ts=T0 + timedelta(seconds=550)).dropped is None  # 50 s late: allowed
    assert c.clean({"a": 1}, ts=T0).dropped == "late"
    accepting = Cleaner(StreamConfig(task="binary", features={"a": {}}, allowed_lateness_s=60))
    accepting.clean({"a": 1}, ts=T0 + timedelta(seconds=600))
    result = accepting.clean({"a": 1}, ts=T0)
    assert result.dropped is None and result.steps == ["late"]


def test_serving_does_not_update_statistics() -> None:
    c = cleaner(a={"missing": "mean"})
    c.clean({"a": 2.0})
    c.clean({"a": 100.0}, learn=False)
    assert c.clean({"a": None}).features == {"a": 2.0}


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (32, "degF", "degC", 0),
        (0, "°C", "K", 273.15),
        (0.5, "fraction", "%", 50),
        (1500, "mA", "A", 1.5),
        (1, "m/s", "mm/s", 1000),
    ],
)
def test_unit_table(value: float, source: str, target: str, expected: float) -> None:
    assert convert(value, source, target) == pytest.approx(expected)


def test_units_of_different_quantities_do_not_convert() -> None:
    with pytest.raises(UnitError, match="cannot convert degC"):
        convert(1, "degC", "A")
    with pytest.raises(UnitError, match="unknown unit 'furlong'"):
        convert(1, "furlong", "A")


def test_a_number_near_the_float_limit_is_treated_as_missing_and_cannot_poison_the_model() -> None:
    """Found by fuzzing: valid events with 1e308 overflowed the mean and the model's scaler, and every
    later prediction of the key was NaN (the trainer then failed on each event)."""
    from river import linear_model, preprocessing

    c = cleaner(x={})
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    for value in (1.0, 1e308, -1e308, 2.0, 1e101, 3.0):
        result = c.clean({"x": value})
        model.learn_one(result.features, True)
        if abs(value) > 1e100:
            assert result.steps == ["huge:x", "imputed:x"]
    assert c.clean({"x": None}).features == {"x": pytest.approx(2.0)}  # the mean of 1, 2 and 3
    proba = model.predict_proba_one({"x": 1e99})
    assert all(p == p for p in proba.values())


# The common event's generated function (cleaning._compile) against the general path, on any event.

_value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-5, max_value=5),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.integers(min_value=-5, max_value=5),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)
_spec = st.fixed_dictionaries(
    {},
    optional={
        "min": st.sampled_from([-3.0, 0, 1e300]),
        "max": st.sampled_from([3, 4.5, 1e300]),
        "missing": st.sampled_from(["mean", "median", "last", "drop", "keep", "constant"]),
        "out_of_range": st.sampled_from(["clip", "reject", "missing"]),
    },
).map(lambda spec: {**spec, "fill": 0.5} if spec.get("missing") == "constant" else spec)


@settings(max_examples=200, deadline=None)
@given(
    specs=st.lists(_spec, min_size=1, max_size=4),
    events=st.lists(st.lists(st.one_of(_value, st.just(_ABSENT)), min_size=4, max_size=4), max_size=12),
)
def test_the_generated_common_case_cleans_as_the_general_path(specs: list[dict], events: list[list]) -> None:
    features = {f"f{i}": spec for i, spec in enumerate(specs)}
    if any(spec.get("min", -math.inf) > spec.get("max", math.inf) for spec in specs):
        return  # the config refuses such a range
    fast = cleaner(**features)
    general = cleaner(**features)
    with patch.object(cleaning, "_compile", lambda rules: None):
        cleaning._RULES.pop(id(general.stream), None)
        cleaning._rules(general.stream)  # cached for this config without a generated function
    assert cleaning._rules(fast.stream)[2] is not None and cleaning._rules(general.stream)[2] is None
    for values in events:
        event = {f"f{i}": v for i, v in enumerate(values[: len(specs)]) if v is not _ABSENT}
        a, b = fast.clean(dict(event)), general.clean(dict(event))
        assert (a.features, a.steps, a.dropped) == (b.features, b.steps, b.dropped)
        for name in features:
            x, y = fast._state.get(name), general._state.get(name)
            assert (x is None) == (y is None)
            if x is not None:
                assert (x.total, x.seen, x.last) == (y.total, y.seen, y.last)
                assert (x.median is None) == (y.median is None)
                if x.median is not None:
                    assert x.median.get() == y.median.get()
