"""One model learning a model key's events, with its recent score and its time per predict and learn."""

from __future__ import annotations

import time
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from river import base, compose, utils

from driftline.learning.model_input import Encoded, takes_text

#: A candidate's timing covers its last 1x to 2x this many calls: at twice as many, the sums halve.
TIMING_WINDOW = 1000
#: Every this many calls one is timed: reading the clock twice is not free beside a quick predict_one.
TIMING_SAMPLE = 4


def restore_fields(obj: Any, state: list[Any]) -> None:
    """Set a slots dataclass from its pickled field values; fields newer than the pickle take their defaults.

    A checkpoint written before a field existed then restores, instead of leaving the field unset.
    """
    for f, value in zip(fields(obj), [*state, *[MISSING] * len(fields(obj))], strict=False):
        if value is MISSING:
            value = f.default_factory() if f.default_factory is not MISSING else f.default
        object.__setattr__(obj, f.name, value)


def predicts_by_argmax(model: Any) -> bool:
    """Whether ``model.predict_one(x)`` is the argmax of ``model.predict_proba_one(x)``, by River's own code.

    River's :meth:`river.base.Classifier.predict_one` is exactly that, and a pipeline passes both calls to its
    last step after the same transforms. Where it holds, one ``predict_proba_one`` gives the prediction and its
    probabilities, the same as the two calls would; a model with its own ``predict_one`` is asked both.
    """
    final = model
    if isinstance(model, compose.Pipeline):
        kind = type(model)
        if kind.predict_one is not compose.Pipeline.predict_one or (
            kind.predict_proba_one is not compose.Pipeline.predict_proba_one
        ):
            return False
        final = list(model.steps.values())[-1]
    return getattr(type(final), "predict_one", None) is base.Classifier.predict_one


@dataclass(slots=True)
class Candidate:
    """One model learning the key's events, with its recent score for champion/challenger."""

    name: str
    model: Any
    #: Only a key with challengers scores its candidates (for promotion); a lone champion keeps none.
    recent: utils.Rolling | None
    #: Nanoseconds spent in the timed calls of ``predict_one`` and ``learn_one`` (every
    #: :data:`TIMING_SAMPLE`-th of the calls counted beside them, over the last :data:`TIMING_WINDOW`
    #: to twice that): what this model costs per event, next to what ``recent`` says it buys.
    predict_ns: int = 0
    predicts: int = 0
    learn_ns: int = 0
    learns: int = 0
    #: The model gets text features as they are (:func:`takes_text`), not one-hot: decided by the model, at
    #: construction and again when a checkpoint restores it.
    takes_text: bool = field(init=False, default=False)
    #: Its prediction is the argmax of its probabilities (:func:`predicts_by_argmax`): one call gives both.
    argmax: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.takes_text = takes_text(self.model)
        self.argmax = predicts_by_argmax(self.model)

    def __getstate__(self) -> list[Any]:
        return [getattr(self, f.name) for f in fields(self)]

    def __setstate__(self, state: list[Any]) -> None:
        restore_fields(self, state)
        self.takes_text = takes_text(self.model)
        self.argmax = predicts_by_argmax(self.model)

    def features(self, encoded: Encoded) -> dict[str, Any]:
        """The event's features as this model learns them."""
        return encoded.text if self.takes_text else encoded.numbers

    def predict(self, encoded: Encoded, proba: bool) -> tuple[Any, dict[str, float] | None]:
        x = encoded.text if self.takes_text else encoded.numbers  # self.features(encoded), inline: per event
        # With probabilities asked of an argmax model, one call gives both: its predict_one would compute the
        # same probabilities again. That call is what gets timed then, as predict_one is otherwise: they cost
        # the same.
        call = self.model.predict_proba_one if proba and self.argmax else self.model.predict_one
        self.predicts += 1
        if self.predicts % TIMING_SAMPLE:
            answer = call(x)
        else:
            began = time.perf_counter_ns()
            answer = call(x)
            self.predict_ns += time.perf_counter_ns() - began
            if self.predicts >= 2 * TIMING_WINDOW:
                self.predict_ns, self.predicts = self.predict_ns // 2, self.predicts // 2
        if not proba:
            return answer, None
        if self.argmax:
            return (max(answer, key=answer.get) if answer else None), answer
        # predict_one and argmax of predict_proba_one can differ (ties, custom predict_one):
        # serve what predict_one says, as River's own evaluation does.
        return answer, self.model.predict_proba_one(x)

    def learn(self, encoded: Encoded, y: Any) -> None:
        x = encoded.text if self.takes_text else encoded.numbers  # self.features(encoded), inline: per event
        self.learns += 1
        if self.learns % TIMING_SAMPLE:
            self.model.learn_one(x, y)
            return
        began = time.perf_counter_ns()
        self.model.learn_one(x, y)
        self.learn_ns += time.perf_counter_ns() - began
        if self.learns >= 2 * TIMING_WINDOW:
            self.learn_ns, self.learns = self.learn_ns // 2, self.learns // 2

    @property
    def predicts_timed(self) -> int:
        return self.predicts // TIMING_SAMPLE

    @property
    def learns_timed(self) -> int:
        return self.learns // TIMING_SAMPLE

    @property
    def predict_us(self) -> float | None:
        """Mean microseconds per ``predict_one`` over its recent timed calls; None before the first."""
        return self.predict_ns / self.predicts_timed / 1000 if self.predicts_timed else None

    @property
    def learn_us(self) -> float | None:
        """Mean microseconds per ``learn_one`` over its recent timed calls; None before the first."""
        return self.learn_ns / self.learns_timed / 1000 if self.learns_timed else None

    @property
    def score(self) -> float | None:
        """The rolling score (accuracy, or MAE for regression) of its recent labelled predictions, if kept."""
        return self.recent.get() if self.recent is not None and len(self.recent.window) else None
