"""The monitor's memory: what every outcome changes, without any I/O.

:meth:`MonitorState.observe` takes one :class:`~driftline.contracts.Outcome` and updates

* the scores of its stream and model (prequential or holdout, cumulative and rolling),
* label counts and label delays, the distribution of predictions, and the accuracy estimated from
  the predictions' confidence before their labels arrive,
* the concept-drift detector of its model key (fed the error of each labelled outcome; only a
  rise of the error alarms, a new model version warms up first, and a drift's cool-down outlives
  the reset it causes; it also warns, which lets the trainer prepare a warm reset) and the
  data-drift detector of each numeric feature (fed each event's cleaned value once),

and returns the drift events to publish. Everything is bounded: outcome ids are remembered in a
fixed window, model keys in an LRU of fixed size, per-device series only for streams that ask and
up to a cap. The exposition reads this state under :attr:`MonitorState.lock`.
"""

from __future__ import annotations

import pickle
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from river import stats

from driftline.concept import ConceptWatch
from driftline.config import ConfigError, Settings, StreamConfig
from driftline.contracts import DriftEvent, Outcome
from driftline.dedupe import RecentIds
from driftline.detectors import BINARY_DETECTORS, CATEGORY_DETECTOR, DebouncedDetector, DetectorError
from driftline.labels import Labels
from driftline.monitor.decode import OutcomeView
from driftline.monitor.estimate import ConfidenceAccuracy
from driftline.monitor.history import History
from driftline.monitor.scores import ScoreError, Scores

#: Label delay histogram buckets, in seconds: from near-immediate feedback to a day.
LABEL_DELAY_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400)
#: Predicted classes counted by name per stream and model; rarer ones share ``__other__``.
MAX_CLASSES = 20
OTHER_CLASS = "__other__"
QUANTILES = (0.05, 0.5, 0.95)


@dataclass
class Histogram:
    """Cumulative bucket counts, the shape Prometheus histograms expose."""

    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        self.total += value
        self.count += 1
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1


@dataclass
class Series:
    """Everything exposed for one stream and model (and, optionally, one device)."""

    task: str
    window: int
    named: Labels | None = None  # a binary stream's named classes
    predictions: int = 0
    labels: Counter[str] = field(default_factory=Counter)  # by estimate
    classes: Counter[str] = field(default_factory=Counter)
    quantiles: dict[float, Any] = field(default_factory=dict)
    label_delay: Histogram = field(default_factory=lambda: Histogram(LABEL_DELAY_BUCKETS))
    scores: dict[str, Scores] = field(default_factory=dict)  # by estimate
    version: int = 0
    #: Accuracy estimated from the predictions' confidence, before their labels (classification with probabilities).
    confidence: ConfidenceAccuracy | None = None
    #: The trainer's time per event as outcomes report it (the key's whole slot: every candidate).
    predict_ms: float = 0.0
    predicts_timed: int = 0
    learn_ms: float = 0.0
    learns_timed: int = 0

    def timed(self, outcome: OutcomeView) -> None:
        """Add the trainer's predict and learn time of one outcome (each phase reports its own)."""
        if outcome.predict_ms is not None:
            self.predict_ms += outcome.predict_ms
            self.predicts_timed += 1
        if outcome.learn_ms is not None:
            self.learn_ms += outcome.learn_ms
            self.learns_timed += 1

    def score(self, estimate: str, outcome: OutcomeView) -> float:
        if estimate not in self.scores:
            self.scores[estimate] = Scores(self.task, self.window, self.named)  # type: ignore[arg-type]
        error = self.scores[estimate].update(outcome.label, outcome.prediction, outcome.proba)
        self.labels[estimate] += 1
        return error

    def predicted(self, prediction: Any, proba: dict[str, float] | None = None) -> None:
        self.predictions += 1
        if prediction is None:
            return
        if proba:
            if self.confidence is None:
                self.confidence = ConfidenceAccuracy(self.window)
            self.confidence.update(prediction, proba)
        if self.task == "regression":
            if isinstance(prediction, int | float) and not isinstance(prediction, bool):
                if not self.quantiles:
                    self.quantiles = {q: stats.RollingQuantile(q, window_size=self.window) for q in QUANTILES}
                for quantile in self.quantiles.values():
                    quantile.update(float(prediction))
            return
        name = str(prediction)
        if name not in self.classes and len(self.classes) >= MAX_CLASSES:
            name = OTHER_CLASS
        self.classes[name] += 1


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


