"""Accuracy estimated before labels arrive, from the model's own confidence (confidence-based performance estimation).

If a classifier's probabilities are calibrated, a prediction made with probability *p* is right
with probability *p*, so the mean of the predicted class's probability over recent predictions is
the accuracy those predictions can be expected to have once their labels are in. It needs no
label, so it is there while labels are delayed. It is an estimate, and two things make it wrong:
probabilities that are not calibrated (a young model, a Hoeffding tree's leaf counts), and a
concept drift, where the model stays as sure of itself as before while its answers turn wrong;
the estimate sees only what changes the model's confidence (a shift of the features into places
it is unsure of). ``driftline bench labels`` measures its error against the realised accuracy.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Any

from driftline.rules.labels import confidence_of


class ConfidenceAccuracy:
    """Expected accuracy of the last ``window`` predictions that came with class probabilities.

    A ring of the confidences and their sum (summed afresh once per turn of the ring, so float
    error does not pile up); estimates of several units (outcomes partitions) pool by :meth:`pooled`.
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self.confidences: deque[float] = deque(maxlen=window)
        self.total = 0.0
        self.count = 0
        self._removed = 0

    def update(self, prediction: Any, proba: dict[Any, float] | None) -> None:
        confidence = confidence_of(prediction, proba)
        if confidence is None:
            return
        confidences = self.confidences
        if len(confidences) == self.window:
            self.total -= confidences.popleft()
            self._removed += 1
            if self._removed == self.window:
                self._removed = 0
                self.total = math.fsum(confidences)
        confidences.append(confidence)
        self.total += confidence
        self.count += 1

    def get(self) -> float | None:
        """The estimate; None before the first prediction with probabilities."""
        return self.total / len(self.confidences) if self.confidences else None

    @classmethod
    def pooled(cls, parts: Iterable[ConfidenceAccuracy]) -> ConfidenceAccuracy:
        """One estimate over the windows of all ``parts`` (to read from): their confidences' mean."""
        parts = list(parts)
        if len(parts) == 1:
            return parts[0]
        pooled = cls(sum(p.window for p in parts))
        for part in parts:
            pooled.confidences.extend(part.confidences)
            pooled.total += part.total
            pooled.count += part.count
        return pooled
