"""Outcomes as the monitor reads them: decoded and checked from bytes by msgspec, in C.

Only the trainer writes the outcomes topic (the cluster's ACLs, docs/security.md), so the
monitor need not run pydantic's :class:`~driftline.contracts.Outcome` per outcome: an
:class:`OutcomeView` decodes the fields the monitor reads and checks their types, that the
contract's required fields are there, no other field, and that the event time is a date-time with
a zone; it reads the drift detections the trainer made at the outcome (:class:`DriftView`) and
skips the cleaned features and cleaning steps older outcomes carry without decoding them. It
costs about a quarter of ``parse(Outcome, raw)`` (``driftline bench monitor``). As the trainer's
:mod:`driftline.wire` does, whatever msgspec refuses goes to pydantic, which accepts it (a lax
spelling the contract allows, such as a version written as text) or raises the
:class:`~driftline.contracts.ContractError` naming the field; the monitor counts that outcome as
``invalid``. Name patterns and lengths are pydantic's alone: an outcome breaking only those is
read (the trainer writes none). ``tests/unit/test_monitor_decode.py`` proves the view reads what
the contract reads, and refuses what breaks it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from driftline.contracts import ContractError, Outcome, parse

#: A label or prediction: a flag, a number or a class name.
Scalar = bool | int | float | str


#: What a field kept undecoded holds when the outcome has none.
_UNREAD = msgspec.Raw(b"null")


class DriftView(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """A :class:`~driftline.contracts.DriftEvent` carried on an outcome, as the monitor counts it."""

    drift_id: Annotated[str, msgspec.Meta(max_length=400)]
    drift_kind: Literal["concept", "data"]
    stream: str
    model_key: str
    model_name: str
    model_version: int
    detector: str
    position: Annotated[int, msgspec.Meta(ge=0)]
    level: Literal["warning", "drift"] = "drift"
    feature: str | None = None
    statistic: float | None = None
    ts: str | None = None
    kind: Literal["drift_event"] = "drift_event"
    version: Literal[1] = 1

    @property
    def time(self) -> float | None:
        """When the trainer detected it (Unix time), if the event says."""
        return datetime.fromisoformat(self.ts).timestamp() if self.ts else None


class OutcomeView(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """The fields of an :class:`~driftline.contracts.Outcome` the monitor reads, and ``event_ts`` as Unix time."""

    outcome_id: Annotated[str, msgspec.Meta(max_length=512)]
    event_id: str
    stream: str
    device_id: str
    model_key: str
    model_name: str
    model_version: Annotated[int, msgspec.Meta(ge=1)]
    event_ts: str
    ts: str
    prediction: Scalar | None = None
    proba: dict[str, float] | None = None
    label: Scalar | None = None
    holdout: bool = False
    predict_ms: Annotated[float, msgspec.Meta(ge=0)] | None = None
    learn_ms: Annotated[float, msgspec.Meta(ge=0)] | None = None
    label_delay_s: float | None = None
    learned: bool = False
    #: Older outcomes' cleaned features and cleaning steps: kept undecoded.
    features: msgspec.Raw = _UNREAD
    cleaning: msgspec.Raw = _UNREAD
    #: The trainer's drift detections at this outcome (rare: None on nearly every outcome).
    drift: list[DriftView] | None = None
    kind: Literal["outcome"] = "outcome"
    version: Literal[1] = 1
    #: Not read from the message: ``event_ts`` as Unix time, set once decoded.
    event_time: float = 0.0

    def __post_init__(self) -> None:
        if self.event_time:
            raise ValueError("event_time is not a field of the contract")
        event_ts = datetime.fromisoformat(self.event_ts)
        if event_ts.tzinfo is None:
            raise ValueError(f"event_ts {self.event_ts!r} has no time zone")
        self.event_time = event_ts.timestamp()

    @classmethod
    def of(cls, outcome: Outcome) -> OutcomeView:
        """The view of a validated contract object (tests and tools; the service decodes bytes)."""
        return _DECODER.decode(outcome.to_bytes())


_DECODER = msgspec.json.Decoder(OutcomeView)


def decode_outcome(raw: bytes) -> OutcomeView:
    """Decode one outcome, raising :class:`ContractError` for one that is not JSON or breaks the contract."""
    if len(raw) > Outcome.max_bytes:
        raise ContractError([("(message)", f"payload is {len(raw)} bytes, more than the {Outcome.max_bytes} allowed")])
    try:
        return _DECODER.decode(raw)
    except (msgspec.DecodeError, ValueError):  # ValidationError is a DecodeError; ValueError: a bad event_ts
        # pydantic has the last word: it accepts a spelling msgspec does not, or names what is wrong.
        return OutcomeView.of(parse(Outcome, raw))
