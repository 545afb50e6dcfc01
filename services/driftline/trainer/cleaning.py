"""Cleaning of one event's features, driven by the stream's feature spec.

Pure logic, no Kafka: a :class:`Cleaner` per model key keeps the running statistics that
imputation needs and returns, for each event, the cleaned features plus the steps it applied
(``imputed:co2``, ``clipped:temperature`` ...) or the reason the event was dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from river import stats

from driftline.config import FeatureSpec, StreamConfig
from driftline.trainer.units import UnitError, convert

Value = float | str | bool


@dataclass(frozen=True)
class Cleaned:
    """The result of cleaning one event: features, or the reason it was dropped."""

    features: dict[str, Value]
    steps: list[str]
    dropped: str | None = None


#: The missing-value policies that need running statistics; the others keep none.
STATEFUL_POLICIES = frozenset({"mean", "median", "last"})


class _FeatureState:
    """The running statistic one feature's imputation policy needs, and only that one.

    A mean is a sum and a count (small: a trainer holds one per feature and model key); a median
    needs River's running quantile.
    """

    __slots__ = ("last", "median", "seen", "total")

    def __init__(self, policy: str) -> None:
        self.median = stats.Quantile(0.5) if policy == "median" else None
        self.last: Value | None = None
        self.total = 0.0
        self.seen = 0  # numbers the statistic has taken

    def update(self, value: Value) -> None:
        if isinstance(value, float):
            self.total += value
            self.seen += 1
            if self.median is not None:
                self.median.update(value)
        self.last = value

    def impute(self, spec: FeatureSpec) -> Value | None:
        policy = spec.missing_policy
        if policy == "constant":
            return spec.fill
        if policy == "last":
            return self.last
        if self.seen == 0:
            return None  # nothing seen yet: the value stays missing
        return self.median.get() if self.median is not None else self.total / self.seen


def _typed(value: Any, spec: FeatureSpec) -> Value | None:
    """``value`` as the spec's type, or None when it cannot be one."""
    if spec.type == "number":
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, int | float):
            return float(value) if math.isfinite(value) else None
        return None
    if spec.type == "bool":
        return value if isinstance(value, bool) else None
    return value if isinstance(value, str) else str(value)


#: The largest magnitude a number may have to be learned: beyond it a value is treated as missing (step
#: ``huge:<name>``). The contracts take any finite number, but one reading near the float limit (1e308) overflows
#: a scaler's variance or a mean to infinity, and every later prediction of the model key is NaN; squares and
#: sums of numbers up to this bound stay finite.
MAX_MAGNITUDE = 1e100
#: The fast path's range check fails beyond these, and the general path decides.
_LOWEST, _HIGHEST = -MAX_MAGNITUDE, MAX_MAGNITUDE


@dataclass(frozen=True)
class _Rule:
    """One feature's spec, resolved once per stream config instead of once per event."""

    name: str
    spec: FeatureSpec
    number: bool
    unit: str | None
    low: float
    high: float
    policy: str
    stateful: bool


def _rules(stream: StreamConfig) -> tuple[tuple[_Rule, ...], frozenset[str]]:
    rules = _RULES.get(id(stream))
    if rules is None or rules[0] is not stream:
        resolved = tuple(
            _Rule(
                name,
                spec,
                spec.type == "number",
                spec.unit,
                _LOWEST if spec.min is None else max(spec.min, _LOWEST),
                _HIGHEST if spec.max is None else min(spec.max, _HIGHEST),
                spec.missing_policy,
                spec.missing_policy in STATEFUL_POLICIES,
            )
            for name, spec in stream.features.items()
        )
        # The config object is kept with its rules, so its id cannot be reused while cached.
        rules = _RULES[id(stream)] = (stream, resolved, frozenset(stream.features))
    return rules[1], rules[2]


_RULES: dict[int, tuple[StreamConfig, tuple[_Rule, ...], frozenset[str]]] = {}


