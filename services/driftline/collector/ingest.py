"""Validation shared by every way in (HTTP, MQTT, replay, simulator): pure, no I/O.

A body is split into items; each item becomes either :class:`Accepted` (a contract message, its
model key and the bytes to publish) or :class:`Rejected` (the original payload, a reason code and
the per-field problems), so a batch is never all-or-nothing. Beyond its contract, an item is checked
against its stream (:class:`StreamRules`): a label that fits the task, an event time not further
ahead of the collector's clock than ``max_clock_skew_s``, and arrays and objects nested at most
``MAX_JSON_DEPTH`` deep. A rejected item keeps its own bytes from the body it came in, never a
re-encoding.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from driftline.config.streams import StreamConfig
from driftline.contracts import (
    MAX_JSON_DEPTH,
    MAX_MESSAGE_BYTES,
    ContractError,
    LabelEvent,
    SensorEvent,
    parse,
    utc_now,
)
from driftline.rules.keys import Scope, model_key
from driftline.rules.labels import LabelError, Labels

#: The contracts the collector ingests, by the route segment that carries them.
INGESTED: dict[str, type[SensorEvent] | type[LabelEvent]] = {"events": SensorEvent, "labels": LabelEvent}


@dataclass(frozen=True, slots=True)
class StreamRules:
    """What the collector checks an item of one stream against, resolved once from the stream's config."""

    scope: Scope
    labels: Labels
    max_skew: timedelta = timedelta(seconds=300)
    clamp_future: bool = False

    @classmethod
    def of(cls, name: str, config: StreamConfig) -> StreamRules:
        skew = timedelta(seconds=config.max_clock_skew_s)
        return cls(config.scope, Labels.of(name, config), skew, config.future_events == "clamp")


class Arrival:
    """When items arrived, and whether an event time is further ahead than the stream allows.

    Aware datetimes with different tzinfo objects compare through ``utcoffset()`` calls (about 1 us
    per item, a tenth of the collector's budget); the bound is kept in the tzinfo of the last item
    seen (pydantic shares one object for "Z"), so the usual comparison is of plain fields.
    """

    __slots__ = ("_latest", "_tz", "latest", "received")

    def __init__(self, received: datetime | None, max_skew: timedelta):
        self.received = received or utc_now()
        self.latest = self.received + max_skew
        self._tz: Any = self.latest.tzinfo
        self._latest = self.latest

    def too_far_ahead(self, ts: datetime) -> bool:
        if ts.tzinfo is not self._tz:
            self._tz, self._latest = ts.tzinfo, self.latest.astimezone(ts.tzinfo)
        return ts > self._latest


@dataclass(frozen=True, slots=True)
class Accepted:
    index: int
    message: SensorEvent | LabelEvent
    key: str
    value: bytes
    clamped: bool = False  # its time was ahead of the collector's clock and set to when it arrived


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    payload: bytes
    # A short code: not_json, invalid, too_deep, invalid_label, future, wrong_stream, wrong_device, too_large,
    # unknown_stream.
    reason: str
    problems: list[tuple[str, str]]

    @property
    def error(self) -> str:
        return "; ".join(f"{field}: {message}" for field, message in self.problems)


Result = Accepted | Rejected

#: orjson's own nesting limit: a body nested deeper does not parse at all.
PARSER_DEPTH = 1024


class BodyError(ValueError):
    """A body refused whole: not JSON, nested too deep to parse, or not a JSON object or array."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TooDeep:
    """An item of a batch nested too deep for the parser; the other items of the batch still count."""

    depth: int


def split_body(body: bytes) -> tuple[list[Any], bool]:
    """The items of a body and whether it was a batch (a JSON array) rather than one object.

    A batch one of whose items is nested deeper than the parser goes is split on its own bytes:
    that item becomes :class:`TooDeep`, the others are parsed one by one, so they are not lost with it.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        if "depth limit" not in str(e):
            raise BodyError("not_json", f"body is not JSON: {e}") from None
        return _split_deep(body), True
    if isinstance(data, list):
        return data, True
    if isinstance(data, dict):
        return [data], False
    raise BodyError("invalid", f"body must be a JSON object or an array of objects, not {type(data).__name__}")


