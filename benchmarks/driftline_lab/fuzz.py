"""Fuzzing the collector: malformed payloads over HTTP and MQTT, interleaved with valid events.

One scenario, run by the fuzz test (a short run, which asserts on it) and by ``driftline bench
fuzz`` (the long one, which reports it). The collector's HTTP ingest and its MQTT bridge (a real
Mosquitto), and the trainer, run in this process against a real Kafka. The payloads:

- **schemathesis**: negative cases generated from the collector's own OpenAPI document, read from
  its ``/openapi.json`` (bodies that break the schema: wrong types, missing and unknown fields,
  bytes that are not JSON, values of no JSON type at all);
- **hypothesis** strategies built from the contracts, for what a schema cannot say: labels that do
  not fit the stream's task, times ahead of the clock, another device's or stream's items, items
  nested too deep or too large, NaN and infinities, bad UTF-8, lone surrogates, a wrong
  Content-Type, bodies over the size and item limits, empty batches; sent as single items, as
  batches mixing them with valid events, as whole bodies, and as MQTT messages.

Valid events (each with a unique id, and contract-valid edge values: huge finite numbers, missing
and unknown features, no label) are interleaved with them. Afterwards: no answer was a 5xx; every
bad item or body got a 4xx naming it (per-item ``problems`` with the field, or a ``detail``) with
the reason its kind calls for; the dead-letter topic holds exactly one letter per bad item with
its original bytes (the head of a body too large to read); the collector, the bridge and the
trainer are still up; and every accepted event has exactly one outcome from the trainer.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from driftline.collector.app import create_app
from driftline.collector.auth import hash_token
from driftline.collector.intake import Ingestor
from driftline.collector.mqtt_bridge import MqttBridge
from driftline.collector.publisher import Publisher
from driftline.config import settings_from_dict
from driftline.config.settings import MqttSettings, Settings
from driftline.contracts import MAX_FEATURES, MAX_MESSAGE_BYTES, MAX_TEXT, Outcome, parse
from driftline.httpserver import BackgroundServer
from driftline.kafkaio.clients import read_topic
from driftline.kafkaio.topics import ensure_topics
from driftline.ops.mosquitto import Mosquitto
from driftline.processes import wait_until
from driftline.trainer.runner import TrainerRunner

HTTP_DEVICE, MQTT_DEVICE = "dev-h", "dev-m"
TOKEN = "fuzz-token-h"
MQTT_PASSWORD, BRIDGE_PASSWORD = "fuzz-mqtt-m", "fuzz-bridge"
#: Small enough that bodies over them are cheap to send.
MAX_BODY_BYTES, MAX_BATCH_ITEMS = 256 * 1024, 100
STREAMS: dict[str, Any] = {
    "rooms": {"task": "binary", "features": {"temperature": {}, "co2": {}}},
    "grade": {
        "task": "multiclass",
        "classes": ["low", "mid", "high"],
        "model": "hoeffding",
        "features": {"x": {}, "y": {}},
    },
    "level": {"task": "regression", "model": "linear", "features": {"x": {}, "y": {}}},
}
FEATURES = {name: list(spec["features"]) for name, spec in STREAMS.items()}
VALID_LABELS: dict[str, st.SearchStrategy[Any]] = {
    "rooms": st.sampled_from([True, False, 0, 1, 0.0, 1.0]),
    "grade": st.sampled_from(["low", "mid", "high"]),
    "level": st.one_of(st.floats(-1e9, 1e9, allow_nan=False), st.integers(-(10**9), 10**9)),
}
BAD_LABELS: dict[str, st.SearchStrategy[Any]] = {
    "rooms": st.one_of(
        st.sampled_from([2, 1.5, -1, 1e30, "yes", "true", "False", "0", "1"]),
        st.integers().filter(lambda n: n not in (0, 1)),
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x not in (0, 1)),
        st.text(max_size=20),
    ),
    "grade": st.one_of(
        st.sampled_from(["LOW", "unknown", "", True, 1.5, 3, 0]),
        st.text(max_size=20).filter(lambda s: s not in ("low", "mid", "high")),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    "level": st.one_of(st.booleans(), st.text(max_size=20)),
}
#: Placeholders spliced out of a serialized item for what orjson will not write (or not write that deep).
DEEP, RAW = "\x00deep\x00", "\x00raw\x00"
#: Bytes that make a body or message not JSON: NaN, an infinity, a number beyond a double, bad UTF-8, a lone
#: surrogate, a control character in a string.
NOT_JSON_VALUES = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b'"\xff\xfe"', b'"\xc3\x28"', b'"\\ud800"', b'"\x01"']

#: Why an item or body of each kind is rejected: the reason the collector must give.
ITEM_REASONS = {
    "missing_field": "invalid",
    "wrong_type": "invalid",
    "extra_field": "invalid",
    "bad_device_id": "invalid",
    "not_an_object": "invalid",
    "too_many_features": "invalid",
    "bad_label": "invalid_label",
    "future_ts": "future",
    "wrong_stream": "wrong_stream",
    "wrong_device": "wrong_device",
    "too_deep": "too_deep",
    "too_deep_for_parser": "too_deep",
    "too_large": "too_large",
}
#: HTTP bodies refused whole: (status, reason); the reason is the dead letter's ``reason`` header.
BODY_REFUSALS = {
    "not_json": (422, "not_json"),
    "truncated": (422, "not_json"),
    "scalar_body": (422, "invalid"),
    "empty_batch": (422, "empty"),
    "body_too_deep": (422, "too_deep"),
    "content_type": (415, "unsupported_media_type"),
    "body_too_large": (413, "too_large"),
    "too_many_items": (413, "too_large"),
}
#: Refused before the sender is known to be allowed there: a 4xx, and (by design) no dead letter.
UNDELIVERED = {"unknown_stream_route": 404, "bad_token": 401}
#: MQTT messages refused whole, and their reasons.
MQTT_REFUSALS = {
    "not_json": "not_json",
    "truncated": "not_json",
    "scalar_body": "invalid",
    "unknown_stream": "unknown_stream",
}


@dataclass
class Plan:
    """One fuzz run; :meth:`quick` is the test's."""

    payloads: int = 10_000
    """Malformed payloads to send (bad items, bad bodies, bad messages and schemathesis cases)."""
    seed: int = 0
    mqtt_share: float = 0.3
    schemathesis_share: float = 0.2
    valid_per_bad: float = 0.5
    """Valid events interleaved per malformed payload."""

    @classmethod
    def quick(cls) -> Plan:
        return cls(payloads=400)


