"""The trainer's logic, without Kafka: events, labels and commands in; outcomes (with the drift judged at them) out.

For each event: drop duplicates, clean, predict with the model of its model key, and learn when
the label is known (prequential: predict first, then learn). Labels that arrive later join the
waiting prediction and are learned then. Holdout events are predicted and scored, never learned.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from driftline.checkpoint import signer_for
from driftline.config.settings import Settings
from driftline.config.streams import StreamConfig, check_drift_spec
from driftline.contracts import (
    DriftEvent,
    LabelEvent,
    OutcomeRecord,
    SensorEvent,
    checked_scalar,
    utc_now,
)
from driftline.learning.cleaning import Cleaner, numeric_only
from driftline.learning.holdout import is_holdout
from driftline.learning.model_input import Encoded
from driftline.learning.pending import Pending, PendingLabels, event_ident
from driftline.learning.prequential import predict_then_learn
from driftline.learning.slot import RECALLED, ModelSlot
from driftline.rules.concept import ConceptWatch
from driftline.rules.datadrift import DataWatch
from driftline.rules.dedupe import RecentIds
from driftline.rules.detectors import Alarm
from driftline.rules.keys import model_key, stream_of
from driftline.rules.labels import LabelError, Labels, proba_text
from driftline.rules.scores import ScoreError, outcome_error
from driftline.rules.sensorfaults import FAULT_OF_STEP
from driftline.trainer.checkpointed import CheckpointedKeys
from driftline.trainer.control import TrainerControl
from driftline.trainer.label_requests import BudgetedUncertainty, LabelAsking, OpenRequests
from driftline.trainer.metrics import (
    CandidateCollector,
    CandidateFigures,
    StreamMetrics,
    TrainerMetrics,
    candidate_figures,
)

log = logging.getLogger(__name__)


class UnknownStream(LookupError):
    """An event or label for a stream the config does not declare."""


def outcome_id(key: str, device_id: str, event_id: str, labelled: bool) -> str:
    """Unique per model key, event and phase ("p": prediction only, "l": with its label)."""
    return f"{key}/{device_id}/{event_id}/{'l' if labelled else 'p'}"  # event_ident's form inline: per event


def drift_event(
    key: str, model_name: str, version: int, kind: str, feature: str | None, detector: str, alarm: Alarm
) -> DriftEvent:
    """The detection ``alarm`` of one model key's judge, as the drift topic and the outcome carry it."""
    return DriftEvent(
        drift_id=f"{key}:v{version}:{kind}:{feature or '-'}:{alarm.level}:{alarm.position}",
        drift_kind=kind,  # type: ignore[arg-type]
        level=alarm.level,
        stream=stream_of(key),
        model_key=key,
        model_name=model_name,
        model_version=version,
        detector=detector,
        feature=feature,
        position=alarm.position,
        statistic=alarm.statistic,
    )


#: Commands remembered per model key, so one read twice is applied once.
APPLIED_REMEMBERED = 1000


@dataclass(slots=True)
class KeyState:
    """What the trainer keeps per model key besides the models."""

    cleaner: Cleaner
    recent: RecentIds
    pending: PendingLabels
    #: Judges the key's errors outcome by outcome, so a drift is acted on where it shows.
    watch: ConceptWatch
    #: Judges the key's cleaned features (None: the stream watches none).
    data: DataWatch | None = None
    applied: RecentIds = field(default_factory=lambda: RecentIds(APPLIED_REMEMBERED))
    #: Streams with a label budget: which labels to ask for, and the requests no label answered yet.
    asking: BudgetedUncertainty | None = None
    requests: OpenRequests | None = None


@dataclass(slots=True)
class _Lane:
    """What :meth:`TrainerCore.on_event` looks up per event, resolved once when a model key opens.

    Derived from the config and the key's state (never checkpointed): rebuilt on restore.
    """

    slot: ModelSlot
    state: KeyState
    labels: Labels
    bound: StreamMetrics
    #: The stream's cleaned features are all numbers: they are the models' input as they are.
    numeric: bool
    holdout_fraction: float
    #: Outcomes carry the cleaned features and cleaning steps (``streams.S.outcome_features``).
    with_features: bool


