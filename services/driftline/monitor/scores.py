"""How well a model predicts: River metrics, cumulative and over a rolling window.

A :class:`Scores` holds one task's metric set twice (since the start, and over the last
``window`` labelled outcomes). Labels and predictions are normalised first: a binary task's
positive class is the one its stream names (``classes`` and ``positive``), else ``True`` (also
written ``1`` or ``"true"``); a multiclass task compares classes as strings (the form
``Outcome.proba`` keys them by), a regression task compares numbers.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from river import metrics, utils

from driftline.labels import LabelError, Labels

Task = Literal["binary", "multiclass", "regression"]
WINDOWS = ("cumulative", "rolling")

#: Metric name (as exposed, without the ``driftline_`` prefix) -> River metric class, per task.
METRICS: dict[str, dict[str, Any]] = {
    "binary": {
        "accuracy": metrics.Accuracy,
        "precision": metrics.Precision,
        "recall": metrics.Recall,
        "f1": metrics.F1,
        "roc_auc": metrics.ROCAUC,
        "log_loss": metrics.LogLoss,
    },
    "multiclass": {
        "accuracy": metrics.Accuracy,
        "precision": metrics.MacroPrecision,
        "recall": metrics.MacroRecall,
        "f1": metrics.MacroF1,
        "log_loss": metrics.CrossEntropy,
    },
    "regression": {"mae": metrics.MAE, "rmse": metrics.RMSE, "r2": metrics.R2},
}
#: Metrics that need class probabilities (skipped for an outcome without ``proba``).
PROBA_METRICS = frozenset({"roc_auc", "log_loss"})

_TRUE = {"true", "1", "1.0", "yes"}


class ScoreError(ValueError):
    """A label or prediction that the stream's task cannot score."""


def as_positive(value: Any) -> bool:
    """A binary label or prediction as ``True`` (the positive class) or ``False``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    raise ScoreError(f"binary label must be a bool, 0/1 or a string, got {type(value).__name__}")


def positive_proba(proba: dict[str, float]) -> float | None:
    """The probability of the positive class from a ``proba`` keyed by class strings."""
    for key, p in proba.items():
        if key.strip().lower() in _TRUE:
            return p
    negatives = [p for key, p in proba.items() if key.strip().lower() in {"false", "0", "0.0", "no"}]
    return 1.0 - negatives[0] if negatives else None


def as_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScoreError(f"regression label and prediction must be numbers, got {value!r}")
    return float(value)


def normalised(task: Task, classes: Labels | None, label: Any, prediction: Any) -> tuple[Any, Any]:
    """A label and a prediction in the form the task compares them in (see the module's docstring)."""
    if task == "regression":
        return as_number(label), as_number(prediction)
    if task == "binary":
        if classes is None:
            return as_positive(label), as_positive(prediction)
        try:
            return classes.to_model(label), classes.to_model(prediction)
        except LabelError as e:
            raise ScoreError(str(e)) from None
    return str(label), str(prediction)


def outcome_error(task: Task, classes: Labels | None, label: Any, prediction: Any) -> float:
    """A labelled prediction's error as concept-drift detectors judge it: 0/1, or the absolute error."""
    y, p = normalised(task, classes, label, prediction)
    return abs(y - p) if task == "regression" else float(y != p)


class Scores:
    """One metric set for a task, cumulative and rolling over ``window`` labelled outcomes.

    ``classes``: a binary stream's named classes (as the trainer maps them); None: true/false labels.
    """

    def __init__(self, task: Task, window: int = 1000, classes: Labels | None = None) -> None:
        if task not in METRICS:
            raise ScoreError(f"unknown task {task!r}; expected one of {', '.join(METRICS)}")
        if window < 1:
            raise ScoreError(f"rolling window must be at least 1, got {window}")
        self.task = task
        self.classes = classes
        self.count = 0
        self._updated: set[str] = set()
        self._metrics: dict[str, dict[str, Any]] = {
            name: {"cumulative": cls(), "rolling": utils.Rolling(cls, window_size=window)}
            for name, cls in METRICS[task].items()
        }

    def update(self, label: Any, prediction: Any, proba: dict[str, float] | None) -> float:
        """Score one labelled prediction; return its error (0/1, or the absolute error)."""
        y, p = normalised(self.task, self.classes, label, prediction)
        pairs: dict[str, tuple[Any, Any]] = {name: (y, p) for name in self._metrics if name not in PROBA_METRICS}
        if self.task == "binary" and proba:
            named = self.classes
            p_pos = named.positive_proba(proba) if named else positive_proba(proba)
            if p_pos is not None:
                y_proba = {True: min(max(p_pos, 0.0), 1.0), False: min(max(1.0 - p_pos, 0.0), 1.0)}
                pairs.update({name: (y, y_proba) for name in PROBA_METRICS})
        elif self.task == "multiclass" and proba:
            pairs["log_loss"] = (y, dict(proba))
        for name, (y_true, y_pred) in pairs.items():
            for metric in self._metrics[name].values():
                metric.update(y_true, y_pred)
        self._updated.update(pairs)
        self.count += 1
        return abs(y - p) if self.task == "regression" else float(y != p)

    def values(self) -> dict[tuple[str, str], float]:
        """(metric, window) -> value, leaving out metrics that are not defined yet (or not finite)."""
        out: dict[tuple[str, str], float] = {}
        for name, by_window in self._metrics.items():
            if name not in self._updated:
                continue
            for window, metric in by_window.items():
                value = float(metric.get())
                if math.isfinite(value):
                    out[(name, window)] = value
        return out