def _split_deep(body: bytes) -> list[Any]:
    spans = item_spans(body)
    if spans is None:
        raise BodyError("too_deep", f"body nested more than {PARSER_DEPTH} levels deep")
    items: list[Any] = []
    for start, end, depth in spans:
        if depth > MAX_JSON_DEPTH:
            items.append(TooDeep(depth))
            continue
        try:
            items.append(orjson.loads(body[start:end]))
        except orjson.JSONDecodeError as e:
            raise BodyError("not_json", f"body is not JSON: item {len(items)}: {e}") from None
    return items


# A JSON string (escapes included), or one of the characters that structure a document.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.DOTALL)
_OPEN, _CLOSE, _COMMA, _QUOTE = frozenset(b"[{"), frozenset(b"]}"), ord(","), ord('"')


def item_spans(body: bytes) -> list[tuple[int, int, int]] | None:
    """``(start, end, depth)`` of each item of a body that is a JSON array; None for any other body.

    A scan of the bytes, without recursion and without parsing values, so it copes with any depth;
    ``depth`` counts the arrays and objects nested in the item (an event's is 2). Only called when
    an item needs its original bytes (it was rejected) or the parser gave up on the depth.
    """
    spans: list[tuple[int, int, int]] = []
    depth = deepest = 0
    start = -1
    for match in _TOKENS.finditer(body):
        at = match.start()
        char = body[at]
        if char == _QUOTE:
            continue
        if char in _OPEN:
            depth += 1
            if depth == 1:
                if char != ord("[") or body[:at].strip():
                    return None
                start, deepest = at + 1, 1
            deepest = max(deepest, depth)
        elif char in _CLOSE:
            depth -= 1
            if depth == 0:
                if body[at + 1 :].strip():
                    return None
                if body[start:at].strip():
                    spans.append(_span(body, start, at, deepest - 1))
                elif spans:
                    return None  # a trailing comma
                return spans
        elif char == _COMMA and depth == 1:
            spans.append(_span(body, start, at, deepest - 1))
            start, deepest = at + 1, 1
    return None