@dataclass(slots=True)
class Cleaner:
    """Cleans the events of one model key; keeps imputation statistics and each device's event-time watermark.

    Lateness is judged per device: an event is late when it lags the newest event time *of its own
    device*, so one device's fast clock cannot make another device's events late. The watermarks are
    bounded (``max_watermark_devices`` per model key): beyond it the device whose watermark was
    touched least recently is forgotten, and its next event is judged afresh (never late).
    """

    stream: StreamConfig
    _state: dict[str, _FeatureState] = field(default_factory=dict)
    #: The newest event time of each device, least recently touched first.
    watermarks: dict[str, datetime] = field(default_factory=dict)

    def __getstate__(self) -> dict[str, Any]:
        return {"stream": self.stream, "_state": self._state, "watermarks": self.watermarks}

    def __setstate__(self, state: dict[str, Any] | tuple[None, dict[str, Any]]) -> None:
        if isinstance(state, tuple):  # pickled before per-device watermarks: (None, its slots)
            state = state[1]
        self.stream, self._state = state["stream"], state["_state"]
        # Such a checkpoint's one watermark cannot be told apart by device: each device starts afresh.
        self.watermarks = state.get("watermarks", {})

    def _stats(self, name: str) -> _FeatureState:
        state = self._state.get(name)
        if state is None:
            state = self._state[name] = _FeatureState(self.stream.features[name].missing_policy)
        return state

    def lateness(self, ts: datetime, device: str = "") -> float:
        """Seconds this event is behind the newest event of its device (0 when it is the newest)."""
        watermark = self.watermarks.get(device)
        if watermark is None or ts >= watermark:
            return 0.0
        return (watermark - ts).total_seconds()

    def _advance(self, device: str, ts: datetime) -> None:
        watermarks = self.watermarks
        watermark = watermarks.pop(device, None)  # re-inserted last: the most recently touched
        watermarks[device] = ts if watermark is None or ts > watermark else watermark
        if len(watermarks) > self.stream.max_watermark_devices:
            del watermarks[next(iter(watermarks))]

    def clean(
        self,
        features: dict[str, Any],
        units: dict[str, str] | None = None,
        ts: datetime | None = None,
        learn: bool = True,
        device: str = "",
    ) -> Cleaned:
        """Clean one event of ``device``; with ``learn`` the running statistics and its watermark are updated."""
        steps: list[str] = []
        if ts is not None:
            late = self.lateness(ts, device)
            if late > self.stream.allowed_lateness_s:
                if self.stream.late_events == "drop":
                    return Cleaned({}, ["late"], dropped="late")
                steps.append("late")
            if learn:
                self._advance(device, ts)
        rules, known = _rules(self.stream)
        if not known.issuperset(features):
            steps.extend(f"unknown_feature:{name}" for name in features if name not in known)
        cleaned: dict[str, Value] = {}
        for rule in rules:
            name = rule.name
            raw = features.get(name)
            # The common case, a finite number in range needing no conversion, skips the general path.
            kind = raw.__class__
            if (
                rule.number
                and (kind is float or kind is int)
                and rule.low <= raw <= rule.high
                and not (units and rule.unit and units.get(name))
            ):
                value: Value | None = raw if kind is float else float(raw)
            else:
                value, step = self._one(name, rule.spec, raw, units.get(name) if units else None)
                if step:
                    steps.append(f"{step}:{name}")
                if step == "rejected":
                    return Cleaned({}, steps, dropped=f"out_of_range:{name}")
            if value is None:
                if rule.policy == "drop":
                    return Cleaned({}, [*steps, f"missing:{name}"], dropped=f"missing:{name}")
                value = self._stats(name).impute(rule.spec)
                if value is None:
                    if rule.policy != "keep":
                        steps.append(f"unimputable:{name}")
                    continue
                steps.append(f"imputed:{name}")
                cleaned[name] = value
                continue
            if learn and rule.stateful:
                state = self._state.get(name) or self._stats(name)
                state.update(value)
            cleaned[name] = value
        return Cleaned(cleaned, steps)

    @staticmethod
    def _one(name: str, spec: FeatureSpec, raw: Any, unit: str | None) -> tuple[Value | None, str | None]:
        """One feature's value after typing, unit conversion and range checks, and the step taken."""
        if raw is None:
            return None, None
        value = _typed(raw, spec)
        if value is None:
            return None, "wrong_type"
        if not isinstance(value, float):
            return value, None
        step = None
        if unit and spec.unit:
            try:
                converted = convert(value, unit, spec.unit)
            except UnitError:
                return None, "unit_unknown"
            if converted != value or unit != spec.unit:
                value, step = converted, "converted"
        if not -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
            return None, "huge"
        low = spec.min if spec.min is not None else -math.inf
        high = spec.max if spec.max is not None else math.inf
        if low <= value <= high:
            return value, step
        if spec.out_of_range == "reject":
            return None, "rejected"
        if spec.out_of_range == "missing":
            return None, "out_of_range"
        return min(max(value, low), high), "clipped"