@dataclass
class TrainerCore(CheckpointedKeys, LabelAsking, TrainerControl):
    """The trainer's state (a model slot and a :class:`KeyState` per model key) and what changes it: events
    and labels, and serving; a checkpoint's keys (:class:`~driftline.trainer.checkpointed.CheckpointedKeys`),
    its label requests (:class:`~driftline.trainer.label_requests.LabelAsking`), control commands and
    reactions to drift (:class:`~driftline.trainer.control.TrainerControl`) are parts of it of their own."""

    settings: Settings
    metrics: TrainerMetrics = field(default_factory=TrainerMetrics)
    slots: dict[str, ModelSlot] = field(default_factory=dict)
    keys: dict[str, KeyState] = field(default_factory=dict)
    #: Guards models against the serving endpoint's thread.
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        for name, stream in self.settings.streams.items():
            check_drift_spec(name, stream)  # refused at start, not at a key's first event
        self.signer = signer_for(self.settings)
        self.labels = {name: Labels.of(name, stream) for name, stream in self.settings.streams.items()}
        #: Streams whose cleaned features are all numbers, hence the models' input as they are.
        self._numeric = {name: numeric_only(stream) for name, stream in self.settings.streams.items()}
        self._scopes = {name: stream.scope for name, stream in self.settings.streams.items()}
        self._lanes: dict[str, _Lane] = {}
        self._dormant: dict[str, bytes] = {}
        self._used: set[str] = set()
        self._snapshot_every = self.settings.trainer.snapshot_every
        self._label_warned: set[str] = set()
        self.metrics.registry.register(CandidateCollector(self.candidate_figures))

    def candidate_figures(self) -> list[CandidateFigures]:
        """Every candidate's rolling score and time per event, per stream (see :func:`candidate_figures`)."""
        with self.lock:
            return candidate_figures(self.slots.values())

    def _model_label(self, key: str, stream_name: str, label: Any) -> tuple[bool, Any]:
        """(True, the label as the models learn it), or (False, None) for a label that does not fit the stream.

        A refused label is counted every time and logged once per model key: a misconfigured
        stream must show, without a log line per event.
        """
        try:
            return True, self.labels[stream_name].to_model(label)
        except LabelError as e:
            self._refuse_label(key, stream_name, e)
            return False, None

    def _refuse_label(self, key: str, stream_name: str, e: LabelError) -> None:
        self.metrics.labels_refused.labels(stream_name, e.reason).inc()
        if key not in self._label_warned:
            self._label_warned.add(key)
            log.error("%s: %s; its events are predicted but not learned", key, e)

    def _count_steps(self, stream_name: str, steps: list[str]) -> None:
        for step in steps:
            kind, _, feature = step.partition(":")
            # Devices choose unknown feature names: one series for all keeps cardinality bounded.
            label = "(unknown)" if kind == "unknown_feature" else feature
            self.metrics.cleaned.labels(stream_name, kind, label).inc()
            fault = FAULT_OF_STEP.get(kind)
            if fault is not None and label:
                self.metrics.sensor_faults.labels(stream_name, fault, label).inc()

    @property
    def snapshot_root(self) -> Path:
        return self.settings.state_dir / "snapshots"

    def _stream(self, name: str) -> StreamConfig:
        stream = self.settings.streams.get(name)
        if stream is None:
            raise UnknownStream(f"stream {name!r} is not configured")
        return stream

    def _slot(self, key: str, stream: StreamConfig) -> tuple[ModelSlot, KeyState]:
        self._used.add(key)
        slot = self.slots.get(key)
        if slot is None and self.wake(key):
            slot = self.slots[key]
        if slot is None:
            slot = self.slots[key] = ModelSlot(key, stream)
            self.keys[key] = KeyState(
                Cleaner(stream),
                RecentIds(stream.dedupe_window),
                PendingLabels(stream.label_ttl_s, stream.max_pending_labels),
                ConceptWatch(stream.drift, stream.task),
                DataWatch.of(stream.drift, stream.features),
            )
            self._report_version(slot)
            self._open(key)
        return slot, self.keys[key]

    def _open_new(self, key: str, stream_name: str) -> _Lane:
        """The lane of a model key met for the first time (its slot and state made now)."""
        self._slot(key, self._stream(stream_name))
        return self._lanes.get(key) or self._open(key)

    def _open(self, key: str) -> _Lane:
        """The lane of a model key whose slot and state exist (made by :meth:`_slot` or :meth:`restore`)."""
        slot = self.slots[key]
        name = stream_of(key)
        lane = self._lanes[key] = _Lane(
            slot,
            self.keys[key],
            self.labels[name],
            self.metrics.of_stream(name),
            self._numeric[name],
            slot.stream.holdout_fraction,
            slot.stream.outcome_features,
        )
        return lane

    def _report_version(self, slot: ModelSlot) -> None:
        # Per-device model keys become series only when the stream asks for them.
        if slot.stream.scope == "stream" or slot.stream.per_device_metrics:
            self.metrics.model_version.labels(stream_of(slot.key), slot.key).set(slot.version)
        self._report_tuning(slot)

    def _report_tuning(self, slot: ModelSlot) -> None:
        # Every learned event passes here: streams without tuning leave at once.
        if slot.stream.tuning is not None and (slot.stream.scope == "stream" or slot.stream.per_device_metrics):
            self.metrics.report_serving(stream_of(slot.key), slot.key, slot.served.model)

    # Events and labels

    def on_event(self, event: SensorEvent) -> OutcomeRecord | None:
        """Clean, predict, and learn when labeled; None when the event was dropped.

        Every event passes here: written flat, with what the key needs looked up once per key
        (:class:`_Lane`), and the rare cases (a cleaning step, a drop, a refused label, a detection)
        off the straight line.
        """
        name, device, event_id = event.stream, event.device_id, event.event_id
        scope = self._scopes.get(name)
        if scope is None:
            raise UnknownStream(f"stream {name!r} is not configured")
        key = name if scope == "stream" else model_key(name, device, scope)
        with self.lock:
            lane = self._lanes.get(key) or self._open_new(key, name)
            self._used.add(key)
            slot, state, bound = lane.slot, lane.state, lane.bound
            bound.consumed += 1
            if state.recent.seen(f"{device}/{event_id}"):
                self.metrics.dropped.labels(name, "duplicate").inc()
                return None
            ts = event.ts
            cleaned = state.cleaner.clean(event.features, event.units, ts, device=device)
            steps = cleaned.steps
            if steps:
                self._count_steps(name, steps)
            if cleaned.dropped:
                self.metrics.dropped.labels(name, cleaned.dropped.partition(":")[0]).inc()
                return None

            labels = lane.labels
            label = event.label
            if label is not None:
                try:
                    y = labels.to_model(label)
                except LabelError as e:
                    self._refuse_label(key, name, e)
                    label = y = None
            else:
                y = None
            holdout = lane.holdout_fraction > 0 and is_holdout(event_id, lane.holdout_fraction)
            # Encoded once for predicting and learning, as River's own evaluation passes one x to both;
            # a stream of numbers only is its own encoding, for every model.
            features = cleaned.features
            encoded = Encoded(features, features) if lane.numeric else slot.inputs.encode(features)
            version = slot.version
            step = predict_then_learn(slot, features, encoded, y, learn=label is not None and not holdout)
            prediction, serving, predict_s, learn_s = step.prediction, step.serving, step.predict_s, step.learn_s
            bound.predict_seconds(step.served).observe(predict_s)
            bound.predicted += 1
            if learn_s is not None:
                self._learned(slot, name, bound, learn_s, step.promoted)
            proba = proba_text(labels.proba_from_model(step.proba))
            epoch = ts.timestamp()
            data = state.data
            found = data.see(features, epoch) if data is not None else None
            drifts = self._data_drifts(key, serving, version, found) if found else None
            if label is None:
                pending = Pending(
                    event_id, device, features, ts, step.predictions, proba, serving, version, holdout, steps
                )  # fmt: skip
                expired = state.pending.add(pending)
                if expired:
                    self.metrics.labels_expired.labels(name).inc(expired)
            elif holdout:
                self.metrics.held_out.labels(name).inc()
            answer = checked_scalar(labels.from_model(prediction), "the prediction")
            outcome = OutcomeRecord(
                outcome_id(key, device, event_id, label is not None),
                event_id,
                name,
                device,
                key,
                serving,
                version,
                answer,
                proba,
                label,
                label is not None and not holdout,
                label is not None and holdout,
                ts,
                utc_now(),
                predict_s * 1000,
                None if learn_s is None else learn_s * 1000,
                None,
                drifts,
                # Cleaning steps travel always (faults are read from them), features when asked.
                *((features, steps) if lane.with_features else (None, steps or None)),
            )
            return self._watch(slot, state, outcome, epoch)

    def on_label(self, label: LabelEvent) -> OutcomeRecord | None:
        """Learn from the waiting event this label belongs to; None if no prediction waits for it."""
        stream = self._stream(label.stream)
        key = model_key(label.stream, label.device_id, stream.scope)
        with self.lock:
            slot, state = self._slot(key, stream)
            known, y = self._model_label(key, label.stream, label.label)
            if not known:
                return None  # the prediction keeps waiting: a corrected label may still come
            pending = state.pending.pop(label.device_id, label.event_id)
            if pending is None:
                self.metrics.labels_unmatched.labels(label.stream).inc()
                return None
            self.metrics.labels_joined.labels(label.stream).inc()
            if state.requests is not None and state.requests.answered(event_ident(label.device_id, label.event_id)):
                self.metrics.label_requests_answered.labels(label.stream).inc()
            delay = (label.ts - pending.event_ts).total_seconds()
            self.metrics.label_delay.labels(label.stream).observe(max(delay, 0.0))
            learn_s = self._learn(slot, label.stream, pending, y)
            prediction = self.labels[label.stream].from_model(pending.predictions.get(pending.model_name))
            outcome = self._outcome(
                key, label.stream, pending, prediction, label=label.label, learn_s=learn_s, label_delay_s=delay
            )
            return self._watch(slot, state, outcome)

    def _learn(
        self, slot: ModelSlot, stream_name: str, pending: Pending, label: Any, encoded: Encoded | None = None
    ) -> float | None:
        if pending.holdout:
            self.metrics.held_out.labels(stream_name).inc()
            return None
        if pending.model_version != slot.version:
            # The model that predicted was reset since: its successors learn, but without a
            # prediction of their own for this event they are not scored on it.
            predictions: dict[str, Any] = {}
        else:
            predictions = pending.predictions
        began = perf_counter()
        promoted = slot.learn(pending.features, label, predictions, encoded)
        learn_s = perf_counter() - began
        self._learned(slot, stream_name, self.metrics.of_stream(stream_name), learn_s, promoted)
        return learn_s

    def _learned(
        self, slot: ModelSlot, stream_name: str, bound: StreamMetrics, learn_s: float, promoted: str | None
    ) -> None:
        """Count what one event's learning did; a promotion, a tuned model's choice, a periodic snapshot."""
        bound.learn_seconds(slot.served.name).observe(learn_s)
        bound.learned += 1
        if promoted:
            if promoted is RECALLED:
                self._recalled(slot)
            else:
                self.metrics.promotions.labels(stream_name, promoted).inc()
        if slot.stream.tuning is not None:
            self._report_tuning(slot)
        every = self._snapshot_every
        if every and slot.learned % every == 0:
            slot.snapshot(self.snapshot_root, self.signer)
            self.metrics.snapshots.labels(stream_name).inc()

    def _outcome(
        self,
        key: str,
        stream_name: str,
        pending: Pending,
        prediction: Any,
        label: Any = None,
        predict_s: float | None = None,
        learn_s: float | None = None,
        label_delay_s: float | None = None,
        drift: list[DriftEvent] | None = None,
    ) -> OutcomeRecord:
        return OutcomeRecord(
            outcome_id(key, pending.device_id, pending.event_id, label is not None),
            pending.event_id,
            stream_name,
            pending.device_id,
            key,
            pending.model_name,
            pending.model_version,
            checked_scalar(prediction, "the prediction"),
            pending.proba,
            label,
            label is not None and not pending.holdout,
            label is not None and pending.holdout,
            pending.event_ts,
            utc_now(),
            None if predict_s is None else predict_s * 1000,
            None if learn_s is None else learn_s * 1000,
            label_delay_s,
            drift,
            *(
                (pending.features, pending.steps)
                if self.settings.streams[stream_name].outcome_features
                else (None, pending.steps or None)
            ),
        )

    def key_of(self, stream: str, device_id: str) -> str:
        return model_key(stream, device_id, self._stream(stream).scope)

    # Serving

    def predict(self, key: str, features: dict[str, Any]) -> dict[str, Any]:
        """The current model's answer for a feature dict, cleaned like an event but learning nothing."""
        stream_name = stream_of(key)
        stream = self._stream(stream_name)
        with self.lock:
            self.wake(key)
            slot = self.slots.get(key)
            if slot is None:
                raise KeyError(f"no model for model key {key!r} yet")
            cleaned = self.keys[key].cleaner.clean(features, learn=False)
            if cleaned.dropped:
                raise ValueError(f"features rejected by cleaning: {cleaned.dropped}")
            prediction, proba, _ = slot.predict(cleaned.features)
            labels = self.labels[stream_name]
            prediction, proba = labels.from_model(prediction), labels.proba_from_model(proba)
            return {
                "model_key": key,
                "stream": stream_name,
                "task": stream.task,
                "model_name": slot.serving,
                "model_version": slot.version,
                "prediction": prediction,
                "proba": proba_text(proba),
                "features": cleaned.features,
                "cleaning": cleaned.steps,
            }

    # Drift

    def _watch(
        self, slot: ModelSlot, state: KeyState, outcome: OutcomeRecord, epoch: float | None = None
    ) -> OutcomeRecord:
        """Judge the key's outcome for concept drift, and act on a drift before the key's next event.

        The detection travels on the outcome (and on the drift topic) at the outcome where it was
        made, and the reset happens right there, so the same input gives the same resets on every run.
        """
        watch = state.watch
        watch.see(outcome.model_name, outcome.model_version, outcome.event_ts.timestamp() if epoch is None else epoch)
        if outcome.label is None or outcome.prediction is None:
            return outcome
        labels = self.labels[outcome.stream]
        try:
            error = outcome_error(slot.stream.task, labels if labels.named else None, outcome.label, outcome.prediction)
        except ScoreError:
            return outcome
        alarm = watch.judge(outcome.model_name, outcome.model_version, error)
        if alarm is not None:
            assert watch.detector is not None
            key, name, version = outcome.model_key, outcome.model_name, outcome.model_version
            found = drift_event(key, name, version, "concept", None, watch.detector.name, alarm)
            outcome.drift = [*(outcome.drift or ()), found]
            done = self._react(slot, alarm.level)
            log.info("concept %s on %s (%s at %s): %s", alarm.level, slot.key, watch.spec.concept, alarm.position, done)
        return outcome

    @staticmethod
    def _data_drifts(key: str, model_name: str, version: int, found: list[tuple[str, str, Alarm]]) -> list[DriftEvent]:
        """The data drifts one event's cleaned features completed (:meth:`DataWatch.see`), as outcomes carry them."""
        for feature, detector, alarm in found:
            log.info("data drift on %s, feature %s (%s at %s)", key, feature, detector, alarm.position)
        return [
            drift_event(key, model_name, version, "data", feature, detector, alarm)
            for feature, detector, alarm in found
        ]