@dataclass
class Item:
    """One item of a body or one MQTT message: its bytes, and what the collector must do with it."""

    raw: bytes
    kind: str  # "valid", a key of ITEM_REASONS, or "schemathesis" (judged by the answer)
    stream: str = "rooms"
    event_id: str | None = None

    @property
    def valid(self) -> bool:
        return self.kind == "valid"


@dataclass
class Request:
    """One HTTP request (``items`` set when the body is a JSON array or object of them) or MQTT message."""

    transport: str
    kind: str  # "items", a key of BODY_REFUSALS / UNDELIVERED / MQTT_REFUSALS, or "schemathesis"
    stream: str
    body: bytes
    items: list[Item] = field(default_factory=list)
    content_type: str | None = "application/json"
    topic: str = ""


@dataclass
class FuzzRun:
    """What the fuzz run sent and what came back; ``violations`` lists every broken property."""

    plan: Plan
    sent: dict[str, dict[str, int]] = field(default_factory=dict)
    """Malformed payloads per transport and kind."""
    valid_sent: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    mqtt_messages: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    """HTTP answers by status."""
    server_errors: int = 0
    schemathesis_cases: int = 0
    schemathesis_items_accepted: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    dead_letters_expected: int = 0
    dead_letters: int = 0
    dead_letters_missing: int = 0
    dead_letters_unexpected: int = 0
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)
    trainer_dead_letters: int = 0
    undelivered_refusals: int = 0
    accepted_events: int = 0
    outcomes: int = 0
    missing_outcomes: int = 0
    duplicate_outcomes: int = 0
    unexpected_outcomes: int = 0
    alive: dict[str, bool] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    generate_s: float = 0.0
    send_s: float = 0.0
    seconds: float = 0.0

    @property
    def malformed(self) -> int:
        return sum(sum(kinds.values()) for kinds in self.sent.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "malformed": self.malformed}


# Generation


def draw(strategy: st.SearchStrategy[Any], n: int, seed: int) -> list[Any]:
    """``n`` examples of ``strategy``, reproducibly from ``seed`` (Hypothesis's generation, without a test)."""
    out: list[Any] = []
    round_ = 0
    while len(out) < n:

        @settings(
            max_examples=n - len(out),
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis_seed(seed * 1000 + round_)
        @given(strategy)
        def collect(example: Any) -> None:
            out.append(example)

        before = len(out)
        collect()
        round_ += 1
        if len(out) == before:  # a space Hypothesis has exhausted
            break
    return out[:n]


def _text(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(max_size=max_size)


feature_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,20}\Z")
finite = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0, 0.0]),
)


@st.composite
def valid_event(draw: st.DrawFn, stream: str) -> dict[str, Any]:
    """A contract-valid event of ``stream`` (ids and times set when sent), with edge values a model must survive."""
    features: dict[str, Any] = {}
    for name in FEATURES[stream]:
        # Missing values and huge finite numbers are valid: the trainer's cleaning and models must cope.
        features[name] = draw(st.one_of(st.floats(-1e3, 1e3), st.integers(-1000, 1000), finite, st.none()))
    if draw(st.booleans()):
        features.update(draw(st.dictionaries(feature_names, finite, max_size=3)))
    event: dict[str, Any] = {"features": features}
    if draw(st.integers(0, 9)):  # most events carry their label
        event["label"] = draw(VALID_LABELS[stream])
    if draw(st.integers(0, 4)) == 0:
        event["metadata"] = draw(st.dictionaries(_text(16), _text(MAX_TEXT), max_size=3))
    return event


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | _text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_text(8), children, max_size=3),
    max_leaves=8,
).filter(lambda v: v == v)  # no infinities sneaking past orjson as null


