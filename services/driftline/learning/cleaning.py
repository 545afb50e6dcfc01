"""Cleaning of one event's features, driven by the stream's feature spec.

Pure logic, no Kafka: a :class:`Cleaner` per model key keeps the running statistics that
imputation needs and returns, for each event, the cleaned features plus the steps it applied
(``imputed:co2``, ``clipped:temperature`` ...) or the reason the event was dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from river import stats

from driftline.config.streams import FeatureSpec, StreamConfig
from driftline.learning.units import UnitError, convert
from driftline.rules.sensorfaults import StuckReadings

Value = float | str | bool


@dataclass(slots=True)
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
        if isinstance(value, int) and not -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
            return 2 * MAX_MAGNITUDE  # beyond a float's range, perhaps: huge, as a float beyond the limit is
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


#: One feature's spec, resolved once per stream config instead of once per event: name, spec, is a
#: number, unit, lowest and highest value passed as they are, missing policy, keeps a statistic.
_Rule = tuple[str, FeatureSpec, bool, "str | None", float, float, str, bool]


_Common = Callable[[dict[str, Any], dict[str, "_FeatureState"]], "dict[str, Value] | None"]


def _rules(stream: StreamConfig) -> tuple[tuple[_Rule, ...], frozenset[str], _Common | None]:
    rules = _RULES.get(id(stream))
    if rules is None or rules[0] is not stream:
        resolved = tuple(
            (
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
        # Streams of numbers only get their common case as one function (:func:`_compile`).
        common = _compile(resolved) if resolved and all(rule[2] for rule in resolved) else None
        # The config object is kept with its rules, so its id cannot be reused while cached.
        rules = _RULES[id(stream)] = (stream, resolved, frozenset(stream.features), common)
    return rules[1], rules[2], rules[3]


def _compile(rules: tuple[_Rule, ...]) -> Callable[[dict[str, Any], dict[str, _FeatureState]], dict[str, Value] | None]:
    """The rules as one plain function for the common event: every feature a finite number in range, as it is.

    It returns the cleaned features, updating the statistics the policies keep, or None, having
    changed nothing, for any other event: the general path of :meth:`Cleaner.clean` then takes it
    from the start. Generated once per stream config (as :mod:`dataclasses` generates ``__init__``):
    one line per feature instead of a loop over rule tuples saves most of cleaning's time per event.
    The names go in as literals through :func:`repr`; nothing else of the config becomes code.
    """
    checks, updates, out = [], [], []
    for i, (name, _spec, _number, _unit, low, high, policy, stateful) in enumerate(rules):
        checks += [
            f"    v{i} = features.get({name!r})",
            f"    if v{i}.__class__ is float:",
            f"        if not {low!r} <= v{i} <= {high!r}: return None",
            f"    elif v{i}.__class__ is int and {low!r} <= v{i} <= {high!r}: v{i} = float(v{i})",
            "    else: return None",
        ]
        if stateful:
            checks.append(f"    s{i} = states.get({name!r})")
            checks.append(f"    if s{i} is None: return None")
            if policy == "median":
                updates.append(f"    s{i}.update(v{i})")
            else:
                updates.append(f"    s{i}.total += v{i}; s{i}.seen += 1; s{i}.last = v{i}")
        out.append(f"{name!r}: v{i}")
    source = "\n".join(["def clean_common(features, states):", *checks, *updates, f"    return {{{', '.join(out)}}}"])
    namespace: dict[str, Any] = {}
    exec(compile(source, "<driftline cleaning rules>", "exec"), namespace)
    return namespace["clean_common"]  # type: ignore[no-any-return]


def numeric_only(stream: StreamConfig) -> bool:
    """Whether every feature of ``stream`` is a number: its cleaned features are then the model's input as they are."""
    return all(spec.type == "number" for spec in stream.features.values())


_RULES: dict[int, tuple[StreamConfig, tuple[_Rule, ...], frozenset[str], _Common | None]] = {}


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
    #: Each device's runs of repeated readings (``stuck_after``), made at the first event that needs them.
    stuck: StuckReadings | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"stream": self.stream, "_state": self._state, "watermarks": self.watermarks, "stuck": self.stuck}

    def __setstate__(self, state: dict[str, Any] | tuple[None, dict[str, Any]]) -> None:
        if isinstance(state, tuple):  # pickled before per-device watermarks: (None, its slots)
            state = state[1]
        self.stream, self._state = state["stream"], state["_state"]
        # Such a checkpoint's one watermark cannot be told apart by device: each device starts afresh.
        self.watermarks = state.get("watermarks", {})
        self.stuck = state.get("stuck")  # pickled before stuck sensors were recognised: none seen yet

    def _stats(self, name: str) -> _FeatureState:
        state = self._state.get(name)
        if state is None:
            state = self._state[name] = _FeatureState(self.stream.features[name].missing_policy)
        return state

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
        stream = self.stream
        if ts is not None:
            watermarks = self.watermarks
            watermark = watermarks.get(device)
            late = watermark is not None and ts < watermark
            if late and (watermark - ts).total_seconds() > stream.allowed_lateness_s:  # type: ignore[operator]
                if stream.late_events == "drop":
                    return Cleaned({}, ["late"], dropped="late")
                steps.append("late")
            if learn:
                # Re-inserted last: the most recently touched is forgotten last.
                del_first = watermark is None and len(watermarks) >= stream.max_watermark_devices
                if watermark is not None:
                    del watermarks[device]
                watermarks[device] = ts if watermark is None or ts > watermark else watermark
                if del_first:
                    del watermarks[next(iter(watermarks))]
        if learn and stream.stuck_after:
            stuck = self.stuck
            if stuck is None:
                stuck = self.stuck = StuckReadings(stream.stuck_after, stream.max_watermark_devices)
            for name in stuck.see(device, features):
                steps.append(f"stuck:{name}")  # a fault, reported; the reading is still a reading
        rules, known, common = _rules(stream)
        if common is not None and learn and not steps and not units and known.issuperset(features):
            cleaned_common = common(features, self._state)
            if cleaned_common is not None:
                return Cleaned(cleaned_common, steps)
        if not known.issuperset(features):
            steps.extend(f"unknown_feature:{name}" for name in features if name not in known)
        cleaned: dict[str, Value] = {}
        states = self._state
        for name, spec, number, unit, low, high, policy, stateful in rules:
            raw = features.get(name)
            # The common case, a finite number in range needing no conversion, skips the general path.
            kind = raw.__class__
            plain = not (units and unit and units.get(name))
            if number and (kind is float or kind is int) and low <= raw <= high and plain:
                value: Value | None = raw if kind is float else float(raw)
                if learn and stateful:
                    state = states.get(name) or self._stats(name)
                    if state.median is None:  # a mean or the last value: kept inline, once per feature and event
                        state.total += value
                        state.seen += 1
                        state.last = value
                    else:
                        state.update(value)  # type: ignore[arg-type]
                cleaned[name] = value  # type: ignore[assignment]
                continue
            value, step = self._one(name, spec, raw, units.get(name) if units else None)
            if step:
                steps.append(f"{step}:{name}")
            if step == "rejected":
                return Cleaned({}, steps, dropped=f"out_of_range:{name}")
            if value is None:
                if policy == "drop":
                    return Cleaned({}, [*steps, f"missing:{name}"], dropped=f"missing:{name}")
                value = self._stats(name).impute(spec)
                if value is None:
                    if policy != "keep":
                        steps.append(f"unimputable:{name}")
                    continue
                steps.append(f"imputed:{name}")
                cleaned[name] = value
                continue
            if learn and stateful:
                (states.get(name) or self._stats(name)).update(value)
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
