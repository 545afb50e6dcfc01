"""The monitor's memory: what every outcome changes, without any I/O, kept per unit (outcomes partition).

:meth:`MonitorState.observe` takes one outcome of a unit and updates that unit's

* scores of its stream and model (prequential or holdout, cumulative and rolling),
* label counts and label delays, the distribution of predictions, and the accuracy estimated from
  the predictions' confidence before their labels arrive (calibrated on the labelled predictions'),
* the drift counts: the detections (concept and data drift, warnings and drifts) the trainer made
  at that outcome, which the outcome carries (the trainer judges; the monitor counts, once, since
  an outcome is counted once).

A unit is an outcomes partition (``p<partition>``, as
the trainer's): outcomes are keyed by model key, so a partition's outcomes are all its model
keys', and each unit is checkpointed, handed over and released on its own
(:meth:`snapshot`, :meth:`restore`, :meth:`release`), so monitors of one group share the
partitions. What a monitor exposes pools its units (:attr:`series`, :attr:`accepted` ...).

Everything is bounded: outcome ids are remembered in a fixed window (when deduplicating), the
page's model keys in an LRU of fixed size, per-device series only for streams that ask and up to a
cap per unit. The exposition reads this state under :attr:`MonitorState.lock`.
"""

from __future__ import annotations

import pickle
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from driftline.checkpoint import load_state
from driftline.config.settings import Settings
from driftline.config.streams import StreamConfig, check_drift_spec
from driftline.contracts import Outcome
from driftline.monitor.decode import DriftView, OutcomeView
from driftline.monitor.history import History, HistoryView
from driftline.monitor.series import LABEL_DELAY_BUCKETS, MAX_CLASSES, OTHER_CLASS, QUANTILES, Series, pooled_by_key
from driftline.rules.dedupe import RecentIds
from driftline.rules.detectors import CATEGORY_DETECTOR
from driftline.rules.labels import Labels
from driftline.rules.scores import ScoreError

__all__ = [
    "DEFAULT_UNIT",
    "LABEL_DELAY_BUCKETS",
    "MAX_CLASSES",
    "OTHER_CLASS",
    "QUANTILES",
    "MonitorState",
    "Series",
    "UnitState",
    "check_drift_spec",
    "partition_of",
    "unit_of",
]

#: The unit of outcomes observed without one (tools and tests): partition 0's.
DEFAULT_UNIT = "p0"
DriftKey = tuple[str, str, str, str, str]  # stream, model, kind, detector, feature


def unit_of(partition: int) -> str:
    """The unit of an outcomes partition (named as the trainer names its units)."""
    return f"p{partition}"


def partition_of(unit: str) -> str:
    """The partition number of a unit, as a metric label."""
    return unit.removeprefix("p")


