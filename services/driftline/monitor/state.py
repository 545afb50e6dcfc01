"""The monitor's memory: what every outcome changes, without any I/O, kept per unit (outcomes partition).

:meth:`MonitorState.observe` takes one outcome of a unit and updates that unit's

* scores of its stream and model (prequential or holdout, cumulative and rolling),
* label counts and label delays, the distribution of predictions, and the accuracy estimated from
  the predictions' confidence before their labels arrive,
* the concept-drift detector of its model key (fed the error of each labelled outcome; only a
  rise of the error alarms, a new model version warms up first, and a drift's cool-down outlives
  the reset it causes; it also warns, which lets the trainer prepare a warm reset) and the
  data-drift detector of each numeric feature (fed each event's cleaned value once),

and returns the drift events to publish. A unit is an outcomes partition (``p<partition>``, as
the trainer's): outcomes are keyed by model key, so a partition's outcomes are all its model
keys', and each unit is checkpointed, handed over and released on its own
(:meth:`snapshot`, :meth:`restore`, :meth:`release`), so monitors of one group share the
partitions. What a monitor exposes pools its units (:attr:`series`, :attr:`accepted` ...).

Everything is bounded: outcome ids are remembered in a fixed window (when deduplicating), model
keys in an LRU of fixed size, per-device series only for streams that ask and up to a cap per
unit. The exposition reads this state under :attr:`MonitorState.lock`.
"""

from __future__ import annotations

import pickle
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from driftline.concept import ConceptWatch
from driftline.config import ConfigError, Settings, StreamConfig
from driftline.contracts import DriftEvent, Outcome
from driftline.dedupe import RecentIds
from driftline.detectors import BINARY_DETECTORS, CATEGORY_DETECTOR, DebouncedDetector, DetectorError
from driftline.labels import Labels
from driftline.monitor.decode import OutcomeView
from driftline.monitor.history import History, HistoryView
from driftline.monitor.scores import ScoreError
from driftline.monitor.series import LABEL_DELAY_BUCKETS, MAX_CLASSES, OTHER_CLASS, QUANTILES, Series, pooled_by_key

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
class ModelTrack:
    """The detectors judging one model key: its concept-drift judge and its features' data detectors."""

    stream: str
    model_key: str
    concept: ConceptWatch
    data: dict[str, DebouncedDetector]
    #: Per feature, the event time (epoch s) before which its data detector stays quiet.
    data_quiet_until: dict[str, float] = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return self.concept.model_name or ""

    @property
    def model_version(self) -> int:
        return self.concept.model_version or 0

    def judges(self, outcome: OutcomeView) -> bool:
        """True if ``outcome`` comes from the model these detectors judge."""
        return self.concept.judges(outcome.model_name, outcome.model_version)


def check_drift_spec(name: str, stream: StreamConfig) -> None:
    """Refuse detectors that cannot judge what they would be fed, naming the config key."""
    spec = stream.drift
    if spec.data in BINARY_DETECTORS:
        raise ConfigError(
            f"streams.{name}.drift.data: {spec.data} judges 0/1 errors, not feature values; "
            "choose ADWIN, PageHinkley or KSWIN"
        )
    for key, detector, params in (
        ("concept", spec.concept, spec.concept_params),
        ("data", spec.data, spec.data_params),
    ):
        if detector is None:
            continue
        try:
            DebouncedDetector(detector, params, warnings=key == "concept")
        except DetectorError as e:
            raise ConfigError(f"streams.{name}.drift.{key}_params: {e}") from None


