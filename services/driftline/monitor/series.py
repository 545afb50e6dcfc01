"""What the monitor exposes for one stream and model (or one device): counts, scores, estimates.

A :class:`Series` belongs to one unit of the monitor's state (an outcomes partition) and changes
with every outcome of its stream and model there. Series of several units pool
(:meth:`Series.pooled`) into the figures of the partitions a monitor holds: counts add up, scores
and windows pool their counts (see :mod:`driftline.rules.scores`), versions take the maximum.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.monitor.decode import OutcomeView
from driftline.monitor.estimate import ConfidenceAccuracy
from driftline.rules.labels import Labels
from driftline.rules.scores import Scores

#: Label delay histogram buckets, in seconds: from near-immediate feedback to a day.
LABEL_DELAY_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400)
#: Predicted classes counted by name per stream and model; rarer ones share ``__other__``.
MAX_CLASSES = 20
OTHER_CLASS = "__other__"
QUANTILES = (0.05, 0.5, 0.95)


@dataclass
class Histogram:
    """Bucket counts (a value in the first bucket it fits, else past the last); Prometheus shows them summed."""

    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.total += value
        self.count += 1
        self.counts[bisect_left(self.buckets, value)] += 1

    def cumulative(self) -> list[int]:
        """Per bucket, the values at or below its bound (Prometheus' ``le``)."""
        out, running = [], 0
        for n in self.counts[:-1]:
            running += n
            out.append(running)
        return out

    def merge(self, other: Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total
        self.count += other.count


@dataclass
class Series:
    """Everything exposed for one stream and model (and, optionally, one device)."""

    task: str
    window: int
    named: Labels | None = None  # a binary stream's named classes
    predictions: int = 0
    labels: Counter[str] = field(default_factory=Counter)  # by estimate
    classes: Counter[str] = field(default_factory=Counter)
    #: The last ``window`` predicted values (regression), for their quantiles.
    prediction_values: deque[float] | None = None
    label_delay: Histogram = field(default_factory=lambda: Histogram(LABEL_DELAY_BUCKETS))
    scores: dict[str, Scores] = field(default_factory=dict)  # by estimate
    version: int = 0
    #: Accuracy estimated from the predictions' confidence, before their labels (classification with probabilities),
    #: and its calibration on the labelled predictions.
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
        scores = self.scores.get(estimate)
        if scores is None:
            scores = self.scores[estimate] = Scores(self.task, self.window, self.named)  # type: ignore[arg-type]
        error = scores.update(outcome.label, outcome.prediction, outcome.proba)
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
                if self.prediction_values is None:
                    self.prediction_values = deque(maxlen=self.window)
                self.prediction_values.append(float(prediction))
            return
        name = str(prediction)
        if name not in self.classes and len(self.classes) >= MAX_CLASSES:
            name = OTHER_CLASS
        self.classes[name] += 1

    def calibrate(self, prediction: Any, proba: dict[str, float], right: bool) -> None:
        """A labelled prediction with probabilities, for the confidence estimate's calibration."""
        if self.confidence is None:
            self.confidence = ConfidenceAccuracy(self.window)
        self.confidence.learn(prediction, proba, right)

    def quantiles(self) -> dict[float, float]:
        """The 5%, 50% and 95% quantiles of the predicted values in the window (River's RollingQuantile: linear)."""
        if not self.prediction_values:
            return {}
        values = np.quantile(np.fromiter(self.prediction_values, float, len(self.prediction_values)), QUANTILES)
        return {q: float(v) for q, v in zip(QUANTILES, values, strict=True)}

    def in_window(self) -> int:
        """Predictions the windowed figures of predictions are over: the confidence estimate's, or the quantiles'."""
        if self.confidence is not None:
            return len(self.confidence.confidences)
        return len(self.prediction_values) if self.prediction_values is not None else 0

    @classmethod
    def pooled(cls, parts: list[Series]) -> Series:
        """One series counting every part's outcomes (to read from; a single part is itself)."""
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        pooled = cls(first.task, first.window, first.named)
        for part in parts:
            pooled.predictions += part.predictions
            pooled.labels.update(part.labels)
            pooled.classes.update(part.classes)
            pooled.label_delay.merge(part.label_delay)
            pooled.version = max(pooled.version, part.version)
            pooled.predict_ms += part.predict_ms
            pooled.predicts_timed += part.predicts_timed
            pooled.learn_ms += part.learn_ms
            pooled.learns_timed += part.learns_timed
            if part.prediction_values is not None:
                pooled.prediction_values = pooled.prediction_values or deque()
                pooled.prediction_values.extend(part.prediction_values)
        pooled.classes = _capped(pooled.classes)
        estimates = {estimate for part in parts for estimate in part.scores}
        pooled.scores = {e: Scores.pooled(p.scores[e] for p in parts if e in p.scores) for e in sorted(estimates)}
        confidences = [p.confidence for p in parts if p.confidence is not None]
        pooled.confidence = ConfidenceAccuracy.pooled(confidences) if confidences else None
        return pooled


def _capped(classes: Counter[str]) -> Counter[str]:
    """At most :data:`MAX_CLASSES` names (the most predicted), the rest under ``__other__``."""
    named = [(c, n) for c, n in classes.items() if c != OTHER_CLASS]
    if len(named) <= MAX_CLASSES:
        return classes
    named.sort(key=lambda item: (-item[1], item[0]))
    capped = Counter(dict(named[:MAX_CLASSES]))
    capped[OTHER_CLASS] = classes[OTHER_CLASS] + sum(n for _, n in named[MAX_CLASSES:])
    return capped


def pooled_by_key(units: Iterable[dict[Any, Series]]) -> dict[Any, Series]:
    """The series of several units, those of one key pooled."""
    parts: dict[Any, list[Series]] = {}
    for series in units:
        for key, one in series.items():
            parts.setdefault(key, []).append(one)
    return {key: Series.pooled(found) for key, found in parts.items()}
