"""The backtest itself, pure: ordered rows of one stream in, per model spec metrics and timings out.

Each event is cleaned by its model key's :class:`~driftline.learning.cleaning.Cleaner` (as the
trainer cleans it), then every spec's model predicts it and, when its label is inline, learns it
at once (prequential: predict, then learn). A late label is learned when the replay reaches it,
joining the prediction that waits for it in a :class:`~driftline.learning.pending.PendingLabels`
with the stream's TTL and capacity, as in the trainer. Scores are the monitor's
(:class:`~driftline.rules.scores.Scores`).

Holdout by time: when the first event past the train part comes, every model key's cleaner and
models are copied and frozen; the copies predict the validation and test events, learning
nothing, scored once each label is known. The live models go on, so the prequential figures
cover every event.

To judge a candidate model before it joins a stream as a challenger, run the stream's model and the
candidate's spec side by side: ``Backtest(name, stream, [stream.model, candidate]).run(rows)``; the
winner joins the live stream with ``driftline challenger add --stream NAME --model SPEC`` (an
``add_challenger`` command, applied by ``ModelSlot.add_challenger``).
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from driftline.backtest.rows import EventRow, LabelRow, Part
from driftline.config.streams import StreamConfig
from driftline.learning.cleaning import Cleaner
from driftline.learning.pending import Pending, PendingLabels
from driftline.learning.prequential import predict_then_learn
from driftline.learning.slot import ModelSlot
from driftline.modelspec import ModelSpecError, build_model
from driftline.rules.keys import model_key
from driftline.rules.labels import LabelError, Labels, proba_text
from driftline.rules.scores import ScoreError, Scores

#: Rows between two progress callbacks.
PROGRESS_EVERY = 1000


@dataclass
class Timing:
    """Nanoseconds spent in River's predict (``predict_one`` and ``predict_proba_one``) and ``learn_one``."""

    predict_ns: int = 0
    predicted: int = 0
    learn_ns: int = 0
    learned: int = 0

    @property
    def predict_us(self) -> float | None:
        return self.predict_ns / self.predicted / 1000 if self.predicted else None

    @property
    def learn_us(self) -> float | None:
        return self.learn_ns / self.learned / 1000 if self.learned else None


@dataclass(frozen=True, slots=True)
class Scored:
    """One prequential prediction with its label, for the rolling accuracy curve."""

    event_ts: datetime
    model_key: str
    label: Any
    prediction: Any


@dataclass
class SpecResult:
    spec: str
    prequential: Scores
    validation: Scores
    test: Scores
    timing: Timing = field(default_factory=Timing)
    curve: list[Scored] = field(default_factory=list)
    #: Labelled predictions not scored (no prediction, or one the task cannot score), per part.
    unscored: Counter[str] = field(default_factory=Counter)

    def scores(self, part: str) -> Scores:
        return {"prequential": self.prequential, "validation": self.validation, "test": self.test}[part]


@dataclass
class BacktestResult:
    stream: str
    task: str
    specs: list[SpecResult]
    #: events, dropped:<reason>, labels_joined, labels_unmatched, labels_refused, labels_expired, unlabelled
    counts: Counter[str]


@dataclass
class _KeyState:
    cleaner: Cleaner
    pending: PendingLabels
    slots: dict[str, ModelSlot]
    #: The train part's cleaner and models, frozen at the cut (None before it).
    frozen: tuple[Cleaner, dict[str, ModelSlot]] | None = None


def check_specs(specs: list[str]) -> None:
    """Raise :class:`ModelSpecError` naming the first spec that does not build, or one given twice."""
    if not specs:
        raise ModelSpecError("no model spec given")
    for spec in specs:
        build_model(spec)
        if specs.count(spec) > 1:
            raise ModelSpecError(f"{spec!r}: given twice")


