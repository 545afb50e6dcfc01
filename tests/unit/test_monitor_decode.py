"""The monitor's outcome decoder reads what the contract reads, and refuses what breaks it."""

from __future__ import annotations

import random

import orjson
import pytest

from driftline.contracts import ContractError, DriftEvent, Outcome, parse
from driftline.monitor.decode import OutcomeView, decode_outcome
from driftline.monitor.synthetic import outcomes

#: Compared as they are; the event time is compared as Unix time, drifts field by field, the rest is not read.
READ = [
    name
    for name in OutcomeView.__struct_fields__
    if name not in ("event_ts", "ts", "event_time", "drift", "features", "cleaning")
]


def varied(n: int) -> list[Outcome]:
    """Outcomes with every optional field present or absent, and every kind of label."""
    rng = random.Random(4)
    found = []
    for i, o in enumerate(outcomes(n, seed=5)):
        label = rng.choice([True, 1, 2.5, "UP", None])
        found.append(
            o.model_copy(
                update={
                    "label": label,
                    "prediction": rng.choice([False, 0, 1.5, "DOWN", None]),
                    "proba": rng.choice([None, {"UP": 0.25, "DOWN": 0.75}]),
                    "holdout": i % 3 == 0,
                    "predict_ms": rng.choice([None, 0.0, 0.125]),
                    "learn_ms": rng.choice([None, 0.5]),
                    "label_delay_s": rng.choice([None, -1.0, 42.0]),
                    "cleaning": rng.choice([[], ["imputed:temperature"]]),
                }
            )
        )
    return found


def test_every_field_the_monitor_reads_is_the_contracts() -> None:
    for outcome in varied(300):
        raw = outcome.to_bytes()
        view, parsed = decode_outcome(raw), parse(Outcome, raw)
        for name in READ:
            got, expected = getattr(view, name), getattr(parsed, name)
            assert got == expected and type(got) is type(expected), (name, got, expected)
        assert view.event_time == parsed.event_ts.timestamp()


def test_the_detections_an_outcome_carries_are_read_field_by_field() -> None:
    drift = DriftEvent(
        drift_id="rooms:v2:data:humidity:drift:640",
        drift_kind="data",
        stream="rooms",
        model_key="rooms",
        model_name="logistic",
        model_version=2,
        detector="ADWIN",
        feature="humidity",
        position=640,
        statistic=0.25,
    )
    warning = drift.model_copy(update={"drift_kind": "concept", "level": "warning", "feature": None, "statistic": None})
    raw = next(outcomes(1)).model_copy(update={"drift": [drift, warning], "features": None}).to_bytes()
    view, parsed = decode_outcome(raw), parse(Outcome, raw)
    assert view.drift is not None and parsed.drift is not None
    for got, expected in zip(view.drift, parsed.drift, strict=True):
        for name in got.__struct_fields__:
            if name == "ts":
                assert got.time == expected.ts.timestamp()
            else:
                assert getattr(got, name) == getattr(expected, name), name
    bad = orjson.loads(raw)
    bad["drift"][0]["drift_kind"] = "weather"
    with pytest.raises(ContractError, match="drift_kind"):
        decode_outcome(orjson.dumps(bad))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("model_key"), "model_key"),
        (lambda d: d.pop("event_ts"), "event_ts"),
        (lambda d: d.update(model_version=0), "model_version"),
        (lambda d: d.update(model_version=1.5), "model_version"),
        (lambda d: d.update(proba={"True": "high"}), "proba"),
        (lambda d: d.update(label=[1]), "label"),
        (lambda d: d.update(kind="drift_event"), "kind"),
        (lambda d: d.update(event_ts="2024-01-01T00:00:00"), "event_ts"),
        (lambda d: d.update(event_ts="yesterday"), "event_ts"),
        (lambda d: d.update(predict_ms=-1.0), "predict_ms"),
        (lambda d: d.update(weather="fine"), "weather"),
        (lambda d: d.update(event_time=1.0), "event_time"),
    ],
)
def test_an_outcome_that_breaks_the_contract_is_refused_naming_the_field(change, field: str) -> None:
    data = orjson.loads(next(outcomes(1)).to_bytes())
    change(data)
    raw = orjson.dumps(data)
    with pytest.raises(ContractError, match=field):
        decode_outcome(raw)
    with pytest.raises(ContractError):
        parse(Outcome, raw)  # the contract refuses it too


def test_a_spelling_the_contract_allows_and_msgspec_does_not_is_read_through_pydantic() -> None:
    data = orjson.loads(next(outcomes(1)).to_bytes())
    data["model_version"] = "2"  # pydantic's lax integers take text
    view = decode_outcome(orjson.dumps(data))
    assert view.model_version == 2 and parse(Outcome, orjson.dumps(data)).model_version == 2


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'{"outcome_id": ', b"\xff\xfe", b"x" * 70_000])
def test_what_is_not_an_outcome_at_all_is_refused(raw: bytes) -> None:
    with pytest.raises(ContractError):
        decode_outcome(raw)