@st.composite
def bad_item(draw: st.DrawFn, stream: str, kind: str) -> tuple[str, dict[str, Any] | Any]:
    """``(kind, item)``: an item that breaks the contract or the stream's rules in one way, ``kind``."""
    event = draw(valid_event(stream))
    if kind == "missing_field":
        event["_drop"] = draw(st.sampled_from(["event_id", "device_id", "stream", "ts", "features"]))
    elif kind == "wrong_type":
        name, value = draw(
            st.sampled_from(
                [
                    ("event_id", st.one_of(st.integers(), st.sampled_from(["", "x" * 129]), st.lists(_text()))),
                    ("ts", st.sampled_from(["yesterday", "2025-01-01T00:00:00", "", "2025-13-01T00:00", 1700000000])),
                    ("features", st.one_of(st.lists(finite, max_size=3), _text(), st.integers())),
                    ("features", st.fixed_dictionaries({"x": st.one_of(st.lists(finite, min_size=1, max_size=2),
                                                                       st.text(min_size=MAX_TEXT + 1, max_size=300))})),
                    ("features", st.dictionaries(st.sampled_from(["bad name", "9lives", "", "a" * 65]), finite,
                                                 min_size=1, max_size=1)),
                    ("label", st.one_of(st.lists(finite, max_size=2), st.dictionaries(_text(4), finite, max_size=2),
                                        st.text(min_size=MAX_TEXT + 1, max_size=300))),
                    ("metadata", st.one_of(st.dictionaries(_text(8), st.integers(), min_size=1, max_size=2),
                                           st.just({"k" * 65: "v"}), st.lists(_text(), max_size=2))),
                    ("units", st.one_of(st.just({"x": "u" * 33}), st.integers(), st.just({"x": 1}))),
                    ("version", st.sampled_from([0, 2, "1", None, True])),
                    ("kind", st.sampled_from(["label_event", "outcome", "", None, 1])),
                ]
            ).flatmap(lambda pair: st.tuples(st.just(pair[0]), pair[1]))
        )  # fmt: skip
        event[name] = value
    elif kind == "extra_field":
        name = draw(_text(20).filter(lambda n: n not in _FIELDS))
        event[name] = draw(JSON_VALUES)
    elif kind == "bad_device_id":
        event["device_id"] = draw(st.sampled_from(["bad id!", "", "-dash", "é", "x" * 129, "a/b"]))
    elif kind == "not_an_object":
        return kind, draw(st.one_of(st.none(), st.booleans(), finite, _text(), st.lists(finite, max_size=3)))
    elif kind == "too_many_features":
        event["features"] = {f"f{i}": 1 for i in range(MAX_FEATURES + 1 + draw(st.integers(0, 50)))}
    elif kind == "bad_label":
        event["label"] = draw(BAD_LABELS[stream])
    elif kind == "future_ts":
        event["_future_s"] = draw(st.integers(3600, 3000 * 365 * 86400))
    elif kind == "wrong_stream":
        event["stream"] = draw(st.sampled_from([s for s in [*STREAMS, "kitchens"] if s != stream]))
    elif kind == "wrong_device":
        event["device_id"] = draw(st.sampled_from(["dev-x", "rooms-000", "Dev-H"]))
    elif kind == "too_deep":
        event["features"] = {"x": DEEP}
        event["_depth"] = draw(st.integers(33, 600))
    elif kind == "too_deep_for_parser":
        event["features"] = {"x": DEEP}
        event["_depth"] = draw(st.integers(1100, 3000))
    elif kind == "too_large":
        # Contract-valid, but over the 64 KiB a message may be.
        event["metadata"] = {f"k{i}": "v" * MAX_TEXT for i in range(MAX_MESSAGE_BYTES // MAX_TEXT + 10)}
    return kind, event


_FIELDS = {"kind", "version", "event_id", "device_id", "stream", "ts", "features", "label", "units", "metadata"}


class Factory:
    """Turns drawn items into bytes with unique ids and times relative to now."""

    def __init__(self, seed: int) -> None:
        self.t0 = datetime.now(UTC) - timedelta(hours=1)
        self.n = 0
        self.rng = random.Random(seed)

    def stamp(self, event: dict[str, Any], stream: str, device: str, valid: bool) -> tuple[bytes, str]:
        self.n += 1
        event_id = f"{'v' if valid else 'b'}{self.n}"
        ts = self.t0 + timedelta(milliseconds=self.n)
        if "_future_s" in event:
            ts = datetime.now(UTC) + timedelta(seconds=event.pop("_future_s"))
            ts = min(ts, datetime(9999, 1, 1, tzinfo=UTC))
        # A time zone other than UTC now and then: aware times compare in any offset.
        offset = timedelta(hours=self.rng.choice([0, 0, 2, -5]))
        full = {
            "event_id": event_id,
            "device_id": device,
            "stream": stream,
            "ts": ts.astimezone(UTC if not offset else _tz(offset)).isoformat(),
        }
        depth = event.pop("_depth", 0)
        drop = event.pop("_drop", None)
        full.update(event)
        if drop:
            full.pop(drop, None)
        raw = orjson.dumps(full)
        if depth:
            raw = raw.replace(orjson.dumps(DEEP), b"[" * depth + b"]" * depth)
        return raw, event_id


def _tz(offset: timedelta) -> Any:
    from datetime import timezone

    return timezone(offset)


def schemathesis_bodies(url: str, n: int, seed: int) -> list[Any]:
    """``n`` negative request bodies from the collector's OpenAPI document at ``url``/openapi.json."""
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operation = schema["/v1/streams/{stream}/{kind}"]["POST"]
    strategy = operation.as_strategy(
        GenerationMode.NEGATIVE,
        path_parameters={"stream": "rooms", "kind": "events"},
        headers=http_headers(),
    )
    return [case.body for case in draw(strategy, n, seed)]


def http_headers(token: str = TOKEN) -> dict[str, str]:
    return {"X-Device-Id": HTTP_DEVICE, "Authorization": f"Bearer {token}"}


def _join(items: list[Item]) -> bytes:
    return b"[" + b",".join(item.raw for item in items) + b"]"


def _schemathesis_request(body: Any, rng: random.Random) -> Request:
    """A schemathesis body as bytes whose items' own bytes are known; ids and streams sometimes set to the
    sender's, so the checks past ``device_id`` and ``stream`` are reached too."""

    def anchor(item: Any) -> Item:
        if isinstance(item, dict) and rng.random() < 0.5:
            item = {**item, "device_id": HTTP_DEVICE, "stream": "rooms"}
        try:
            return Item(orjson.dumps(item), "schemathesis")
        except TypeError:  # an integer beyond 64 bits: the standard library writes it (and NaN, as NaN)
            return Item(json.dumps(item).encode(errors="surrogatepass"), "schemathesis")

    if isinstance(body, bytes):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Request("http", "schemathesis", "rooms", body)
    if isinstance(body, list):
        items = [anchor(item) for item in body]
        return Request("http", "schemathesis", "rooms", _join(items), items)
    item = anchor(body)
    return Request("http", "schemathesis", "rooms", item.raw, [item] if isinstance(body, dict) else [])


def generate(plan: Plan, url: str, say: Callable[[str], None] = lambda _: None) -> list[Request]:
    """The whole run's requests and messages, interleaved, in sending order."""
    rng = random.Random(plan.seed)
    factory = Factory(plan.seed)
    n_schema = int(plan.payloads * plan.schemathesis_share)
    say(f"fuzz: {n_schema} schemathesis cases from {url}/openapi.json")
    schema_bodies = schemathesis_bodies(url, n_schema, plan.seed) if n_schema else []
    n_own = plan.payloads - len(schema_bodies)
    say(f"fuzz: {n_own} payloads from the contracts' strategies")
    streams = sorted(STREAMS)
    bad: dict[str, list[tuple[str, Any]]] = {s: [] for s in streams}
    # Every kind in equal shares (Hypothesis would favour the first of a sampled_from), shuffled.
    cells = [(stream, kind) for stream in streams for kind in sorted(ITEM_REASONS)]
    for n, (stream, kind) in enumerate(cells):
        share = n_own // len(cells) + (n < n_own % len(cells))
        bad[stream] += draw(bad_item(stream, kind), share, plan.seed + n) if share else []
    for pool in bad.values():
        rng.shuffle(pool)
    valid: dict[str, list[dict[str, Any]]] = {s: [] for s in streams}
    n_valid = int(plan.payloads * plan.valid_per_bad) + 2
    for stream, event in draw(st.sampled_from(streams).flatmap(lambda s: st.tuples(st.just(s), valid_event(s))),
                              n_valid, plan.seed + 1):  # fmt: skip
        valid[stream].append(event)

    def valid_item(device: str, stream: str | None = None) -> Item:
        stream = stream or rng.choice(streams)
        pool = valid[stream]
        event = pool.pop() if pool else {"features": dict.fromkeys(FEATURES[stream], 1.0)}
        raw, event_id = factory.stamp(dict(event), stream, device, valid=True)
        return Item(raw, "valid", stream, event_id)

    def bad_of(device: str, stream: str) -> Item:
        kind, event = bad[stream].pop()
        if kind == "not_an_object":
            return Item(orjson.dumps(event), kind, stream)
        raw, event_id = factory.stamp(dict(event), stream, device, valid=False)
        return Item(raw, kind, stream, event_id)

    def left() -> int:
        return sum(len(pool) for pool in bad.values())

    requests: list[Request] = []
    while left() or schema_bodies:
        # Valid events ride along, on their own or in the batches of the bad ones.
        for _ in range(_poisson(rng, plan.valid_per_bad / 2)):
            if rng.random() < plan.mqtt_share:
                requests.append(_message(valid_item(MQTT_DEVICE)))
            else:
                item = valid_item(HTTP_DEVICE)
                requests.append(Request("http", "items", item.stream, item.raw, [item]))
        if schema_bodies and (not left() or rng.random() < len(schema_bodies) / (len(schema_bodies) + left())):
            requests.append(_schemathesis_request(schema_bodies.pop(), rng))
            continue
        stream = rng.choice([s for s in streams if bad[s]])
        if rng.random() < plan.mqtt_share:
            requests.append(_mqtt_message(bad_of(MQTT_DEVICE, stream), rng))
            continue
        shape = rng.random()
        if shape < 0.15:
            requests.append(_refused_body(rng.choice(BODY_KINDS), bad_of(HTTP_DEVICE, stream), valid_item, rng))
        elif shape < 0.55:
            # A batch: bad items (each one payload) mixed with valid events of the same stream.
            items = [bad_of(HTTP_DEVICE, stream) for _ in range(min(len(bad[stream]), rng.randint(1, 5)))]
            items += [valid_item(HTTP_DEVICE, stream) for _ in range(_poisson(rng, plan.valid_per_bad * len(items)))]
            rng.shuffle(items)
            body = _join(items)
            if len(body) <= MAX_BODY_BYTES:
                requests.append(Request("http", "items", stream, body, items))
            else:  # a few too_large items together: one request each, so each is judged on its own
                requests += [Request("http", "items", stream, _join([item]), [item]) for item in items]
        else:
            item = bad_of(HTTP_DEVICE, stream)
            # A lone value that is not an object, or one nested beyond the parser, would be a body refused whole
            # (a 422 with a detail): it goes in an array, whose items are judged one by one.
            body = _join([item]) if item.kind in ("not_an_object", "too_deep_for_parser") else item.raw
            requests.append(Request("http", "items", stream, body, [item]))
    # The last message over each transport is valid: its outcome shows the path still works.
    requests.append(_message(valid_item(MQTT_DEVICE)))
    item = valid_item(HTTP_DEVICE)
    requests.append(Request("http", "items", item.stream, item.raw, [item]))
    return requests


BODY_KINDS = sorted(BODY_REFUSALS) + sorted(UNDELIVERED)


def _message(item: Item) -> Request:
    return Request("mqtt", "items", item.stream, item.raw, [item], topic=_topic(item.stream))


def _poisson(rng: random.Random, mean: float) -> int:
    n, threshold, p = 0, pow(2.718281828459045, -mean), rng.random()
    while p > threshold:
        n, p = n + 1, p * rng.random()
    return n


def _topic(stream: str, device: str = MQTT_DEVICE) -> str:
    return f"sensors/{stream}/{device}"


def _mqtt_message(item: Item, rng: random.Random) -> Request:
    shape = rng.random()
    if shape < 0.15:
        kind = rng.choice(sorted(MQTT_REFUSALS))
        body = _refused_payload(kind, item, rng)
        topic = _topic("kitchens") if kind == "unknown_stream" else _topic(item.stream)
        return Request("mqtt", kind, item.stream, body, topic=topic)
    return _message(item)


def _refused_payload(kind: str, item: Item, rng: random.Random) -> bytes:
    if item.kind in ("too_deep", "too_deep_for_parser", "too_large", "not_an_object"):
        # Their own limits would be met before the body's fault (a parser stops at the depth first), and a
        # prefix of a lone number (``1`` of ``1.5``) is JSON: an object's prefix never is.
        item = Item(b'{"event_id":"b0","device_id":"dev-h","features":{"x":1}}', "wrong_type")
    if kind == "not_json":
        value = rng.choice(NOT_JSON_VALUES)
        at = item.raw.find(b'"features":')
        return item.raw[:at] + b'"label":' + value + b"," + item.raw[at:] if at > 0 else value
    if kind == "truncated":
        return item.raw[: rng.randint(0, max(0, len(item.raw) - 1))]
    if kind == "scalar_body":
        return rng.choice([b"42", b'"event"', b"null", b"true", b"-1.5e3"])
    return item.raw  # unknown_stream: the topic is what is wrong


def _refused_body(kind: str, item: Item, valid_item: Callable[[str], Item], rng: random.Random) -> Request:
    """An HTTP body refused whole (or before it is read) for ``kind``."""
    stream = item.stream
    if kind in ("not_json", "truncated", "scalar_body"):
        return Request("http", kind, stream, _refused_payload(kind, item, rng))
    if kind == "empty_batch":
        return Request("http", kind, stream, rng.choice([b"[]", b" [ ] ", b"[\n]"]))
    if kind == "body_too_deep":
        depth = rng.randint(1100, 4000)
        return Request("http", kind, stream, b'{"a":' * depth + b"1" + b"}" * depth)
    if kind == "content_type":
        content_type = rng.choice([None, "text/plain", "application/xml", "application/json; charset=latin-1",
                                   "multipart/form-data", "application/x-www-form-urlencoded"])  # fmt: skip
        # Valid-looking events under a wrong Content-Type are refused all the same.
        return Request("http", kind, stream, _join([item, valid_item(HTTP_DEVICE)]), content_type=content_type)
    if kind == "body_too_large":
        size = rng.choice([MAX_BODY_BYTES + 1, MAX_BODY_BYTES * 2, 700 * 1024])
        return Request("http", kind, stream, b'[{"pad":"' + b"x" * size + b'"}]')
    if kind == "too_many_items":
        if item.kind == "too_large":
            item = Item(b'{"event_id":"b0"}', "missing_field")
        return Request("http", kind, stream, _join([item] * (MAX_BATCH_ITEMS + 1)))
    if kind == "unknown_stream_route":
        return Request("http", kind, "kitchens", item.raw)
    return Request("http", kind, stream, item.raw)  # bad_token


# Running


def config(bootstrap: str, state: Path, mqtt_port: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    return {
        "state_dir": str(state),
        "kafka": {"bootstrap_servers": bootstrap},
        "topics": {
            role: {"name": f"fuzz-{run}.{role}", "partitions": 3 if role in ("events", "labels") else 1}
            for role in ("events", "labels", "outcomes", "drift", "control", "deadletter", "checkpoints")
        },
        "trainer": {"group_id": f"fuzz-trainer-{run}", "port": 0},
        "collector": {
            "max_body_bytes": MAX_BODY_BYTES,
            "max_batch_items": MAX_BATCH_ITEMS,
            "mqtt": {"enabled": True, "port": mqtt_port, "password": BRIDGE_PASSWORD, "client_id": f"bridge-{run}"},
        },
        "devices": {
            HTTP_DEVICE: {"token_sha256": hash_token(TOKEN)},
            MQTT_DEVICE: {"token_sha256": hash_token("unused")},
        },
        "streams": STREAMS,
    }


class Services:
    """The collector (HTTP and MQTT bridge) and the trainer, in this process, on one Mosquitto and Kafka."""

    def __init__(self, settings: Settings, mosquitto: Mosquitto) -> None:
        bootstrap = settings.kafka.bootstrap_servers
        self.settings = settings
        self.http_publisher = Publisher(bootstrap, send_timeout_s=30)
        self.mqtt_publisher = Publisher(bootstrap, send_timeout_s=30)
        self.server = BackgroundServer(create_app(Ingestor(settings, self.http_publisher)))
        mqtt_settings: MqttSettings = settings.collector.mqtt
        self.bridge = MqttBridge(Ingestor(settings, self.mqtt_publisher), mqtt_settings)
        self.trainer = TrainerRunner(settings, bootstrap, port=0)
        self.mosquitto = mosquitto

    def start(self) -> str:
        self.trainer.start()
        self.bridge.start()
        return self.server.start().url

    def stop(self) -> None:
        for stop in (self.server.stop, self.bridge.stop, self.trainer.stop):
            with contextlib.suppress(Exception):  # the others still need stopping
                stop()
        self.http_publisher.close()
        self.mqtt_publisher.close()


class Device:
    """The MQTT device publishing at QoS 1; every message is confirmed by Mosquitto before the check."""

    def __init__(self, mosquitto: Mosquitto) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{MQTT_DEVICE}-{uuid.uuid4().hex[:6]}")
        self.client.username_pw_set(MQTT_DEVICE, MQTT_PASSWORD)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", mosquitto.port)
        self.client.loop_start()
        self.sent: list[mqtt.MQTTMessageInfo] = []

    def publish(self, topic: str, payload: bytes) -> None:
        self.sent.append(self.client.publish(topic, payload, qos=1))

    def close(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for info in self.sent:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        self.client.disconnect()
        self.client.loop_stop()


class Checker:
    """Judges each answer as it comes, and keeps what the topics must hold afterwards."""

    def __init__(self, result: FuzzRun) -> None:
        self.result = result
        #: The dead letters the topic must hold: (payload, reason), the reason None where any will do.
        self.expected_letters: Counter[tuple[bytes, str | None]] = Counter()
        self.expected_heads: list[bytes] = []  # bodies too large to read whole: their dead letter is a head
        self.accepted: set[str] = set()  # event ids (each device's own; ids are unique across both)
        self.statuses: Counter[int] = Counter()
        self.rejected: Counter[str] = Counter()

    def fail(self, request: Request, what: str) -> None:
        if len(self.result.violations) < 50:
            self.result.violations.append(f"{request.transport} {request.kind}: {what}; body {request.body[:160]!r}")

    def http(self, request: Request, response: httpx.Response) -> None:
        status = response.status_code
        self.statuses[status] += 1
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if status >= 500:
            self.result.server_errors += 1
            self.fail(request, f"answered {status}: {response.text[:200]}")
            return
        if request.kind in UNDELIVERED:
            if status != UNDELIVERED[request.kind]:
                self.fail(request, f"answered {status}, expected {UNDELIVERED[request.kind]}")
            self.result.undelivered_refusals += 1
            return
        if isinstance(answer, dict) and "items" not in answer and status != 202:
            # Refused whole: a detail naming the problem, and the body dead-lettered.
            if not (400 <= status < 500 and isinstance(answer.get("detail"), str) and answer["detail"]):
                self.fail(request, f"answered {status} {response.text[:200]}")
            expected = BODY_REFUSALS.get(request.kind)
            if request.kind != "schemathesis" and (expected is None or status != expected[0]):
                self.fail(request, f"refused whole with {status} ({answer.get('detail')}), expected {expected}")
            reason = BODY_REFUSALS[request.kind][1] if request.kind in BODY_REFUSALS else None
            self.rejected[reason or f"body {status}"] += 1
            if len(request.body) > MAX_BODY_BYTES:
                self.expected_heads.append(request.body)
            else:
                self.expected_letters[request.body, reason] += 1
            return
        if request.kind in BODY_REFUSALS:
            self.fail(request, f"answered {status}, expected {BODY_REFUSALS[request.kind][0]} for the whole body")
            return
        results = answer.get("items") if isinstance(answer, dict) else None
        if status == 202:
            results = [{"index": i, "status": "accepted"} for i in range(len(request.items))]
        elif status not in (207, 422) or not isinstance(results, list):
            self.fail(request, f"answered {status} {response.text[:200]}")
            return
        if len(results) != len(request.items):
            self.fail(request, f"{len(results)} results for {len(request.items)} items")
            return
        for item, verdict in zip(request.items, results, strict=True):
            self.item(request, item, verdict)

    def item(self, request: Request, item: Item, verdict: dict[str, Any]) -> None:
        if verdict.get("status") == "accepted":
            if item.kind == "schemathesis":
                self.result.schemathesis_items_accepted += 1
                item.event_id = verdict.get("event_id") or orjson.loads(item.raw)["event_id"]
            elif not item.valid:
                self.fail(request, f"a {item.kind} item was accepted: {item.raw[:120]!r}")
                return
            self.accepted.add(item.event_id or "")
            return
        reason = verdict.get("reason", "")
        self.rejected[reason] += 1
        problems = verdict.get("problems") or []
        if not problems or not all(p.get("field") and p.get("message") for p in problems):
            self.fail(request, f"rejected item without a problem naming it: {verdict}")
        if item.valid:
            self.fail(request, f"a valid event was rejected: {verdict}; {item.raw[:200]!r}")
        elif item.kind != "schemathesis" and reason != ITEM_REASONS[item.kind]:
            self.fail(request, f"a {item.kind} item rejected as {reason}, expected {ITEM_REASONS[item.kind]}")
        self.expected_letters[item.raw, reason] += 1

    def mqtt(self, request: Request) -> None:
        """What Kafka must get for one MQTT message (judged from the topics afterwards)."""
        if request.kind != "items":
            self.expected_letters[request.body, MQTT_REFUSALS[request.kind]] += 1
        elif request.items[0].valid:
            self.accepted.add(request.items[0].event_id or "")
        else:
            self.expected_letters[request.body, ITEM_REASONS[request.items[0].kind]] += 1


def send(
    requests: list[Request], url: str, device: Device, checker: Checker, tick: Callable[[], None] = lambda: None
) -> None:
    """Every request in order: HTTP ones answered before the next, MQTT ones published on."""
    with httpx.Client(base_url=url, timeout=60) as client:
        for request in requests:
            if request.transport == "mqtt":
                device.publish(request.topic, request.body)
                checker.mqtt(request)
            else:
                token = "not-the-token" if request.kind == "bad_token" else TOKEN
                headers = http_headers(token)
                if request.content_type is not None:
                    headers["Content-Type"] = request.content_type
                path = f"/v1/streams/{request.stream}/events"
                checker.http(request, client.post(path, content=request.body, headers=headers))
            tick()


def count_sent(requests: list[Request], result: FuzzRun) -> None:
    sent: dict[str, Counter[str]] = {"http": Counter(), "mqtt": Counter()}
    valid: Counter[str] = Counter()
    for request in requests:
        if request.kind == "items":
            for item in request.items:
                if item.valid:
                    valid[request.transport] += 1
                else:
                    sent[request.transport][item.kind] += 1
        else:
            sent[request.transport][request.kind] += 1
            valid[request.transport] += sum(item.valid for item in request.items)  # none of them accepted
    result.sent = {transport: dict(sorted(kinds.items())) for transport, kinds in sent.items()}
    result.valid_sent = dict(valid)
    result.requests = sum(r.transport == "http" for r in requests)
    result.mqtt_messages = sum(r.transport == "mqtt" for r in requests)
    result.schemathesis_cases = sum(r.kind == "schemathesis" for r in requests)


def check_topics(settings: Settings, checker: Checker, result: FuzzRun) -> None:
    """The dead letters and the outcomes against what the answers and the sent messages call for."""
    bootstrap = settings.kafka.bootstrap_servers
    topics = settings.topics
    expected_dead = sum(checker.expected_letters.values()) + len(checker.expected_heads)
    result.dead_letters_expected = expected_dead

    def letters() -> list[Any]:
        return read_topic(bootstrap, topics.deadletter.name, topics.deadletter.partitions)

    wait_until(lambda: len(letters()) >= expected_dead, 120, 0.25)
    records = letters()
    by_source: list[Any] = []
    for record in records:
        headers = {k: v.decode() for k, v in record.headers() or []}
        if headers.get("source", "").startswith("trainer"):
            result.trainer_dead_letters += 1
            result.violations.append(f"the trainer dead-lettered {record.value()[:160]!r}: {headers.get('error')}")
            continue
        by_source.append((record.value(), headers))
    result.dead_letters = len(by_source)
    result.dead_letters_by_reason = dict(Counter(h.get("reason", "") for _, h in by_source).most_common())
    expected = Counter(checker.expected_letters)
    heads = list(checker.expected_heads)
    for value, headers in by_source:
        if not headers.get("error") or not headers.get("reason"):
            result.violations.append(f"a dead letter without error or reason headers: {headers}")
        matched = next((key for key in ((value, headers.get("reason")), (value, None)) if expected[key] > 0), None)
        if matched is not None:
            expected[matched] -= 1
            continue
        head = next((i for i, body in enumerate(heads) if value and body.startswith(value)), None)
        if head is not None:
            heads.pop(head)
            continue
        result.dead_letters_unexpected += 1
        if len(result.violations) < 50:
            result.violations.append(f"an unexpected dead letter ({headers.get('reason')}): {value[:160]!r}")
    result.dead_letters_missing = sum(expected.values()) + len(heads)
    if result.dead_letters_missing:
        missing = [(value[:120], reason) for (value, reason), n in expected.items() if n > 0][:5]
        result.violations.append(f"{result.dead_letters_missing} bad items without their dead letter, e.g. {missing}")

    # Every accepted event: exactly one outcome.
    result.accepted_events = len(checker.accepted)

    def outcomes() -> list[Outcome]:
        spec = topics.outcomes
        return [parse(Outcome, m.value()) for m in read_topic(bootstrap, spec.name, spec.partitions)]

    wait_until(lambda: len(outcomes()) >= len(checker.accepted), 180, 0.25)
    time.sleep(2.0)  # and nothing more after them
    seen = outcomes()
    per_event = Counter(o.event_id for o in seen)
    result.outcomes = len(seen)
    result.missing_outcomes = len(checker.accepted - set(per_event))
    result.duplicate_outcomes = sum(n - 1 for n in per_event.values())
    result.unexpected_outcomes = len(set(per_event) - checker.accepted)
    if result.missing_outcomes:
        missing = sorted(checker.accepted - set(per_event))[:10]
        result.violations.append(f"{result.missing_outcomes} accepted events without an outcome, e.g. {missing}")
    if result.duplicate_outcomes or result.unexpected_outcomes:
        result.violations.append(
            f"{result.duplicate_outcomes} duplicate outcomes, {result.unexpected_outcomes} outcomes of events "
            "never accepted"
        )


def run(
    bootstrap: str,
    folder: Path,
    plan: Plan,
    say: Callable[[str], None] = lambda _: None,
    progress: Callable[[int], Callable[[], None]] = lambda _: lambda: None,
) -> FuzzRun:
    """Run the scenario once against the Kafka at ``bootstrap``, with a Mosquitto of its own in ``folder``."""
    began = time.monotonic()
    result = FuzzRun(plan)
    with Mosquitto(folder / "mosquitto", {"collector": BRIDGE_PASSWORD, MQTT_DEVICE: MQTT_PASSWORD}) as mosquitto:
        settings = settings_from_dict(config(bootstrap, folder / "state", mosquitto.port))
        ensure_topics(bootstrap, settings.topics)
        services = Services(settings, mosquitto)
        say("fuzz: starting the collector, its MQTT bridge and the trainer")
        url = services.start()
        device: Device | None = None
        try:
            requests = generate(plan, url, say)
            result.generate_s = time.monotonic() - began
            count_sent(requests, result)
            checker = Checker(result)
            device = Device(mosquitto)
            say(f"fuzz: sending {result.requests:,} HTTP requests and {result.mqtt_messages:,} MQTT messages")
            sending = time.monotonic()
            send(requests, url, device, checker, progress(len(requests)))
            device.close()
            device = None
            result.send_s = time.monotonic() - sending
            result.statuses = {str(k): v for k, v in sorted(checker.statuses.items())}
            wait_until(lambda: services.bridge.settled >= result.mqtt_messages, 120, 0.25)
            say("fuzz: checking the dead letters and the outcomes")
            check_topics(settings, checker, result)
            result.rejected_by_reason = dict(checker.rejected.most_common())
            result.alive = alive(services, url)
            for name, up in result.alive.items():
                if not up:
                    result.violations.append(f"{name} is not up")
        finally:
            if device is not None:
                device.close(timeout=5)
            services.stop()
    result.seconds = time.monotonic() - began
    return result


def alive(services: Services, url: str) -> dict[str, bool]:
    def ok(address: str) -> bool:
        try:
            return httpx.get(f"{address}/healthz", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    bridge = services.bridge
    return {
        "collector": ok(url),
        "mqtt bridge": bridge.client.is_connected()
        and bridge._service.is_alive()
        and bridge.settled == bridge.received,
        "trainer": services.trainer.stopped() is None and ok(services.trainer.url),
    }


# The benchmark


def bench(plan: Plan, out: Path, command: str, say: Callable[[str], None], progress) -> Path:
    """`driftline bench fuzz`: the scenario on a broker of its own; writes fuzz.md and fuzz.json."""
    import tempfile

    from driftline.kafkaio.broker import LocalBroker

    with tempfile.TemporaryDirectory() as tmp, LocalBroker(data_dir=Path(tmp) / "kafka") as broker:
        say("fuzz: Kafka started")
        result = run(broker.bootstrap_servers, Path(tmp), plan, say, progress)
    return report(result, command, out)


def report(result: FuzzRun, command: str, out: Path) -> Path:
    """Write fuzz.json and fuzz.md into ``out``; returns the markdown file."""
    import os
    import platform

    out.mkdir(parents=True, exist_ok=True)
    (out / "fuzz.json").write_text(json.dumps({"command": command, **result.as_dict()}, indent=1))
    r = result
    http, mqtt_sent = sum(r.sent.get("http", {}).values()), sum(r.sent.get("mqtt", {}).values())
    lines = [
        "# Fuzz: malformed payloads over HTTP and MQTT, interleaved with valid events",
        "",
        f"`{command}` on {platform.node() or 'this machine'} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}), {time.strftime('%Y-%m-%d')}, seed {r.plan.seed}. One local Kafka broker, "
        "a real Mosquitto, the collector's HTTP ingest and MQTT bridge and the trainer in one process "
        "(`driftline_lab.fuzz`). Malformed payloads: schemathesis's negative cases from the collector's "
        "/openapi.json, and Hypothesis strategies from the contracts (labels that do not fit the task, times "
        "ahead of the clock, another device's or stream's items, nesting, sizes, NaN, bad UTF-8, Content-Type, "
        "batch limits), sent alone, in batches mixed with valid events, as whole bodies and as MQTT messages.",
        "",
        "| figure | value |",
        "| --- | ---: |",
        f"| malformed payloads | {r.malformed:,} (HTTP {http:,}, MQTT {mqtt_sent:,}; {r.schemathesis_cases:,} "
        "schemathesis cases) |",
        f"| HTTP requests, MQTT messages | {r.requests:,}, {r.mqtt_messages:,} |",
        f"| 5xx answers | {r.server_errors} |",
        f"| dead letters expected, written | {r.dead_letters_expected:,}, {r.dead_letters:,} |",
        f"| dead letters missing, unexpected, from the trainer | {r.dead_letters_missing}, "
        f"{r.dead_letters_unexpected}, {r.trainer_dead_letters} |",
        f"| refused before the sender is known (401/404, not dead-lettered by design) | {r.undelivered_refusals:,} |",
        f"| valid events sent (HTTP, MQTT) | {r.valid_sent.get('http', 0):,}, {r.valid_sent.get('mqtt', 0):,} |",
        f"| schemathesis items the collector accepted (valid by the contract) | {r.schemathesis_items_accepted:,} |",
        f"| events accepted, outcomes | {r.accepted_events:,}, {r.outcomes:,} |",
        f"| outcomes missing, duplicated, of events never accepted | {r.missing_outcomes}, {r.duplicate_outcomes}, "
        f"{r.unexpected_outcomes} |",
        "| still up | " + ", ".join(f"{k} {'yes' if v else '**no**'}" for k, v in r.alive.items()) + " |",
        f"| seconds (generating, sending, all) | {r.generate_s:.0f}, {r.send_s:.0f}, {r.seconds:.0f} |",
        "",
        "HTTP answers by status: " + ", ".join(f"{k}: {v:,}" for k, v in r.statuses.items()) + ".",
        "",
        "Rejections by reason (items and whole bodies, HTTP): "
        + ", ".join(f"{k} {v:,}" for k, v in r.rejected_by_reason.items())
        + ".",
        "",
        "Dead letters by reason: " + ", ".join(f"{k} {v:,}" for k, v in r.dead_letters_by_reason.items()) + ".",
        "",
        "## Malformed payloads sent, by transport and kind",
        "",
        "| transport | kind | payloads |",
        "| --- | --- | ---: |",
    ]
    for transport, kinds in r.sent.items():
        lines += [f"| {transport} | {kind} | {n:,} |" for kind, n in kinds.items()]
    lines += ["", "## Properties", ""]
    if r.violations:
        lines += ["**Broken:**", "", *(f"- {v}" for v in r.violations), ""]
    else:
        lines += [
            "All held: no 5xx; every bad item or body got a 4xx naming it (per-item problems with the field, or a "
            "detail) and the reason its kind calls for; exactly one dead letter per bad item with its original "
            "bytes (the head of a body too large to read); the collector, the bridge and the trainer up at the "
            "end; exactly one outcome per accepted event.",
            "",
        ]
    path = out / "fuzz.md"
    path.write_text("\n".join(lines))
    return path