class Backtest:
    """Replays one stream's rows through fresh models of each spec; :meth:`run` once per instance."""

    def __init__(self, stream_name: str, stream: StreamConfig, specs: list[str]) -> None:
        check_specs(specs)
        self.name = stream_name
        # One spec per slot, without challengers: each spec is scored on its own.
        self.configs = {spec: stream.model_copy(update={"model": spec, "challengers": []}) for spec in specs}
        self.stream = stream
        self.labels = Labels.of(stream_name, stream)
        self.keys: dict[str, _KeyState] = {}
        self.frozen = False
        self.counts: Counter[str] = Counter()
        task = stream.task
        classes = self.labels if self.labels.named else None
        self.results = {spec: SpecResult(spec, *(Scores(task, classes=classes) for _ in range(3))) for spec in specs}

    def run(self, rows: Iterable[EventRow | LabelRow], progress: Callable[[int], None] | None = None) -> BacktestResult:
        done = 0
        for row in rows:
            if isinstance(row, EventRow):
                self.on_event(row)
            else:
                self.on_label(row)
            done += 1
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
        if progress is not None:
            progress(done % PROGRESS_EVERY)
        for state in self.keys.values():
            self.counts["labels_expired"] += state.pending.expired
            self.counts["unlabelled"] += len(state.pending)
        return BacktestResult(self.name, self.stream.task, list(self.results.values()), self.counts)

    def _fresh_slots(self, key: str) -> dict[str, ModelSlot]:
        return {spec: ModelSlot(key, config) for spec, config in self.configs.items()}

    def _key(self, key: str) -> _KeyState:
        state = self.keys.get(key)
        if state is None:
            stream = self.stream
            state = self.keys[key] = _KeyState(
                Cleaner(stream), PendingLabels(stream.label_ttl_s, stream.max_pending_labels), self._fresh_slots(key)
            )
            if self.frozen:
                # First seen after the cut: the frozen model of this key never learned anything.
                state.frozen = (Cleaner(stream), self._fresh_slots(key))
        return state

    def _freeze(self) -> None:
        self.frozen = True
        for state in self.keys.values():
            state.frozen = (copy.deepcopy(state.cleaner), copy.deepcopy(state.slots))

    def _model_label(self, label: Any) -> tuple[bool, Any]:
        try:
            return True, self.labels.to_model(label)
        except LabelError:
            self.counts["labels_refused"] += 1
            return False, None

    def on_event(self, row: EventRow) -> None:
        self.counts["events"] += 1
        if row.part != "train" and not self.frozen:
            self._freeze()
        state = self._key(model_key(self.name, row.device_id, self.stream.scope))
        cleaned = state.cleaner.clean(row.features, row.units, row.ts, device=row.device_id)
        if cleaned.dropped:
            self.counts[f"dropped:{cleaned.dropped.partition(':')[0]}"] += 1
            return
        known, y = (False, None) if row.label is None else self._model_label(row.label)
        live = {}
        for spec, slot in state.slots.items():
            result = self.results[spec]
            encoded = slot.inputs.encode(cleaned.features)  # each slot keeps the text values it has seen
            # The trainer's step: predict, then learn when the label is known.
            step = predict_then_learn(slot, cleaned.features, encoded, y, learn=known)
            result.timing.predict_ns += round(step.predict_s * 1e9)
            result.timing.predicted += 1
            live[spec] = (self.labels.from_model(step.prediction), proba_text(self.labels.proba_from_model(step.proba)))
            if step.learn_s is not None:
                # Scored on the prediction made before learning, as the monitor scores the trainer's outcome.
                self._score(result, "prequential", row.label, *live[spec], row.ts, slot.key)
                result.timing.learn_ns += round(step.learn_s * 1e9)
                result.timing.learned += 1
        frozen = self._frozen_predictions(state, row) if row.part != "train" else None
        if known:
            for spec, answer in (frozen or {}).items():
                self._score(self.results[spec], row.part, row.label, *answer)
            return
        predictions = {"live": live, "frozen": frozen, "part": row.part}
        holdout = row.part != "train"
        waiting = Pending(row.event_id, row.device_id, cleaned.features, row.ts, predictions, None, "", 1, holdout,
                          cleaned.steps)  # fmt: skip
        state.pending.add(waiting)

    def _frozen_predictions(self, state: _KeyState, row: EventRow) -> dict[str, tuple[Any, Any]]:
        assert state.frozen is not None
        cleaner, slots = state.frozen
        cleaned = cleaner.clean(row.features, row.units, row.ts, learn=False, device=row.device_id)
        if cleaned.dropped:
            return {}
        answers = {}
        for spec, slot in slots.items():
            prediction, proba, _ = slot.predict(cleaned.features)  # frozen: learns no new text value either
            answers[spec] = (self.labels.from_model(prediction), proba_text(self.labels.proba_from_model(proba)))
        return answers

    def on_label(self, row: LabelRow) -> None:
        state = self.keys.get(model_key(self.name, row.device_id, self.stream.scope))
        known, y = self._model_label(row.label)
        if not known:
            return  # the prediction keeps waiting, as in the trainer: a corrected label may still come
        waiting = state.pending.pop(row.device_id, row.event_id) if state is not None else None
        if waiting is None:
            self.counts["labels_unmatched"] += 1
            return
        self.counts["labels_joined"] += 1
        for spec, (prediction, proba) in waiting.predictions["live"].items():
            result = self.results[spec]
            self._score(result, "prequential", row.label, prediction, proba, waiting.event_ts, state.slots[spec].key)
            began = time.perf_counter_ns()
            state.slots[spec].learn(waiting.features, y, {})
            result.timing.learn_ns += time.perf_counter_ns() - began
            result.timing.learned += 1
        part: Part = waiting.predictions["part"]
        for spec, answer in (waiting.predictions["frozen"] or {}).items():
            self._score(self.results[spec], part, row.label, *answer)

    def _score(
        self,
        result: SpecResult,
        part: str,
        label: Any,
        prediction: Any,
        proba: dict[str, float] | None,
        event_ts: datetime | None = None,
        key: str = "",
    ) -> None:
        if prediction is None:
            # A model that cannot answer yet (naive Bayes before its first label) is not scored, as in River.
            result.unscored[part] += 1
            return
        try:
            result.scores(part).update(label, prediction, proba)
        except ScoreError:
            result.unscored[part] += 1
            return
        if part == "prequential" and event_ts is not None:
            result.curve.append(Scored(event_ts, key, label, prediction))
