"""Events and labels decoded straight from a record's bytes: the contracts, checked in C.

The trainer reads every event and label it handles from Kafka, where anyone with write access to
the topics could have put anything, so each record is validated against its contract. pydantic
does that in about 10 µs per event; msgspec, with the same constraints written as
:class:`msgspec.Meta`, in about 1-2. The pydantic models in :mod:`driftline.contracts` stay the
source of truth (their JSON Schemas are what devices see), so these structs only ever *accept* a
subset of what they accept: whatever msgspec refuses is parsed by pydantic again, which either
accepts it (an unusual but valid spelling, such as a number too large for 64 bits) or raises
the :class:`~driftline.contracts.ContractError` naming the field. ``tests/unit/test_wire.py``
holds the two side by side on generated valid and invalid messages.

>>> event = decode_event(b'{"event_id": "e1", "device_id": "d1", "stream": "rooms",'
...                      b' "ts": "2026-01-01T00:00:00Z", "features": {"co2": 412.5}}')
>>> event.stream, event.features, event.ts.year
('rooms', {'co2': 412.5}, 2026)
>>> decode_event(b'{"event_id": "e1", "device_id": "d1", "stream": "Rooms", "ts": "2026-01-01T00:00:00Z",'
...              b' "features": {}}')
Traceback (most recent call last):
...
driftline.contracts.ContractError: stream: String should match pattern '^[a-z][a-z0-9_-]*$'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from driftline.contracts import (
    MAX_FEATURES,
    MAX_MESSAGE_BYTES,
    MAX_TEXT,
    LabelEvent,
    SensorEvent,
    parse,
)

# The contracts' constraints (driftline.contracts), as msgspec states them. Patterns are checked
# after decoding (see _valid): msgspec runs Python's re per value, 0.6 µs a feature name, where a
# name seen before needs a set lookup.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]*")
STREAM_PATTERN = re.compile(r"[a-z][a-z0-9_-]*")
FEATURE_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
StreamName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
FeatureName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
# JSON has no NaN or infinity, and msgspec refuses a number beyond a float's range: every float is finite.
Scalar = bool | int | float | Text
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
#: Names that matched their pattern once (streams, devices, features): at most this many are remembered.
KNOWN_NAMES = 100_000


class _Known:
    """Names that matched ``pattern`` before: a set lookup instead of a regex, bounded in size."""

    __slots__ = ("names", "pattern")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.names: set[str] = set()

    def all_valid(self, names: Iterable[str]) -> bool:
        fresh = [name for name in names if name not in self.names]
        if not all(self.pattern.fullmatch(name) for name in fresh):
            return False
        if len(self.names) + len(fresh) > KNOWN_NAMES:
            self.names.clear()
        self.names.update(fresh)
        return True


_streams, _devices, _features = _Known(STREAM_PATTERN), _Known(ID_PATTERN), _Known(FEATURE_PATTERN)


class WireEvent(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A :class:`~driftline.contracts.SensorEvent` as the trainer reads it (the same field names)."""

    event_id: Identifier
    device_id: Identifier
    stream: StreamName
    ts: AwareTime
    features: Annotated[dict[FeatureName, Scalar | None], msgspec.Meta(max_length=MAX_FEATURES)]
    label: Scalar | None = None
    units: dict[FeatureName, Annotated[str, msgspec.Meta(max_length=32)]] | None = None
    metadata: dict[Annotated[str, msgspec.Meta(max_length=64)], Text] | None = None
    kind: Literal["sensor_event"] = "sensor_event"
    version: Literal[1] = 1


class WireLabel(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A :class:`~driftline.contracts.LabelEvent` as the trainer reads it."""

    stream: StreamName
    device_id: Identifier
    event_id: Identifier
    label: Scalar
    ts: AwareTime
    kind: Literal["label_event"] = "label_event"
    version: Literal[1] = 1


_events = msgspec.json.Decoder(WireEvent)
_labels = msgspec.json.Decoder(WireLabel)


def _valid_names(stream: str, device_id: str, event_id: str) -> bool:
    return (
        (stream in _streams.names or _streams.all_valid((stream,)))
        and (device_id in _devices.names or _devices.all_valid((device_id,)))
        and ID_PATTERN.fullmatch(event_id) is not None
    )


def decode_event(raw: bytes) -> WireEvent | SensorEvent:
    """The event in ``raw``; :class:`~driftline.contracts.ContractError` naming the field if it is none."""
    if len(raw) <= MAX_MESSAGE_BYTES:
        try:
            event = _events.decode(raw)
        except msgspec.DecodeError:
            pass
        else:
            features, units = event.features, event.units
            if (
                _valid_names(event.stream, event.device_id, event.event_id)
                and (_features.names.issuperset(features) or _features.all_valid(features))
                and (units is None or _features.names.issuperset(units) or _features.all_valid(units))
            ):
                return event
    return parse(SensorEvent, raw)


def decode_label(raw: bytes) -> WireLabel | LabelEvent:
    """The label in ``raw``; :class:`~driftline.contracts.ContractError` naming the field if it is none."""
    if len(raw) <= MAX_MESSAGE_BYTES:
        try:
            label = _labels.decode(raw)
        except msgspec.DecodeError:
            pass
        else:
            if _valid_names(label.stream, label.device_id, label.event_id):
                return label
    return parse(LabelEvent, raw)
