"""The collector's validation, without a broker: contract limits (depth, size, Content-Type) and original bytes."""

from __future__ import annotations

import orjson
import pytest

from driftline.collector.app import json_media_problem
from driftline.collector.ingest import (
    PARSER_DEPTH,
    Accepted,
    BodyError,
    RawItems,
    Rejected,
    StreamRules,
    _dump,
    check_items,
    check_raw,
    item_spans,
    json_depth,
    split_body,
)
from driftline.config.streams import StreamConfig
from driftline.contracts import MAX_JSON_DEPTH, LabelEvent, SensorEvent
from driftline.kafkaio.deadletter import DEAD_LETTER_MAX_BYTES, dead_letter_payload

RULES = StreamRules.of("rooms", StreamConfig(task="binary", features={"t": {}}))


def event(i: int) -> dict:
    return {
        "event_id": f"e{i}",
        "device_id": "dev",
        "stream": "rooms",
        "ts": "2025-01-01T00:00:00Z",
        "features": {"t": 1.0 + i},
        "label": True,
    }


def nested(depth: int) -> bytes:
    """An event whose feature ``t`` is ``depth - 2`` nested arrays (the event itself nests 2 levels)."""
    inner = b"[" * (depth - 2) + b"]" * (depth - 2)
    return orjson.dumps(event(99)).replace(b'"t":100.0', b'"t":' + inner)


def check(body: bytes) -> list[Accepted | Rejected]:
    items, batch = split_body(body)
    return check_items(items, SensorEvent, "rooms", "dev", RULES, RawItems(body, batch))


def test_item_spans_are_the_original_bytes_of_each_item() -> None:
    body = b' [ {"a": "x,]\\"}"} , 2,\n[[1]] ] '
    spans = item_spans(body)
    assert spans is not None
    assert [body[start:end] for start, end, _ in spans] == [b'{"a": "x,]\\"}"}', b"2", b"[[1]]"]
    assert [depth for *_, depth in spans] == [1, 0, 2]
    assert item_spans(b'{"a": [1]}') is None  # not a batch
    assert item_spans(b"[1, 2") is None
    assert item_spans(b"[1, 2,]") is None


def test_depth_is_counted_without_recursion() -> None:
    assert json_depth(orjson.dumps(event(0))) == 2
    assert json_depth(b"[" * 100_000 + b"]" * 100_000) == 100_000
    assert json_depth(b'{"a": "[[[["}') == 1  # brackets inside strings do not count


@pytest.mark.parametrize("depth", [40, 253, 300, 980, 1000])
def test_a_deep_item_is_rejected_with_its_original_bytes_and_the_batch_survives(depth: int) -> None:
    deep = nested(depth)
    body = b"[" + orjson.dumps(event(0)) + b", " + deep + b",\n" + orjson.dumps(event(1)) + b"]"
    results = check(body)
    assert [type(r) for r in results] == [Accepted, Rejected, Accepted]
    rejected = results[1]
    assert isinstance(rejected, Rejected)
    assert rejected.reason == "too_deep"
    assert rejected.payload == deep  # not a Python repr
    message = f"nested {depth} levels deep, more than the {MAX_JSON_DEPTH} a message may have"
    assert rejected.problems[0] == ("(item)", message)


def test_an_item_deeper_than_the_parser_goes_does_not_lose_its_batch() -> None:
    deep = b"[" * (PARSER_DEPTH + 100) + b"]" * (PARSER_DEPTH + 100)
    body = b"[" + orjson.dumps(event(0)) + b"," + deep + b"]"
    results = check(body)
    assert isinstance(results[0], Accepted)
    assert isinstance(results[1], Rejected) and results[1].reason == "too_deep" and results[1].payload == deep


