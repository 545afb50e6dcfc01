"""The trainer's fast decoder (driftline.wire) against the contracts it stands in for (pydantic).

It may refuse what the contracts accept (pydantic parses those again), never accept what they
refuse, and what it accepts must carry the same values.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from driftline.contracts import ContractError, LabelEvent, SensorEvent, parse
from driftline.wire import WireEvent, WireLabel, decode_event, decode_label
from driftline_lab.fuzz import STREAMS, Factory, bad_item, valid_event

EVENT_FIELDS = ("event_id", "device_id", "stream", "ts", "features", "label", "units", "metadata")
BAD_KINDS = [
    "missing_field", "wrong_type", "extra_field", "bad_device_id", "not_an_object", "too_many_features",
    "too_deep", "too_large",
]  # fmt: skip


def verdict(decode: Any, raw: bytes, fields: tuple[str, ...]) -> Any:
    try:
        decoded = decode(raw)
    except ContractError:
        return "refused"
    return {name: getattr(decoded, name) for name in fields}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_events_decode_as_the_contract_says(data: st.DataObject) -> None:
    stream = data.draw(st.sampled_from(sorted(STREAMS)))
    kind = data.draw(st.sampled_from(["valid", *BAD_KINDS]))
    event = data.draw(valid_event(stream)) if kind == "valid" else data.draw(bad_item(stream, kind))[1]
    try:
        if not isinstance(event, dict):
            raw = orjson.dumps(event)
        else:
            raw, _ = Factory(data.draw(st.integers(0, 100))).stamp(event, stream, "dev-1", kind == "valid")
    except TypeError:  # an integer beyond 64 bits, which orjson does not write: no message to compare
        assume(False)
    want = verdict(lambda r: parse(SensorEvent, r), raw, EVENT_FIELDS)
    assert verdict(decode_event, raw, EVENT_FIELDS) == want
    if kind == "valid":
        assert want != "refused"


@pytest.mark.parametrize(
    ("change", "fast"),
    [
        ({}, True),
        ({"ts": "2026-01-01T00:00:00.123456+05:30"}, True),
        ({"features": {"x": 2**70}}, True),  # beyond 64 bits: an integer all the same
        ({"features": {"x": 1e308, "y": -0.0, "z": True, "w": "on", "v": None}}, True),
        ({"features": {"9lives": 1.0}}, False),
        ({"features": {"bad name": 1.0}}, False),
        ({"event_id": "-dash"}, False),
        ({"device_id": "a/b"}, False),
        ({"stream": "Rooms"}, False),
        ({"units": {"x": "degF"}, "metadata": {"site": "north"}}, True),
        ({"units": {"bad unit name!": "degF"}}, False),
        ({"ts": "2026-01-01T00:00:00"}, False),
        ({"ts": 1700000000}, False),
        ({"version": True}, False),
        ({"version": 1.0}, False),
        ({"label": [1]}, False),
        ({"extra": 1}, False),
    ],
)
def test_edge_events_decode_alike(change: dict[str, Any], fast: bool) -> None:
    base = {"event_id": "e1", "device_id": "d1", "stream": "rooms", "ts": "2026-01-01T00:00:00Z",
            "features": {"x": 1.5}, "label": True}  # fmt: skip
    raw = json.dumps({**base, **change}).encode()
    want = verdict(lambda r: parse(SensorEvent, r), raw, EVENT_FIELDS)
    assert verdict(decode_event, raw, EVENT_FIELDS) == want
    if want != "refused":
        # The fast path took what it could; the rest went to pydantic and came back equal.
        assert isinstance(decode_event(raw), WireEvent) is fast


@pytest.mark.parametrize(
    "label",
    [
        {"stream": "rooms", "device_id": "d1", "event_id": "e1", "label": "yes", "ts": "2026-01-01T00:00:00Z"},
        {"stream": "rooms", "device_id": "d1", "event_id": "e1", "label": 3, "ts": "2026-01-01T00:00:00+01:00"},
        {"stream": "rooms", "device_id": "d1", "event_id": "e1", "label": None, "ts": "2026-01-01T00:00:00Z"},
        {"stream": "rooms", "device_id": "d 1", "event_id": "e1", "label": 1, "ts": "2026-01-01T00:00:00Z"},
        {"stream": "rooms", "device_id": "d1", "event_id": "e1", "label": 1, "ts": "2026-01-01"},
        {"stream": "rooms", "device_id": "d1", "event_id": "e1", "label": 1, "ts": "2026-01-01T00:00:00Z", "x": 1},
        {"stream": "rooms", "device_id": "d1", "event_id": "e1", "ts": "2026-01-01T00:00:00Z"},
    ],
)
def test_labels_decode_as_the_contract_says(label: dict[str, Any]) -> None:
    raw = orjson.dumps(label)
    fields = ("stream", "device_id", "event_id", "label", "ts")
    want = verdict(lambda r: parse(LabelEvent, r), raw, fields)
    assert verdict(decode_label, raw, fields) == want
    if want != "refused":
        assert isinstance(decode_label(raw), WireLabel)


def test_a_refusal_names_the_field() -> None:
    raw = orjson.dumps({"event_id": "e1", "device_id": "d1", "stream": "rooms", "ts": "2026-01-01T00:00:00Z",
                        "features": {"bad name": 1}})  # fmt: skip
    with pytest.raises(ContractError, match=r"features\.bad name"):
        decode_event(raw)
