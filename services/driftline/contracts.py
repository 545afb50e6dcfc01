"""Event contracts, version 1: what travels on driftline's Kafka topics.

Every message is one JSON object whose ``kind`` and ``version`` say which contract it follows.
The JSON Schema of each contract is generated from these models into ``driftline/assets/schemas/`` so devices
written in any language can validate before they send.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

#: Largest serialized message a contract accepts; bigger ones are rejected before parsing.
MAX_MESSAGE_BYTES = 64 * 1024
#: A control command may carry a model file (``import``): it stays below Kafka's default record
#: limit (librdkafka's ``message.max.bytes``, 1,000,000; the broker's 1 MiB), with room for the record's framing.
MAX_COMMAND_BYTES = 900_000
MAX_FEATURES = 256
#: Deepest nesting of arrays and objects in one message (an item of a batch); the contracts need 2.
MAX_JSON_DEPTH = 32

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$")]
StreamName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")]
FeatureName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]
MAX_TEXT = 256
#: Longest model spec a command carries (``add_challenger``): a River pipeline expression.
MAX_SPEC = 2000
ShortText = Annotated[StrictStr, Field(max_length=MAX_TEXT)]


@dataclass(frozen=True)
class _Scalar:
    """A number, a string or a boolean, validated in pydantic-core (no Python call per value).

    One readable message instead of pydantic's one-error-per-union-member.
    """

    nullable: bool = False

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        scalar = core_schema.union_schema(
            [
                core_schema.bool_schema(strict=True),
                core_schema.int_schema(strict=True),
                core_schema.float_schema(strict=True, allow_inf_nan=False),
                core_schema.str_schema(strict=True, max_length=MAX_TEXT),
            ],
            mode="left_to_right",
            custom_error_type="scalar",
            custom_error_message=f"must be a boolean, a finite number or a string of at most {MAX_TEXT} characters",
        )
        return core_schema.nullable_schema(scalar) if self.nullable else scalar


_SCALAR_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "boolean"}, {"type": "number"}, {"type": "string", "maxLength": MAX_TEXT}]
}
#: Ground truth or a cleaned feature value: a number, a class name or a flag.
Label = Annotated[bool | int | float | str, _Scalar(), WithJsonSchema(_SCALAR_SCHEMA)]
#: A raw feature value; ``None`` means the sensor reported the value as missing.
FeatureValue = Annotated[
    bool | int | float | str | None,
    _Scalar(nullable=True),
    WithJsonSchema({"anyOf": [*_SCALAR_SCHEMA["anyOf"], {"type": "null"}]}),
]

ModelKey = Annotated[str, Field(min_length=1, max_length=200)]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base of every message: strict, immutable, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)
    #: Largest serialized message of this contract.
    max_bytes: ClassVar[int] = MAX_MESSAGE_BYTES

    version: Literal[1] = 1

    @field_validator("version", mode="before")
    @classmethod
    def _integer_version(cls, value: Any) -> Any:
        # The schema says the integer 1; lax validation took true and 1.0 (found by fuzzing).
        if value.__class__ is not int:
            raise ValueError(f"must be the integer 1, not {value!r}")
        return value

    def to_bytes(self) -> bytes:
        # The serializer itself: bytes at once, not a str to encode (the collector's hot path).
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)


def _time_text(value: Any) -> Any:
    """An event time as the schema has it, a date-time string (lax validation took a number as Unix time)."""
    if isinstance(value, str | datetime):
        return value
    raise ValueError(f"must be an ISO 8601 date-time string with a time zone, not {type(value).__name__}")


def _check_features(features: dict[str, Any]) -> dict[str, Any]:
    if len(features) > MAX_FEATURES:
        raise ValueError(f"at most {MAX_FEATURES} features per event, got {len(features)}")
    return features


class SensorEvent(Contract):
    """One reading of a device for a stream; ``event_id`` is unique per device (the dedupe key)."""

    kind: Literal["sensor_event"] = "sensor_event"
    event_id: Identifier
    device_id: Identifier
    stream: StreamName
    ts: AwareDatetime = Field(description="Event time, with a timezone.")
    features: dict[FeatureName, FeatureValue]
    label: Label | None = Field(default=None, description="Ground truth, when known at emission.")
    units: dict[FeatureName, Annotated[str, Field(max_length=32)]] | None = Field(
        default=None, description="Unit of each feature whose unit differs from the stream's."
    )
    metadata: dict[Annotated[str, Field(max_length=64)], ShortText] | None = None

    _features = field_validator("features")(_check_features)
    _ts = field_validator("ts", mode="before")(_time_text)


class LabelEvent(Contract):
    """Ground truth that arrives after the event it belongs to."""

    kind: Literal["label_event"] = "label_event"
    stream: StreamName
    device_id: Identifier
    event_id: Identifier
    label: Label
    ts: AwareDatetime = Field(description="When the label became known.")

    _ts = field_validator("ts", mode="before")(_time_text)


class DriftEvent(Contract):
    """A drift detection, published by the trainer that judged it (and carried on the outcome it was made at)."""

    kind: Literal["drift_event"] = "drift_event"
    drift_id: Annotated[str, Field(max_length=400)]
    drift_kind: Literal["concept", "data"]
    level: Literal["warning", "drift"] = "drift"
    stream: StreamName
    model_key: ModelKey
    model_name: Annotated[str, Field(max_length=200)]
    model_version: int
    detector: Annotated[str, Field(max_length=64)]
    feature: FeatureName | None = None
    position: Annotated[int, Field(ge=0)] = Field(description="Outcomes seen by the detector when it fired.")
    statistic: float | None = None
    ts: AwareDatetime = Field(default_factory=utc_now)


class Outcome(Contract):
    """What the trainer did with one event: its prediction and, once known, the label."""

    kind: Literal["outcome"] = "outcome"
    # Room for the longest model key, device id and event id joined (200 + 128 + 128 and separators).
    outcome_id: Annotated[str, Field(max_length=512)] = Field(
        description="Unique per (model key, event, phase): the monitor's dedupe key."
    )
    event_id: Identifier
    stream: StreamName
    device_id: Identifier
    model_key: ModelKey
    model_name: Annotated[str, Field(max_length=200)]
    model_version: Annotated[int, Field(ge=1)]
    prediction: Label | None = None
    proba: dict[str, FiniteFloat] | None = Field(
        default=None, description="Class probabilities, keyed by the class rendered as a string."
    )
    label: Label | None = None
    learned: bool = False
    holdout: bool = False
    features: dict[FeatureName, Label] | None = Field(
        default=None,
        description="The cleaned features the model saw, for streams with outcome_features on (the trainer judges "
        "data drift itself, and the monitor needs none).",
    )
    cleaning: list[ShortText] | None = Field(
        default=None, description="Cleaning steps applied, for streams with outcome_features on."
    )
    event_ts: AwareDatetime
    ts: AwareDatetime = Field(description="When the trainer emitted this outcome.")
    predict_ms: Annotated[float, Field(ge=0)] | None = None
    learn_ms: Annotated[float, Field(ge=0)] | None = None
    label_delay_s: float | None = Field(default=None, description="Label time minus event time.")
    drift: list[DriftEvent] | None = Field(
        default=None,
        description="The drift detections (concept and data, warnings and drifts) the trainer made at this outcome, "
        "also published on the drift topic in the same transaction.",
    )


class LabelRequest(Contract):
    """The trainer asks for the label of one waiting event: it expects that label to teach its model the most.

    Answer it with a :class:`LabelEvent` of the same ``stream``, ``device_id`` and ``event_id``
    before ``expires_at``; it then joins the waiting prediction like any late label.
    """

    kind: Literal["label_request"] = "label_request"
    # Like an outcome's id: unique per (model key, event).
    request_id: Annotated[str, Field(max_length=512)] = Field(description="Unique per model key and event.")
    event_id: Identifier
    stream: StreamName
    device_id: Identifier
    model_key: ModelKey
    model_name: Annotated[str, Field(max_length=200)]
    model_version: Annotated[int, Field(ge=1)]
    prediction: Label | None = None
    proba: dict[str, FiniteFloat] | None = Field(
        default=None, description="Class probabilities, keyed by the class rendered as a string."
    )
    confidence: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None, description="The model's probability of its prediction; None: the model gives none."
    )
    features: dict[FeatureName, Label] = Field(description="The cleaned features the model saw.")
    event_ts: AwareDatetime
    expires_at: AwareDatetime = Field(description="The prediction stops waiting for its label then (label_ttl_s).")
    ts: AwareDatetime = Field(default_factory=utc_now, description="When the trainer asked.")


class OutcomeRecord(msgspec.Struct):
    """An :class:`Outcome` as the trainer writes it: the same fields, serialized without validating them again.

    The trainer builds every field from a validated event and its own models, so pydantic's
    checks would only repeat themselves once per event; :func:`checked_scalar` guards the one
    thing a model can get wrong (a value that is not finite). ``tests/unit/test_contracts.py``
    proves the bytes are a valid :class:`Outcome` with the same values. A msgspec Struct: made
    and encoded in C (a quarter of the time orjson takes over a dict of the same fields).
    """

    outcome_id: str
    event_id: str
    stream: str
    device_id: str
    model_key: str
    model_name: str
    model_version: int
    prediction: bool | int | float | str | None
    proba: dict[str, float] | None
    label: bool | int | float | str | None
    learned: bool
    holdout: bool
    event_ts: datetime
    ts: datetime
    predict_ms: float | None = None
    learn_ms: float | None = None
    label_delay_s: float | None = None
    #: The drift detections made at this outcome (rare: None on nearly every outcome).
    drift: list[DriftEvent] | None = None
    #: The cleaned features and cleaning steps, for streams that ask (``outcome_features``).
    features: dict[str, bool | int | float | str] | None = None
    cleaning: list[str] | None = None
    version: Literal[1] = 1
    kind: Literal["outcome"] = "outcome"

    def to_bytes(self) -> bytes:
        return _OUTCOME_ENCODER.encode(self)

    def to_outcome(self) -> Outcome:
        """The validated contract object (tests and tools; the trainer's hot path needs only the bytes)."""
        return parse(Outcome, self.to_bytes())


def _contract_json(value: Any) -> Any:
    """The encoder's fallback for what it cannot serialize itself: a contract object inside a record (drift events)."""
    if isinstance(value, Contract):
        return value.__pydantic_serializer__.to_python(value, mode="json", exclude_none=True)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_OUTCOME_ENCODER = msgspec.json.Encoder(enc_hook=_contract_json)


def checked_scalar(value: Any, what: str) -> Any:
    """``value`` if it can stand in a message (None, a flag, a string, a finite number); else ValueError."""
    if value is None or value.__class__ in (str, bool, int):
        return value
    if hasattr(value, "item"):
        value = value.item()  # a NumPy scalar, as some River models return
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} is {value}, not a finite number")
    return value