def _span(body: bytes, start: int, end: int, depth: int) -> tuple[int, int, int]:
    while start < end and body[start] in b" \t\r\n":
        start += 1
    while end > start and body[end - 1] in b" \t\r\n":
        end -= 1
    return start, end, depth


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in ``raw`` (JSON or not), without recursion."""
    depth = deepest = 0
    for match in _TOKENS.finditer(raw):
        char = raw[match.start()]
        if char in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
    return deepest


class RawItems:
    """The original bytes of each item of a body, found only when one is asked for (an item was rejected)."""

    def __init__(self, body: bytes, batch: bool):
        self.body, self.batch = body, batch
        self._spans: list[tuple[int, int, int]] | None = None

    def __call__(self, index: int) -> bytes | None:
        if not self.batch:
            return self.body
        if self._spans is None:
            self._spans = item_spans(self.body) or []
        if index >= len(self._spans):
            return None
        start, end, _ = self._spans[index]
        return self.body[start:end]


def check_item(
    index: int,
    item: Any,
    model: type[SensorEvent] | type[LabelEvent],
    stream: str,
    device_id: str | None,
    rules: StreamRules,
    raw: bytes | Callable[[int], bytes | None] | None = None,
    arrival: Arrival | None = None,
) -> Result:
    """Validate one decoded item for ``stream``; ``device_id`` (when given) is the authenticated device.

    ``raw``: the item's original bytes (or how to find them), which a rejected item is dead-lettered with.
    ``arrival``: when the collector received it (now by default), which bounds its time.
    """

    def reject(reason: str, problems: list[tuple[str, str]]) -> Rejected:
        payload = raw(index) if callable(raw) else raw
        if payload is None:
            payload = _dump(item)
        if reason == "invalid" and (depth := json_depth(payload)) > MAX_JSON_DEPTH:
            reason, problems = "too_deep", [_depth_problem(depth), *problems]
        return Rejected(index, payload, reason, problems)

    if item.__class__ is TooDeep:
        return reject("too_deep", [_depth_problem(item.depth)])
    if not isinstance(item, dict):
        return reject("invalid", [("(item)", f"must be a JSON object, not {type(item).__name__}")])
    try:
        message = parse(model, item)
    except ContractError as e:
        return reject("invalid", e.problems)
    if message.stream != stream:
        return reject("wrong_stream", [("stream", f"is {message.stream!r} but was posted to stream {stream!r}")])
    if device_id is not None and message.device_id != device_id:
        return reject(
            "wrong_device", [("device_id", f"is {message.device_id!r} but the sender is device {device_id!r}")]
        )
    if message.label is not None:
        try:
            rules.labels.to_model(message.label)
        except LabelError as e:
            return reject("invalid_label", [("label", str(e))])
    clamped = False
    arrival = arrival or Arrival(None, rules.max_skew)
    if arrival.too_far_ahead(message.ts):
        received = arrival.received
        if not rules.clamp_future:
            ahead = (message.ts - received).total_seconds()
            problem = (
                f"{message.ts.isoformat()} is {ahead:.0f} s ahead of the collector's clock ({received.isoformat()}); "
                f"streams.{stream}.max_clock_skew_s allows {rules.max_skew.total_seconds():g} s"
            )
            return reject("future", [("ts", problem)])
        message, clamped = message.model_copy(update={"ts": received}), True
    value = message.to_bytes()
    if len(value) > MAX_MESSAGE_BYTES:
        return reject("too_large", [("(item)", f"{len(value)} bytes, more than the {MAX_MESSAGE_BYTES} allowed")])
    return Accepted(index, message, model_key(stream, message.device_id, rules.scope), value, clamped)


def check_items(
    items: list[Any],
    model: type[SensorEvent] | type[LabelEvent],
    stream: str,
    device_id: str | None,
    rules: StreamRules,
    raw: RawItems | None = None,
    received: datetime | None = None,
) -> list[Result]:
    """Validate decoded items received at once (``received``, now by default).

    ``raw``: the body they came from, whose bytes a rejected item keeps.
    """
    arrival = Arrival(received, rules.max_skew)
    return [check_item(i, item, model, stream, device_id, rules, raw, arrival) for i, item in enumerate(items)]


def check_raw(
    raw: bytes,
    model: type[SensorEvent] | type[LabelEvent],
    stream: str,
    device_id: str | None,
    rules: StreamRules,
    received: datetime | None = None,
) -> Result:
    """Validate one message as it arrived on the wire (MQTT): size, JSON, contract, stream and device."""
    if len(raw) > MAX_MESSAGE_BYTES:
        return Rejected(0, raw, "too_large", [("(message)", f"{len(raw)} bytes, more than {MAX_MESSAGE_BYTES}")])
    try:
        item = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if "depth limit" in str(e):
            return Rejected(0, raw, "too_deep", [_depth_problem(json_depth(raw))])
        return Rejected(0, raw, "not_json", [("(message)", f"not JSON: {e}")])
    return check_item(0, item, model, stream, device_id, rules, raw, Arrival(received, rules.max_skew))


def problems_json(problems: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"field": field, "message": message} for field, message in problems]


def _depth_problem(depth: int) -> tuple[str, str]:
    return ("(item)", f"nested {depth} levels deep, more than the {MAX_JSON_DEPTH} a message may have")


def _dump(item: Any) -> bytes:
    """An item given as Python objects (replay, the simulator), as bytes to dead-letter; never raises."""
    try:
        return orjson.dumps(item)
    except (TypeError, RecursionError):  # orjson stops at 255 levels
        pass
    try:
        return repr(item).encode()
    except RecursionError:
        return f"<a {type(item).__name__} nested too deep to show>".encode()
