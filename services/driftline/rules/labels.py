"""A stream's labels checked against its task, and a binary stream's labels as booleans.

One mapping for every service: the collector refuses a label that does not fit the stream's task
(so the trainer never meets one), the trainer maps what it learns, the monitor scores with it.

- **binary**: ``true``/``false`` or the numbers 0 and 1 (the two natural class values); or, when the
  stream names its classes (``classes = ["DOWN", "UP"]``, ``positive = "UP"``), exactly those two
  values, typed (with classes ``[0, 1]`` the label ``true`` is not class 1). River's binary
  classifiers learn booleans, so a named label is mapped to ``label == positive`` for learning, and
  the models' answers mapped back, so outcomes speak the stream's own class names.
- **multiclass**: a string or an integer; one of ``classes`` when the stream names them, unless
  ``new_classes`` lets new ones in (the default when no classes are named).
- **regression**: a finite number (not a boolean).

Anything else is refused with :class:`LabelError`, whose message names the stream and its config key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from driftline.config.streams import StreamConfig
from driftline.contracts import checked_scalar


class LabelError(ValueError):
    """A label that does not fit the stream's task; ``reason``: ``unknown_class`` or ``wrong_type``."""

    def __init__(self, message: str, reason: str = "unknown_class"):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Labels:
    """The label rules of one stream: what it accepts and, for a binary one, how models learn it."""

    stream: str
    task: str = "binary"
    negative: Any = False
    positive: Any = True
    named: bool = False  # a binary stream with named classes
    classes: frozenset[tuple[type, Any]] = frozenset()  # a multiclass stream's named classes, typed
    new_classes: bool = True  # a multiclass stream takes classes it does not name

    @classmethod
    def of(cls, name: str, stream: StreamConfig) -> Labels:
        if stream.task == "multiclass":
            named = frozenset((type(c), c) for c in stream.classes or ())
            return cls(name, "multiclass", classes=named, new_classes=stream.allows_new_classes)
        if stream.task != "binary":
            return cls(name, stream.task)
        if stream.classes is None:
            return cls(name)
        positive = stream.positive_class
        negative = next(c for c in stream.classes if c != positive)
        return cls(name, "binary", negative, positive, named=True)

    @property
    def binary(self) -> bool:
        return self.task == "binary"

    def to_model(self, label: Any) -> Any:
        """The label a model learns; LabelError for one that does not fit the stream's task."""
        if self.named:
            # Typed: with classes [0, 1] a label true is not class 1.
            if label == self.positive and type(label) is type(self.positive):
                return True
            if label == self.negative and type(label) is type(self.negative):
                return False
            raise LabelError(
                f"label {label!r} is not one of stream {self.stream}'s classes "
                f"[{self.negative!r}, {self.positive!r}] (streams.{self.stream}.classes)"
            )
        task = self.task
        if task == "binary":
            if label.__class__ is bool:
                return label
            if label.__class__ in (int, float) and label in (0, 1):
                return label == 1
            raise LabelError(
                f"label {label!r} is not true/false or 0/1, and stream {self.stream} names no classes: "
                f"set streams.{self.stream}.classes = [negative, positive]"
            )
        if task == "multiclass":
            return self._multiclass(label)
        if label.__class__ in (int, float) and math.isfinite(label):
            return label
        raise LabelError(
            f"label {label!r} is not a finite number, and stream {self.stream} is a regression", "wrong_type"
        )

    def _multiclass(self, label: Any) -> Any:
        if (type(label), label) in self.classes:
            return label
        if label.__class__ not in (str, int):
            raise LabelError(
                f"label {label!r} is not a class (a string or an integer) of multiclass stream {self.stream}",
                "wrong_type",
            )
        if self.new_classes:
            return label
        known = ", ".join(sorted(repr(c) for _, c in self.classes))
        raise LabelError(
            f"label {label!r} is not one of stream {self.stream}'s classes [{known}] (streams.{self.stream}.classes; "
            f"streams.{self.stream}.new_classes = true lets new ones in)"
        )

    def check(self, label: Any) -> None:
        """Raise LabelError if ``label`` does not fit the stream's task (the collector's check)."""
        self.to_model(label)

    def from_model(self, prediction: Any) -> Any:
        """A model's answer in the stream's class names."""
        if not self.named or prediction is None:
            return prediction
        return self.positive if prediction else self.negative

    def positive_proba(self, proba: dict[str, float]) -> float | None:
        """The positive class's probability in an outcome's ``proba`` of named classes (keyed by text)."""
        if str(self.positive) in proba:
            return proba[str(self.positive)]
        return 1.0 - proba[str(self.negative)] if str(self.negative) in proba else None

    def proba_from_model(self, proba: dict[Any, float] | None) -> dict[Any, float] | None:
        if not self.named or not proba:
            return proba
        return {self.from_model(label): p for label, p in proba.items()}


def confidence_of(prediction: Any, proba: dict[Any, float] | None) -> float | None:
    """The probability a model gave its prediction (its top class's if the prediction is not among them).

    ``proba`` may be keyed by the classes or by the classes rendered as text (outcomes); None without one.
    """
    if not proba:
        return None
    value = proba.get(prediction)
    if value is None:
        value = proba.get(str(prediction))
    # Some models' probabilities overshoot [0, 1] by a rounding error.
    return min(1.0, max(0.0, float(max(proba.values()) if value is None else value)))


def proba_text(proba: dict[Any, float] | None) -> dict[str, float] | None:
    """Class probabilities keyed by the class as text (as outcomes carry them); ValueError naming a non-finite one."""
    if not proba:
        return None
    text = {str(label): float(p) for label, p in proba.items()}
    if not math.isfinite(sum(text.values())):  # rare: find and name the culprit
        for label, p in text.items():
            checked_scalar(p, f"the probability of {label!r}")
    return text