@dataclass
class UnitState:
    """One unit's (outcomes partition's) part of the state: what its checkpoint holds, and its page history."""

    recent: RecentIds
    tracks: OrderedDict[str, ModelTrack] = field(default_factory=OrderedDict)
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
    """Metric state and drift detectors for every stream of ``settings``, per unit."""

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
        restored = pickle.loads(state) if state is not None else self._fresh()
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

    def observe(self, outcome: OutcomeView | Outcome, unit: str = DEFAULT_UNIT) -> list[DriftEvent]:
        """Account for one outcome of ``unit``; return the drift events (detections and warnings) it caused."""
        if isinstance(outcome, Outcome):
            outcome = OutcomeView.of(outcome)
        with self.lock:
            u = self.units.get(unit) or self._unit(unit)
            if self.dedupe and u.recent.seen(outcome.outcome_id):
                u.dropped["duplicate"] += 1
                return []
            stream = self.streams.get(outcome.stream)
            if stream is None:
                u.dropped["unknown_stream"] += 1
                return []
            try:
                return self._observe(u, outcome, stream)
            except ScoreError:
                u.dropped["unscorable"] += 1
                return []

    def _observe(self, u: UnitState, outcome: OutcomeView, stream: StreamConfig) -> list[DriftEvent]:
        track = self._track(u, outcome, stream)
        history = u.history.seen(outcome, stream.task)
        targets = [self._series(u, outcome)]
        device = self._device_series(u, outcome, stream)
        if device is not None:
            targets.append(device)
        events: list[DriftEvent] = []
        for series in targets:
            series.version = max(series.version, outcome.model_version)
        targets[0].timed(outcome)
        # With delayed labels an event comes twice (prediction, then label); count its prediction
        # and features once, from the first.
        first_phase = outcome.label is None or outcome.label_delay_s is None
        if first_phase:
            for series in targets:
                series.predicted(outcome.prediction, outcome.proba)
            events += self._data_drift(u, track, outcome, stream.drift.data_cooldown_s)
        if outcome.label is not None and outcome.prediction is not None:
            estimate = "holdout" if outcome.holdout else "prequential"
            error = targets[0].score(estimate, outcome)
            u.history.labelled(history, outcome, error)
            for series in targets[1:]:
                series.score(estimate, outcome)
            if outcome.label_delay_s is not None and outcome.label_delay_s >= 0:
                for series in targets:
                    series.label_delay.observe(outcome.label_delay_s)
            events += self._concept_drift(u, track, outcome, error)
        for event in events:
            u.history.drifted(history, outcome, event)
        u.accepted[(outcome.stream, outcome.model_name)] += 1
        return events

    def _track(self, u: UnitState, outcome: OutcomeView, stream: StreamConfig) -> ModelTrack:
        """The track judging ``outcome``'s model key; its concept judge begins a new life on a new model.

        Data drift is the sensors', not the model's: the data detectors outlive the model's lives.
        """
        track = u.tracks.get(outcome.model_key)
        if track is None:
            track = ModelTrack(
                outcome.stream, outcome.model_key, ConceptWatch(stream.drift, stream.task), self._data_detectors(stream)
            )
            u.tracks[outcome.model_key] = track
        u.tracks.move_to_end(outcome.model_key)
        while len(u.tracks) > self.max_model_keys:
            u.tracks.popitem(last=False)
        if track.concept.see(outcome.model_name, outcome.model_version, outcome.event_time):
            # Counters exist at 0 before the first detection: Prometheus' increase() needs a prior sample.
            spec = stream.drift
            u.drifts[(outcome.stream, outcome.model_name, "concept", spec.concept, "")] += 0
            u.warnings[(outcome.stream, outcome.model_name, "concept", spec.concept, "")] += 0
            for name, detector in track.data.items():
                u.drifts[(outcome.stream, outcome.model_name, "data", detector.name, name)] += 0
        return track

    @staticmethod
    def _data_detectors(stream: StreamConfig) -> dict[str, DebouncedDetector]:
        """One data detector per watched feature: ``drift.data`` for numbers, a chi-square test for categories."""
        spec = stream.drift
        if spec.data is None:
            return {}
        return {
            name: DebouncedDetector(CATEGORY_DETECTOR, None, spec.data_debounce)
            if feature.type == "category"
            else DebouncedDetector(spec.data, spec.data_params, spec.data_debounce)
            for name, feature in stream.features.items()
            if feature.drift
        }

    def _series(self, u: UnitState, outcome: OutcomeView) -> Series:
        key = (outcome.stream, outcome.model_name)
        series = u.series.get(key)
        if series is None:
            series = u.series[key] = self._new_series(outcome.stream)
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

    def _concept_drift(self, u: UnitState, track: ModelTrack, outcome: OutcomeView, error: float) -> list[DriftEvent]:
        alarm = track.concept.judge(outcome.model_name, outcome.model_version, error)
        if alarm is None or track.concept.detector is None:
            return []
        detector = track.concept.detector
        return [self._record(u, track, "concept", None, detector, alarm.level, alarm.position, alarm.statistic)]

    def _data_drift(self, u: UnitState, track: ModelTrack, outcome: OutcomeView, cooldown_s: float) -> list[DriftEvent]:
        if not track.judges(outcome):
            return []
        events = []
        event_ts = outcome.event_time
        for name, detector in track.data.items():
            value = (outcome.features or {}).get(name)
            if value is None or isinstance(value, str) != (detector.name == CATEGORY_DETECTOR):
                continue
            alarm = detector.update(value if isinstance(value, str) else float(value))
            if alarm is None or event_ts < track.data_quiet_until.get(name, float("-inf")):
                continue
            track.data_quiet_until[name] = event_ts + cooldown_s
            events.append(self._record(u, track, "data", name, detector, alarm.level, alarm.position, alarm.statistic))
        return events

    @staticmethod
    def _record(
        u: UnitState,
        track: ModelTrack,
        kind: str,
        feature: str | None,
        detector: DebouncedDetector,
        level: str,
        position: int,
        statistic: float | None,
    ) -> DriftEvent:
        event = DriftEvent(
            drift_id=f"{track.model_key}:v{track.model_version}:{kind}:{feature or '-'}:{level}:{position}",
            drift_kind=kind,  # type: ignore[arg-type]
            level=level,  # type: ignore[arg-type]
            stream=track.stream,
            model_key=track.model_key,
            model_name=track.model_name,
            model_version=track.model_version,
            detector=detector.name,
            feature=feature,
            position=position,
            statistic=statistic,
        )
        labels = (track.stream, track.model_name, kind, detector.name, feature or "")
        if level == "drift":
            u.drifts[labels] += 1
            u.last_drift_ts[labels] = event.ts.timestamp()
        else:
            u.warnings[labels] += 1
        return event

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
    def tracks(self) -> dict[str, ModelTrack]:
        with self.lock:
            return {key: track for u in self.units.values() for key, track in u.tracks.items()}

    @property
    def history(self) -> HistoryView:
        with self.lock:
            return HistoryView([u.history for u in self.units.values()])
