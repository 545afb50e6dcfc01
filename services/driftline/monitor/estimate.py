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

from typing import Any

from river import stats, utils

from driftline.labels import confidence_of


class ConfidenceAccuracy:
    """Expected accuracy of the last ``window`` predictions that came with class probabilities."""

    def __init__(self, window: int) -> None:
        self._mean = utils.Rolling(stats.Mean, window_size=window)
        self.count = 0

    def update(self, prediction: Any, proba: dict[Any, float] | None) -> None:
        confidence = confidence_of(prediction, proba)
        if confidence is not None:
            self._mean.update(confidence)
            self.count += 1

    def get(self) -> float | None:
        """The estimate; None before the first prediction with probabilities."""
        return float(self._mean.get()) if self.count else None