ControlAction = Literal["reset", "rollback", "snapshot", "import", "add_challenger", "remove_challenger"]


class ControlCommand(Contract):
    """An order to the trainer for a stream or a single model key; ``command_id`` makes it idempotent."""

    max_bytes: ClassVar[int] = MAX_COMMAND_BYTES

    kind: Literal["control_command"] = "control_command"
    command_id: Identifier
    action: ControlAction
    stream: StreamName
    model_key: ModelKey | None = Field(default=None, description="None: every model key of the stream.")
    mode: Literal["cold", "warm"] = Field(
        default="cold", description="For reset: a fresh model, or the background one."
    )
    role: Literal["champion", "challenger"] | None = Field(
        default=None, description="For import: serve the model (champion, the default), or score it beside."
    )
    model: Annotated[str, Field(max_length=MAX_COMMAND_BYTES)] | None = Field(
        default=None, description="For import (only): a signed model file (docs/security.md), base64."
    )
    spec: Annotated[StrictStr, Field(min_length=1, max_length=MAX_SPEC)] | None = Field(
        default=None, description="For add_challenger (only): the model spec (a preset or River expression)."
    )
    candidate: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = Field(
        default=None,
        description="For add_challenger: the challenger's name (default: the spec); for remove_challenger: "
        "the added challenger to remove.",
    )
    reason: ShortText = ""
    issuer: ShortText = "unknown"
    ts: AwareDatetime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _model_only_for_import(self) -> ControlCommand:
        if self.action == "import" and (self.model is None or self.model_key is None):
            raise ValueError("an import names one model_key and carries its model")
        if self.action != "import" and self.model is not None:
            raise ValueError(f"a {self.action} command carries no model")
        if (self.action == "add_challenger") != (self.spec is not None):
            raise ValueError("an add_challenger command, and only it, carries a spec")
        if self.action == "remove_challenger" and self.candidate is None:
            raise ValueError("a remove_challenger command names the candidate to remove")
        return self