@dataclass
class UnitState:
    """One unit's (outcomes partition's) part of the state: what its checkpoint holds, and its page history."""

    recent: RecentIds
    series: dict[tuple[str, str], Series] = field(default_factory=dict)
    devices: dict[tuple[str, str, str], Series] = field(default_factory=dict)
    device_overflow: Counter[str] = field(default_factory=Counter)
    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    drifts: Counter[DriftKey] = field(default_factory=Counter)
    warnings: Counter[DriftKey] = field(default_factory=Counter)
    last_drift_ts: dict[DriftKey, float] = field(default_factory=dict)
    #: The status page's short memory: not checkpointed (see :mod:`.history`).
    history: History = field(default_factory=History)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["history"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # Outcomes after the checkpoint come again: drawing them twice would distort the page.
        self.history = History()


class MonitorState:
    """Metric state for every stream of ``settings``, per unit (outcomes partition)."""

    def __init__(
        self,
        settings: Settings,
        window: int = 1000,
        dedupe_window: int = 100_000,
        max_model_keys: int = 10_000,
        max_device_series: int = 50,
        dedupe: bool = True,
    ) -> None:
        for name, stream in settings.streams.items():
            check_drift_spec(name, stream)
        self.streams = settings.streams
        self.window = window
        self.dedupe_window = dedupe_window
        self.max_model_keys = max_model_keys
        self.max_device_series = max_device_series
        #: Drop outcomes whose id was seen (at-least-once trainers repeat some); see ``monitor.dedupe``.
        self.dedupe = dedupe
        #: Held by the consumer per outcome and by every reader; re-entrant, as the pooled views take it too.
        self.lock = threading.RLock()
        self.units: dict[str, UnitState] = {}
        self._labels = {name: Labels.of(name, stream) for name, stream in self.streams.items()}

    def _fresh(self) -> UnitState:
        return UnitState(RecentIds(self.dedupe_window), history=History(max_keys=min(self.max_model_keys, 500)))

    def _unit(self, unit: str) -> UnitState:
        state = self.units.get(unit)
        if state is None:
            state = self.units[unit] = self._fresh()
        return state

    # Units: checkpointed, handed over, released

    def snapshot(self, unit: str = DEFAULT_UNIT) -> bytes:
        with self.lock:
            return pickle.dumps(self._unit(unit), protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, unit: str = DEFAULT_UNIT, state: bytes | None = None) -> None:
        """Take over ``unit`` from a :meth:`snapshot` (verified by the caller before this unpickles); None: fresh."""
        restored = load_state(state) if state is not None else self._fresh()
        with self.lock:
            self.units[unit] = restored

    def release(self, unit: str = DEFAULT_UNIT) -> None:
        """Forget ``unit`` (another monitor holds it now): its figures leave this monitor's."""
        with self.lock:
            self.units.pop(unit, None)

    # Outcomes

    def drop(self, reason: str, unit: str = DEFAULT_UNIT) -> None:
        """Count an outcome that was not used (invalid, duplicate, unknown stream, unscorable)."""
        with self.lock:
            self._unit(unit).dropped[reason] += 1

    def observe(self, outcome: OutcomeView | Outcome, unit: str = DEFAULT_UNIT) -> None:
        """Account for one outcome of ``unit``, and the drift detections it carries."""
        if isinstance(outcome, Outcome):
            outcome = OutcomeView.of(outcome)
        with self.lock:
            u = self._unit(unit)
            if self.dedupe and u.recent.seen(outcome.outcome_id):
                u.dropped["duplicate"] += 1
                return
            stream = self.streams.get(outcome.stream)
            if stream is None:
                u.dropped["unknown_stream"] += 1
                return
            try:
                self._observe(u, outcome, stream)
            except ScoreError:
                u.dropped["unscorable"] += 1

    def _observe(self, u: UnitState, outcome: OutcomeView, stream: StreamConfig) -> None:
        history = u.history.seen(outcome, stream.task)
        targets = [self._series(u, outcome, stream)]
        device = self._device_series(u, outcome, stream)
        if device is not None:
            targets.append(device)
        for series in targets:
            series.version = max(series.version, outcome.model_version)
        targets[0].timed(outcome)
        # With delayed labels an event comes twice (prediction, then label); count its prediction once, from the first.
        if outcome.label is None or outcome.label_delay_s is None:
            for series in targets:
                series.predicted(outcome.prediction, outcome.proba)
        if outcome.label is not None and outcome.prediction is not None:
            estimate = "holdout" if outcome.holdout else "prequential"
            error = targets[0].score(estimate, outcome)
            if outcome.proba and stream.task != "regression":
                # Calibrates the confidence estimate: how often a prediction this sure was right.
                targets[0].calibrate(outcome.prediction, outcome.proba, error == 0.0)
            u.history.labelled(history, outcome, error)
            for series in targets[1:]:
                series.score(estimate, outcome)
            if outcome.label_delay_s is not None and outcome.label_delay_s >= 0:
                for series in targets:
                    series.label_delay.observe(outcome.label_delay_s)
        if outcome.drift:
            for event in outcome.drift:
                self._count_drift(u, event)
                u.history.drifted(history, outcome, event)
        u.accepted[(outcome.stream, outcome.model_name)] += 1

    @staticmethod
    def _count_drift(u: UnitState, event: DriftView) -> None:
        labels = (event.stream, event.model_name, event.drift_kind, event.detector, event.feature or "")
        if event.level == "drift":
            u.drifts[labels] += 1
            u.last_drift_ts[labels] = max(event.time or 0.0, u.last_drift_ts.get(labels, 0.0))
        else:
            u.warnings[labels] += 1

    @staticmethod
    def _zero_drift_counts(u: UnitState, stream_name: str, model: str, stream: StreamConfig) -> None:
        """Counters of every detector the trainer runs for a stream's model, at 0 (``increase()`` needs a sample)."""
        spec = stream.drift
        if spec.concept is not None:
            u.drifts[(stream_name, model, "concept", spec.concept, "")] += 0
            u.warnings[(stream_name, model, "concept", spec.concept, "")] += 0
        if spec.data is not None:
            for name, feature in stream.features.items():
                if feature.drift:
                    detector = CATEGORY_DETECTOR if feature.type == "category" else spec.data
                    u.drifts[(stream_name, model, "data", detector, name)] += 0

    def _series(self, u: UnitState, outcome: OutcomeView, stream: StreamConfig) -> Series:
        key = (outcome.stream, outcome.model_name)
        series = u.series.get(key)
        if series is None:
            series = u.series[key] = self._new_series(outcome.stream)
            self._zero_drift_counts(u, outcome.stream, outcome.model_name, stream)
        return series

    def _new_series(self, name: str) -> Series:
        labels = self._labels[name]
        return Series(self.streams[name].task, self.window, labels if labels.named else None)

    def _device_series(self, u: UnitState, outcome: OutcomeView, stream: StreamConfig) -> Series | None:
        if not stream.per_device_metrics:
            return None
        key = (outcome.stream, outcome.model_name, outcome.device_id)
        if key not in u.devices:
            if sum(1 for k in u.devices if k[0] == outcome.stream) >= self.max_device_series:
                u.device_overflow[outcome.stream] += 1
                return None
            u.devices[key] = self._new_series(outcome.stream)
        return u.devices[key]

    # What this monitor exposes: its units pooled (take the lock around several reads for one picture)

    @property
    def series(self) -> dict[tuple[str, str], Series]:
        with self.lock:
            return pooled_by_key(u.series for u in self.units.values())

    @property
    def devices(self) -> dict[tuple[str, str, str], Series]:
        with self.lock:
            return pooled_by_key(u.devices for u in self.units.values())

    def _summed(self, name: str) -> Counter[Any]:
        with self.lock:
            total: Counter[Any] = Counter()
            for u in self.units.values():
                for key, n in getattr(u, name).items():
                    total[key] += n  # keeps keys at 0 (Counter.update would too; + would drop them)
            return total

    @property
    def accepted(self) -> Counter[tuple[str, str]]:
        return self._summed("accepted")

    @property
    def dropped(self) -> Counter[str]:
        return self._summed("dropped")

    @property
    def drifts(self) -> Counter[DriftKey]:
        return self._summed("drifts")

    @property
    def warnings(self) -> Counter[DriftKey]:
        return self._summed("warnings")

    @property
    def device_overflow(self) -> Counter[str]:
        return self._summed("device_overflow")

    @property
    def last_drift_ts(self) -> dict[DriftKey, float]:
        with self.lock:
            latest: dict[DriftKey, float] = {}
            for u in self.units.values():
                for key, ts in u.last_drift_ts.items():
                    latest[key] = max(ts, latest.get(key, ts))
            return latest

    @property
    def history(self) -> HistoryView:
        with self.lock:
            return HistoryView([u.history for u in self.units.values()])
