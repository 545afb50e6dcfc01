"""A binary stream's labels as booleans: how its models learn them and how its scores count them.

River's binary classifiers (logistic regression among them) learn ``True``/``False``. A stream
that names its classes (``classes = ["DOWN", "UP"]``, ``positive = "UP"``) has its labels mapped
to ``label == positive`` for learning, and its models' answers mapped back, so outcomes speak the
stream's own class names; the monitor scores with the same mapping. A label the stream does not
name is refused with :class:`LabelError`. Multiclass and regression labels pass through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from driftline.config import StreamConfig


class LabelError(ValueError):
    """A label the stream's classes do not include."""


@dataclass(frozen=True)
class Labels:
    """The label mapping of one stream (``binary`` False: labels pass through)."""

    stream: str
    binary: bool
    negative: Any = False
    positive: Any = True
    named: bool = False

    @classmethod
    def of(cls, name: str, stream: StreamConfig) -> Labels:
        if stream.task != "binary":
            return cls(name, binary=False)
        if stream.classes is None:
            return cls(name, binary=True)
        positive = stream.positive_class
        negative = next(c for c in stream.classes if c != positive)
        return cls(name, True, negative, positive, named=True)

    def to_model(self, label: Any) -> Any:
        """The label a model learns; LabelError for one the stream does not know."""
        if not self.binary:
            return label
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
        if isinstance(label, bool):
            return label
        if isinstance(label, int | float) and label in (0, 1):
            return label == 1
        raise LabelError(
            f"label {label!r} is not true/false, and stream {self.stream} names no classes: "
            f"set streams.{self.stream}.classes = [negative, positive]"
        )

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