@dataclass(frozen=True)
class _Streams:
    """Just the ``streams`` of a Settings, to build an empty state like an existing one."""

    streams: dict[str, StreamConfig]


class MonitorState:
    """Metric state and drift detectors for every stream of ``settings``."""

    def __init__(
        self,
        settings: Settings | _Streams,
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
        self.max_model_keys = max_model_keys
        self.max_device_series = max_device_series
        self.lock = threading.Lock()
        #: Drop outcomes whose id was seen (at-least-once trainers repeat some); see ``monitor.dedupe``.
        self.dedupe = dedupe
        self._recent = RecentIds(dedupe_window)
        self.tracks: OrderedDict[str, ModelTrack] = OrderedDict()
        self.series: dict[tuple[str, str], Series] = {}
        self.devices: dict[tuple[str, str, str], Series] = {}
        self.device_overflow: Counter[str] = Counter()
        self.accepted: Counter[tuple[str, str]] = Counter()
        self.dropped: Counter[str] = Counter()
        self.drifts: Counter[tuple[str, str, str, str, str]] = Counter()
        self.warnings: Counter[tuple[str, str, str, str, str]] = Counter()
        self.last_drift_ts: dict[tuple[str, str, str, str, str], float] = {}
        # The status page's short memory; not in _STATE: it is not checkpointed.
        self.history = History(max_keys=min(max_model_keys, 500))

    #: What a checkpoint holds: everything but the configuration and the lock.
    _STATE = (
        "_recent", "tracks", "series", "devices", "device_overflow", "accepted", "dropped", "drifts", "warnings",
        "last_drift_ts",
    )  # fmt: skip

    def snapshot(self) -> bytes:
        with self.lock:
            return pickle.dumps({name: getattr(self, name) for name in self._STATE}, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, state: bytes | None) -> None:
        """Continue from a :meth:`snapshot` (verified by the caller before this unpickles); None: start empty."""
        fresh = MonitorState(
            _Streams(self.streams),
            self.window,
            self._recent.capacity,
            self.max_model_keys,
            self.max_device_series,
            self.dedupe,
        )
        values = {name: getattr(fresh, name) for name in self._STATE}
        if state is not None:
            values.update(pickle.loads(state))
        with self.lock:
            for name, value in values.items():
                setattr(self, name, value)
            # Outcomes after the checkpoint come again: drawing them twice would distort the page.
            self.history = fresh.history

    def drop(self, reason: str) -> None:
        """Count an outcome that was not used (invalid, duplicate, unknown stream, unscorable)."""
        with self.lock:
            self.dropped[reason] += 1

    def observe(self, outcome: OutcomeView | Outcome) -> list[DriftEvent]:
        """Account for one outcome; return the drift events (detections and warnings) it caused."""
        if isinstance(outcome, Outcome):
            outcome = OutcomeView.of(outcome)
        with self.lock:
            if self.dedupe and self._recent.seen(outcome.outcome_id):
                self.dropped["duplicate"] += 1
                return []
            stream = self.streams.get(outcome.stream)
            if stream is None:
                self.dropped["unknown_stream"] += 1
                return []
            try:
                return self._observe(outcome, stream)
            except ScoreError:
                self.dropped["unscorable"] += 1
                return []

    def _observe(self, outcome: OutcomeView, stream: StreamConfig) -> list[DriftEvent]:
        track = self._track(outcome, stream)
        history = self.history.seen(outcome, stream.task)
        targets = [self._series(outcome)]
        device = self._device_series(outcome, stream)
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
            events += self._data_drift(track, outcome, stream.drift.data_cooldown_s)
        if outcome.label is not None and outcome.prediction is not None:
            estimate = "holdout" if outcome.holdout else "prequential"
            error = targets[0].score(estimate, outcome)
            self.history.labelled(history, outcome, error)
            for series in targets[1:]:
                series.score(estimate, outcome)
            if outcome.label_delay_s is not None and outcome.label_delay_s >= 0:
                for series in targets:
                    series.label_delay.observe(outcome.label_delay_s)
            events += self._concept_drift(track, outcome, error)
        for event in events:
            self.history.drifted(history, outcome, event)
        self.accepted[(outcome.stream, outcome.model_name)] += 1
        return events

    def _track(self, outcome: OutcomeView, stream: StreamConfig) -> ModelTrack:
        """The track judging ``outcome``'s model key; its concept judge begins a new life on a new model.

        Data drift is the sensors', not the model's: the data detectors outlive the model's lives.
        """
        track = self.tracks.get(outcome.model_key)
        if track is None:
            track = ModelTrack(
                outcome.stream, outcome.model_key, ConceptWatch(stream.drift, stream.task), self._data_detectors(stream)
            )
            self.tracks[outcome.model_key] = track
        self.tracks.move_to_end(outcome.model_key)
        while len(self.tracks) > self.max_model_keys:
            self.tracks.popitem(last=False)
        if track.concept.see(outcome.model_name, outcome.model_version, outcome.event_time):
            # Counters exist at 0 before the first detection: Prometheus' increase() needs a prior sample.
            spec = stream.drift
            self.drifts[(outcome.stream, outcome.model_name, "concept", spec.concept, "")] += 0
            self.warnings[(outcome.stream, outcome.model_name, "concept", spec.concept, "")] += 0
            for name, detector in track.data.items():
                self.drifts[(outcome.stream, outcome.model_name, "data", detector.name, name)] += 0
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

    def _series(self, outcome: OutcomeView) -> Series:
        key = (outcome.stream, outcome.model_name)
        if key not in self.series:
            self.series[key] = self._new_series(outcome.stream, self.streams[outcome.stream])
        return self.series[key]

    def _new_series(self, name: str, stream: StreamConfig) -> Series:
        labels = Labels.of(name, stream)
        return Series(stream.task, self.window, labels if labels.named else None)

    def _device_series(self, outcome: OutcomeView, stream: StreamConfig) -> Series | None:
        if not stream.per_device_metrics:
            return None
        key = (outcome.stream, outcome.model_name, outcome.device_id)
        if key not in self.devices:
            if sum(1 for k in self.devices if k[0] == outcome.stream) >= self.max_device_series:
                self.device_overflow[outcome.stream] += 1
                return None
            self.devices[key] = self._new_series(outcome.stream, stream)
        return self.devices[key]

    def _concept_drift(self, track: ModelTrack, outcome: OutcomeView, error: float) -> list[DriftEvent]:
        alarm = track.concept.judge(outcome.model_name, outcome.model_version, error)
        if alarm is None or track.concept.detector is None:
            return []
        detector = track.concept.detector
        return [self._record(track, "concept", None, detector, alarm.level, alarm.position, alarm.statistic)]

    def _data_drift(self, track: ModelTrack, outcome: OutcomeView, cooldown_s: float) -> list[DriftEvent]:
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
            events.append(self._record(track, "data", name, detector, alarm.level, alarm.position, alarm.statistic))
        return events

    def _record(
        self,
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
            self.drifts[labels] += 1
            self.last_drift_ts[labels] = event.ts.timestamp()
        else:
            self.warnings[labels] += 1
        return event
