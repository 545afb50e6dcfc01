"""The prequential step, as the trainer and the backtest take it: a model key's slot predicts an event, then
learns it when its label is known (predict first, then learn, as River's own evaluation does).

>>> from driftline.config.streams import StreamConfig
>>> from driftline.learning.model_input import Encoded
>>> from driftline.learning.slot import ModelSlot
>>> slot = ModelSlot("rooms", StreamConfig(task="binary", model="logistic", features={"temperature": {}}))
>>> x = {"temperature": 21.5}
>>> step = predict_then_learn(slot, x, Encoded(x, x), True, learn=True)
>>> step.prediction, step.serving, step.learn_s is not None, slot.learned
(False, 'logistic', True, 1)
>>> predict_then_learn(slot, x, Encoded(x, x), None, learn=False).learn_s is None
True
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, NamedTuple

from driftline.learning.model_input import Encoded
from driftline.learning.slot import ModelSlot


class Step(NamedTuple):
    """What one prequential step did."""

    #: The served model's prediction and class probabilities, as the model gives them.
    prediction: Any
    proba: dict[Any, float] | None
    #: Every candidate's prediction (for scoring challengers), the served one's included.
    predictions: dict[str, Any]
    #: The served model's name when it predicted (learning may promote another).
    served: str
    #: The name the event's outcome carries: the served model's, read before learning (which may
    #: change a tuned model's choice).
    serving: str
    predict_s: float
    #: None when the event was not learned.
    learn_s: float | None
    #: The newly promoted champion's name, if learning promoted one (``slot.RECALLED``: a model of the key's
    #: library came back).
    promoted: str | None


def predict_then_learn(slot: ModelSlot, x: dict[str, Any], encoded: Encoded, y: Any, learn: bool) -> Step:
    """Predict ``x`` (``encoded``: ``slot.inputs.encode(x)``, shared by both calls) with every candidate of
    ``slot``, then, with ``learn``, teach them the model label ``y``; each part timed."""
    began = perf_counter()
    prediction, proba, predictions = slot.predict(x, encoded)
    predicted = perf_counter()
    served = slot.served.name
    serving = served if slot.stream.tuning is None else slot.serving
    if not learn:
        return Step(prediction, proba, predictions, served, serving, predicted - began, None, None)
    promoted = slot.learn(x, y, predictions, encoded)
    learned = perf_counter()
    return Step(prediction, proba, predictions, served, serving, predicted - began, learned - predicted, promoted)