class ControlAck(Contract):
    """The trainer's answer to a command, one per model key it applied the command to."""

    kind: Literal["control_ack"] = "control_ack"
    command_id: Identifier
    action: ControlAction
    stream: StreamName
    model_key: ModelKey | None = None
    status: Literal["applied", "duplicate", "ignored", "failed"]
    model_version: int | None = None
    detail: ShortText = ""
    ts: AwareDatetime = Field(default_factory=utc_now)


#: Every contract, by its ``kind``.
CONTRACTS: dict[str, type[Contract]] = {
    model.model_fields["kind"].default: model
    for model in (SensorEvent, LabelEvent, Outcome, LabelRequest, ControlCommand, ControlAck, DriftEvent)
}

C = TypeVar("C", bound=Contract)


class ContractError(ValueError):
    """A message that breaks its contract; ``problems`` pairs each field with what is wrong."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in problems))


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(message)"


def problems_of(error: ValidationError) -> list[tuple[str, str]]:
    """Flatten a pydantic error into (field path, message) pairs."""
    return [(_field_path(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in error.errors(include_url=False)]


def _check_size(raw: bytes | str, limit: int) -> None:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > limit:
        raise ContractError([("(message)", f"payload is {size} bytes, more than the {limit} allowed")])


def parse(model: type[C], raw: bytes | str | dict[str, Any]) -> C:
    """Validate one message against ``model``, raising :class:`ContractError` naming the field."""
    if isinstance(raw, dict):
        try:
            return model.model_validate(raw)
        except ValidationError as e:
            raise ContractError(problems_of(e)) from None
    _check_size(raw, model.max_bytes)
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise ContractError(problems_of(e)) from None


def parse_any(raw: bytes | str) -> Contract:
    """Validate a message of any contract, chosen by its ``kind`` field."""
    _check_size(raw, max(contract.max_bytes for contract in CONTRACTS.values()))
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise ContractError([("(message)", f"not JSON: {e}")]) from None
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in CONTRACTS:
        raise ContractError([("kind", f"unknown message kind {kind!r}; expected one of {sorted(CONTRACTS)}")])
    _check_size(raw, CONTRACTS[kind].max_bytes)
    return parse(CONTRACTS[kind], data)
