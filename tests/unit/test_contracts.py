"""Event contracts reject bad input with a message naming the field, and accept the valid rest."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.contracts import (
    MAX_MESSAGE_BYTES,
    ContractError,
    ControlCommand,
    DriftEvent,
    LabelEvent,
    Outcome,
    OutcomeRecord,
    SensorEvent,
    checked_scalar,
    parse,
    parse_any,
)


def event_dict(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": "e-1",
        "device_id": "room-1",
        "stream": "rooms",
        "ts": "2026-01-01T12:00:00+01:00",
        "features": {"temperature": 21.5, "occupied_before": True, "zone": "north", "co2": None, "count": 3},
        "label": True,
    }
    base.update(changes)
    return base


def fields_named(error: ContractError) -> set[str]:
    return {field for field, _ in error.problems}


def test_valid_event_round_trips_through_json() -> None:
    event = parse(SensorEvent, json.dumps(event_dict()))
    assert event.features == {"temperature": 21.5, "occupied_before": True, "zone": "north", "co2": None, "count": 3}
    assert event.ts.utcoffset() is not None
    assert parse(SensorEvent, event.to_bytes()) == event


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": None}, "event_id"),
        ({"device_id": 42}, "device_id"),
        ({"stream": "Has Spaces"}, "stream"),
        ({"ts": "2026-01-01T12:00:00"}, "ts"),
        ({"ts": "yesterday"}, "ts"),
        ({"features": {"temperature": [1, 2]}}, "features.temperature"),
        ({"features": {"temperature": {"v": 1}}}, "features.temperature"),
        ({"features": "21.5"}, "features"),
        ({"label": [True]}, "label"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_field_is_named(change: dict[str, object], field: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse(SensorEvent, json.dumps(event_dict(**change)))
    assert field in fields_named(caught.value), str(caught.value)
    assert field in str(caught.value)


def test_missing_field_is_named() -> None:
    data = event_dict()
    del data["features"]
    with pytest.raises(ContractError, match="features: Field required"):
        parse(SensorEvent, json.dumps(data))


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_number_is_rejected(token: str) -> None:
    raw = json.dumps(event_dict(features={"temperature": 0.0})).replace("0.0", token)
    with pytest.raises(ContractError) as caught:
        parse(SensorEvent, raw)
    assert fields_named(caught.value) == {"features.temperature"}
    assert "finite" in str(caught.value)


def test_oversized_payload_is_rejected_before_parsing() -> None:
    raw = json.dumps(event_dict(metadata={"note": "x" * 200}, features={f"f{i}": 1.0 for i in range(200)}))
    raw = raw + " " * (MAX_MESSAGE_BYTES + 1 - len(raw))
    with pytest.raises(ContractError, match=r"\(message\): payload is \d+ bytes"):
        parse(SensorEvent, raw)


def test_too_many_features_is_rejected() -> None:
    with pytest.raises(ContractError, match="features: at most 256 features"):
        parse(SensorEvent, event_dict(features={f"f{i}": 1 for i in range(257)}))


def test_strings_are_not_coerced_to_numbers() -> None:
    event = parse(SensorEvent, event_dict(features={"reading": "1.5"}))
    assert event.features["reading"] == "1.5"


def test_parse_any_dispatches_on_kind() -> None:
    label = LabelEvent(stream="rooms", device_id="d", event_id="e", label="busy", ts=datetime.now(UTC))
    command = ControlCommand(command_id="c-1", action="reset", stream="rooms", reason="drift")
    assert parse_any(label.to_bytes()) == label
    assert parse_any(command.to_bytes()) == command
    with pytest.raises(ContractError, match="kind: unknown message kind 'bogus'"):
        parse_any(b'{"kind": "bogus"}')
    with pytest.raises(ContractError, match="not JSON"):
        parse_any(b"{nope")


def test_outcome_requires_positive_model_version() -> None:
    with pytest.raises(ContractError) as caught:
        parse(
            Outcome,
            {
                "outcome_id": "rooms/e/p",
                "event_id": "e",
                "stream": "rooms",
                "device_id": "d",
                "model_key": "rooms",
                "model_name": "logistic",
                "model_version": 0,
                "features": {},
                "event_ts": "2026-01-01T00:00:00Z",
                "ts": "2026-01-01T00:00:00Z",
            },
        )
    assert fields_named(caught.value) == {"model_version"}


values = st.one_of(
    st.booleans(), st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=50)
)


@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True), values | st.none(), max_size=30))
def test_any_valid_feature_dict_survives_serialisation(features: dict[str, object]) -> None:
    event = SensorEvent(event_id="e", device_id="d", stream="s", ts=datetime.now(UTC), features=features)
    assert parse(SensorEvent, event.to_bytes()).features == features


identifiers = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}", fullmatch=True)
labels = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=256),
)
times = st.datetimes(
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))])
)
millis = st.none() | st.floats(0, 1e6)


@given(
    ids=st.tuples(identifiers, identifiers, st.from_regex(r"[a-z][a-z0-9_-]{0,63}", fullmatch=True)),
    version=st.integers(1, 2**31),
    prediction=labels | st.none(),
    proba=st.none() | st.dictionaries(st.text(max_size=20), st.floats(0, 1), min_size=1, max_size=5),
    label=labels | st.none(),
    flags=st.tuples(st.booleans(), st.booleans()),
    event_ts=times,
    ts=times,
    timings=st.tuples(millis, millis, st.none() | st.floats(-1e6, 1e6)),
    features=st.none()
    | st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}", fullmatch=True), labels, max_size=20),
    cleaning=st.none() | st.lists(st.text(max_size=256), max_size=5),
    drift=st.none()
    | st.lists(
        st.builds(
            DriftEvent,
            drift_id=identifiers,
            drift_kind=st.sampled_from(["concept", "data"]),
            level=st.sampled_from(["warning", "drift"]),
            stream=st.just("rooms"),
            model_key=identifiers,
            model_name=st.just("logistic"),
            model_version=st.integers(1, 100),
            detector=st.just("ADWIN"),
            feature=st.none() | st.just("co2"),
            position=st.integers(0, 10**6),
            statistic=st.none() | st.floats(allow_nan=False, allow_infinity=False),
            ts=times,
        ),
        min_size=1,
        max_size=2,
    ),
)
def test_the_trainers_outcome_bytes_are_the_outcome_contract(
    ids, version, prediction, proba, label, flags, event_ts, ts, timings, features, cleaning, drift
) -> None:
    event_id, device_id, stream = ids
    key = f"{stream}/{device_id}"
    record = OutcomeRecord(
        f"{key}/{device_id}/{event_id}/l", event_id, stream, device_id, key, "logistic", version,
        prediction, proba, label, *flags, event_ts, ts, *timings, drift, features, cleaning,
    )  # fmt: skip
    # Written without validation, read by the monitor with it: the same values arrive.
    assert parse(Outcome, record.to_bytes()) == Outcome(
        **{name: getattr(record, name) for name in OutcomeRecord.__struct_fields__}
    )


def test_the_outcome_record_has_every_field_of_the_contract() -> None:
    assert set(OutcomeRecord.__struct_fields__) == set(Outcome.model_fields)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_a_non_finite_model_answer_is_refused_by_name(value: float) -> None:
    with pytest.raises(ValueError, match=r"the prediction is .*, not a finite number"):
        checked_scalar(value, "the prediction")


def test_numpy_answers_become_plain_values() -> None:
    assert checked_scalar(np.float32(0.5), "p") == 0.5 and type(checked_scalar(np.int64(3), "p")) is int
    assert checked_scalar(np.bool_(True), "p") is True


@pytest.mark.parametrize(("field", "value"), [("version", True), ("version", 1.0), ("ts", 1700000000), ("ts", 1.7e9)])
def test_version_and_time_are_typed_as_the_schema_says(field: str, value: object) -> None:
    """Found by fuzzing: lax validation took ``version: true`` and a number as a Unix time."""
    base = {"event_id": "e", "device_id": "d", "stream": "rooms", "ts": "2025-01-01T00:00:00Z", "features": {}}
    with pytest.raises(ContractError) as caught:
        parse(SensorEvent, {**base, field: value})
    assert caught.value.problems[0][0] == field
    label = {"event_id": "e", "device_id": "d", "stream": "rooms", "ts": "2025-01-01T00:00:00Z", "label": True}
    with pytest.raises(ContractError):
        parse(LabelEvent, {**label, field: value})