def test_a_body_deeper_than_the_parser_goes_is_refused_whole_naming_the_depth() -> None:
    with pytest.raises(BodyError, match="nested more than 1024 levels deep") as caught:
        split_body(b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}")
    assert caught.value.reason == "too_deep"
    with pytest.raises(BodyError) as caught:
        split_body(b"[" + b"[" * 2000 + b"{")  # not JSON either
    assert caught.value.reason == "too_deep"
    with pytest.raises(BodyError) as caught:
        split_body(b"[" + b"[" * 2000 + b"]" * 2000 + b", {nope}]")
    assert caught.value.reason == "not_json"


def test_a_single_object_keeps_the_body_as_it_came() -> None:
    body = b'  {"event_id": "x",   "surprise": 1}\n'
    (result,) = check(body)
    assert isinstance(result, Rejected) and result.payload == body


def test_mqtt_payloads_keep_their_bytes_at_every_depth() -> None:
    for depth, reason in ((300, "too_deep"), (2000, "too_deep")):
        raw = nested(depth)
        result = check_raw(raw, SensorEvent, "rooms", "dev", RULES)
        assert isinstance(result, Rejected) and (result.reason, result.payload) == (reason, raw)
    big = orjson.dumps({**event(0), "metadata": {f"k{i}": "x" * 200 for i in range(400)}})
    result = check_raw(big, SensorEvent, "rooms", "dev", RULES)
    assert isinstance(result, Rejected) and (result.reason, result.payload) == ("too_large", big)


def test_dumping_python_items_never_raises() -> None:
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert _dump(deep)  # past orjson's and repr's recursion limits


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("application/json", True),
        ("Application/JSON; charset=UTF-8", True),
        ("application/vnd.driftline+json", True),
        (None, False),
        ("", False),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("application/json; charset=latin-1", False),
    ],
)
def test_json_endpoints_take_json_content_types(content_type: str | None, ok: bool) -> None:
    problem = json_media_problem(content_type)
    assert (problem is None) is ok
    if not ok:
        assert "Content-Type" in problem


def test_dead_letters_keep_what_kafka_can_take() -> None:
    assert dead_letter_payload(b"abc") == (b"abc", None)
    head, size = dead_letter_payload(b"x" * (DEAD_LETTER_MAX_BYTES + 10))
    assert len(head) == DEAD_LETTER_MAX_BYTES and size == f"{DEAD_LETTER_MAX_BYTES + 10} bytes"
    assert dead_letter_payload(b"head", "9000000 bytes") == (b"head", "9000000 bytes")


STREAMS = {
    "rooms": StreamConfig(task="binary", features={"t": {}}),
    "kinds": StreamConfig(task="multiclass", classes=["a", "b"], features={"t": {}}),
    "load": StreamConfig(task="regression", features={"t": {}}),
}


@pytest.mark.parametrize(
    ("stream", "good", "bad"),
    [
        ("rooms", [True, False, 0, 1], [1e30, 2, 1.5, -1, "yes", "true", "False"]),
        ("kinds", ["a", "b"], ["c", 1, True, 0.5]),
        ("load", [0, -2.5, 1e30], [True, "3", "nan"]),
    ],
)
def test_labels_that_do_not_fit_the_task_are_rejected_naming_the_label_and_stream(
    stream: str, good: list, bad: list
) -> None:
    rules = StreamRules.of(stream, STREAMS[stream])
    events = [{**event(i), "stream": stream, "label": label} for i, label in enumerate(good + bad)]
    labels = [
        {"stream": stream, "device_id": "dev", "event_id": f"e{i}", "label": label, "ts": "2025-01-01T00:00:00Z"}
        for i, label in enumerate(good + bad)
    ]
    for model, items in ((SensorEvent, events), (LabelEvent, labels)):
        results = check_items(items, model, stream, "dev", rules)
        assert [isinstance(r, Accepted) for r in results] == [True] * len(good) + [False] * len(bad)
        for result in results[len(good) :]:
            assert isinstance(result, Rejected) and result.reason == "invalid_label"
            ((field, message),) = result.problems
            assert field == "label" and f"stream {stream}" in message
