"""Validation shared by every way in (HTTP, MQTT, replay, simulator): pure, no I/O.

A body is split into items; each item becomes either :class:`Accepted` (a contract message, its
model key and the bytes to publish) or :class:`Rejected` (the original payload, a reason code and
the per-field problems), so a batch is never all-or-nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from driftline.contracts import MAX_MESSAGE_BYTES, ContractError, LabelEvent, SensorEvent, parse
from driftline.keys import Scope, model_key

#: The contracts the collector ingests, by the route segment that carries them.
INGESTED: dict[str, type[SensorEvent] | type[LabelEvent]] = {"events": SensorEvent, "labels": LabelEvent}


@dataclass(frozen=True, slots=True)
class Accepted:
    index: int
    message: SensorEvent | LabelEvent
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    payload: bytes
    reason: str  # a short code: not_json, invalid, wrong_stream, wrong_device, too_large, unknown_stream
    problems: list[tuple[str, str]]

    @property
    def error(self) -> str:
        return "; ".join(f"{field}: {message}" for field, message in self.problems)


Result = Accepted | Rejected


class BodyError(ValueError):
    """A body that is not a JSON object or array at all."""


def split_body(body: bytes) -> tuple[list[Any], bool]:
    """The items of a body and whether it was a batch (a JSON array) rather than one object."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BodyError(f"body is not JSON: {e}") from None
    if isinstance(data, list):
        return data, True
    if isinstance(data, dict):
        return [data], False
    raise BodyError(f"body must be a JSON object or an array of objects, not {type(data).__name__}")


def check_item(
    index: int,
    item: Any,
    model: type[SensorEvent] | type[LabelEvent],
    stream: str,
    device_id: str | None,
    scope: Scope,
    raw: bytes | None = None,
) -> Result:
    """Validate one decoded item for ``stream``; ``device_id`` (when given) is the authenticated device."""

    def reject(reason: str, problems: list[tuple[str, str]]) -> Rejected:
        return Rejected(index, raw if raw is not None else _dump(item), reason, problems)

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
    value = message.to_bytes()
    if len(value) > MAX_MESSAGE_BYTES:
        return reject("too_large", [("(item)", f"{len(value)} bytes, more than the {MAX_MESSAGE_BYTES} allowed")])
    return Accepted(index, message, model_key(stream, message.device_id, scope), value)


def check_items(
    items: list[Any],
    model: type[SensorEvent] | type[LabelEvent],
    stream: str,
    device_id: str | None,
    scope: Scope,
) -> list[Result]:
    return [check_item(i, item, model, stream, device_id, scope) for i, item in enumerate(items)]


def check_raw(
    raw: bytes, model: type[SensorEvent] | type[LabelEvent], stream: str, device_id: str | None, scope: Scope
):
    """Validate one message as it arrived on the wire (MQTT): size, JSON, contract, stream and device."""
    if len(raw) > MAX_MESSAGE_BYTES:
        return Rejected(0, raw, "too_large", [("(message)", f"{len(raw)} bytes, more than {MAX_MESSAGE_BYTES}")])
    try:
        item = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return Rejected(0, raw, "not_json", [("(message)", f"not JSON: {e}")])
    return check_item(0, item, model, stream, device_id, scope, raw=raw)


def problems_json(problems: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"field": field, "message": message} for field, message in problems]


def _dump(item: Any) -> bytes:
    try:
        return orjson.dumps(item)
    except TypeError:
        return repr(item).encode()
