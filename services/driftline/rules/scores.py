"""How well a model predicts: one task's metric set, cumulative and over a rolling window, from counts.

A :class:`Scores` holds what River's metrics (:data:`METRICS`) need, as counts: a confusion
matrix, ROC AUC's per-threshold counts, sums of log loss and of absolute and squared errors.
Cumulative counts only grow. The rolling window (the last ``window`` labelled outcomes) is a ring
of entries beside its own counts: an outcome adds its entry, and the entry it pushes out of the
ring is subtracted, so each outcome costs O(1) whatever the metric set; the figures are computed
from the counts when read. Only R² over the window is read from the ring itself (two passes over
at most ``window`` entries), since its variance does not subtract stably. The figures are River's
own (``utils.Rolling(metric)`` for the window), to 1e-9: ``tests/unit/test_monitor_scores.py``
compares them on random streams of every task (R² over the window with its exact value, which
River's rolling variance, reverted with negative weights, misses by parts in a billion once labels move).

Counts add up, so scores of several units (outcomes partitions) pool exactly: :meth:`Scores.pooled`.

Labels and predictions are normalised first: a binary task's positive class is the one its stream
names (``classes`` and ``positive``), else ``True`` (also written ``1`` or ``"true"``); a
multiclass task compares classes as strings (the form ``Outcome.proba`` keys them by), a
regression task compares numbers.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from typing import Any, Literal

from river import metrics

from driftline.rules.labels import LabelError, Labels

Task = Literal["binary", "multiclass", "regression"]
WINDOWS = ("cumulative", "rolling")

#: Metric name (as exposed, without the ``driftline_`` prefix) -> the River metric whose figure it is, per task.
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
#: River's ROCAUC thresholds (its default, 10): the curve's points, the outer two nudged past 0 and 1.
ROC_THRESHOLDS = [i / 9 for i in range(10)]
ROC_THRESHOLDS[0] -= 1e-7
ROC_THRESHOLDS[-1] += 1e-7
#: River clamps probabilities into (0, 1) by this much before taking their log.
_EPS = 1e-15


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


def _clamped(p: float) -> float:
    return min(max(p, _EPS), 1 - _EPS)


def _ratio(a: float, b: float) -> float:
    """``a / b``, and 0.0 where River's metrics answer a division by zero with it."""
    return a / b if b else 0.0


def _f1(p: float, r: float) -> float:
    # River's FBeta with beta = 1, term for term.
    return (1 + 1.0) * p * r / (1.0 * p + r) if 1.0 * p + r else 0.0


# Tallies: the counts of one metric set over some outcomes. ``add`` and ``remove`` take an entry
# (what an outcome contributes), ``merge`` adds another tally's counts, ``get`` computes the figures.


class _Binary:
    """A binary confusion matrix: ``cm[2 * label + prediction]`` (tn, fp, fn, tp)."""

    __slots__ = ("cm",)

    def __init__(self) -> None:
        self.cm = [0, 0, 0, 0]

    @property
    def n(self) -> int:
        return sum(self.cm)

    def add(self, entry: int) -> None:
        self.cm[entry] += 1

    def remove(self, entry: int) -> None:
        self.cm[entry] -= 1

    def merge(self, other: _Binary) -> None:
        self.cm = [a + b for a, b in zip(self.cm, other.cm, strict=True)]

    def get(self) -> dict[str, float]:
        tn, fp, fn, tp = self.cm
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        return {
            "accuracy": _ratio(tp + tn, tn + fp + fn + tp),
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
        }


class _BinaryProba:
    """Log loss and ROC AUC of the positive class's probability.

    An entry is (label, the number of ROC thresholds below the probability, its log loss); a
    threshold ``t`` counts the outcome as predicted positive when the probability exceeds it, so
    ``positives[b]`` and ``negatives[b]`` (outcomes with ``b`` thresholds below) give each
    threshold's confusion matrix as suffix sums.
    """

    __slots__ = ("loss", "negatives", "positives")

    def __init__(self) -> None:
        self.positives = [0] * (len(ROC_THRESHOLDS) + 1)
        self.negatives = [0] * (len(ROC_THRESHOLDS) + 1)
        self.loss = 0.0

    @property
    def n(self) -> int:
        return sum(self.positives) + sum(self.negatives)

    @staticmethod
    def entry(y: bool, p: float) -> tuple[bool, int, float]:
        p = min(max(p, 0.0), 1.0)
        c = _clamped(p)
        return y, bisect_left(ROC_THRESHOLDS, p), -math.log(c) if y else -math.log(1 - c)

    def add(self, entry: tuple[bool, int, float]) -> None:
        y, bucket, loss = entry
        (self.positives if y else self.negatives)[bucket] += 1
        self.loss += loss

    def remove(self, entry: tuple[bool, int, float]) -> None:
        y, bucket, loss = entry
        (self.positives if y else self.negatives)[bucket] -= 1
        self.loss -= loss

    def merge(self, other: _BinaryProba) -> None:
        self.positives = [a + b for a, b in zip(self.positives, other.positives, strict=True)]
        self.negatives = [a + b for a, b in zip(self.negatives, other.negatives, strict=True)]
        self.loss += other.loss

    def get(self) -> dict[str, float]:
        n_pos, n_neg = sum(self.positives), sum(self.negatives)
        tprs, fprs = [], []
        tp = fp = 0
        # Threshold i predicts positive for buckets above i: walk down from the highest threshold.
        for i in range(len(ROC_THRESHOLDS) - 1, -1, -1):
            tp += self.positives[i + 1]
            fp += self.negatives[i + 1]
            tprs.append(_ratio(tp, n_pos))
            fprs.append(_ratio(fp, n_neg))
        tprs.reverse()
        fprs.reverse()
        # River: -trapezoid(x=fprs, y=tprs), fprs falling as the threshold rises.
        area = -sum((fprs[i + 1] - fprs[i]) * (tprs[i + 1] + tprs[i]) / 2.0 for i in range(len(tprs) - 1))
        return {"roc_auc": area, "log_loss": self.loss / (n_pos + n_neg) if n_pos + n_neg else 0.0}


class _Multiclass:
    """A multiclass confusion matrix: counts per (label, prediction), per label and per prediction."""

    __slots__ = ("cells", "cols", "right", "rows")

    def __init__(self) -> None:
        self.cells: dict[tuple[str, str], int] = {}
        self.rows: dict[str, int] = {}
        self.cols: dict[str, int] = {}
        self.right = 0

    @property
    def n(self) -> int:
        return sum(self.rows.values())

    def add(self, entry: tuple[str, str]) -> None:
        y, p = entry
        self.cells[entry] = self.cells.get(entry, 0) + 1
        self.rows[y] = self.rows.get(y, 0) + 1
        self.cols[p] = self.cols.get(p, 0) + 1
        if y == p:
            self.right += 1

    def remove(self, entry: tuple[str, str]) -> None:
        y, p = entry
        self.cells[entry] -= 1
        self.rows[y] -= 1
        self.cols[p] -= 1
        if y == p:
            self.right -= 1

    def merge(self, other: _Multiclass) -> None:
        for mine, theirs in ((self.cells, other.cells), (self.rows, other.rows), (self.cols, other.cols)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n  # type: ignore[index]
        self.right += other.right

    def get(self) -> dict[str, float]:
        # River's macro averages: over the classes labelled or predicted, a class whose division
        # by zero fails adding nothing (but counting in the mean).
        classes = {c for c, n in self.rows.items() if n} | {c for c, n in self.cols.items() if n}
        precision = recall = f1 = 0.0
        for c in classes:
            tp, row, col = self.cells.get((c, c), 0), self.rows.get(c, 0), self.cols.get(c, 0)
            p, r = _ratio(tp, col), _ratio(tp, row)
            precision += p
            recall += r
            f1 += _f1(p, r)
        k = len(classes)
        return {
            "accuracy": _ratio(self.right, self.n),
            "precision": _ratio(precision, k),
            "recall": _ratio(recall, k),
            "f1": _ratio(f1, k),
        }


class _MulticlassProba:
    """Cross-entropy: an entry is the outcome's loss."""

    __slots__ = ("loss", "n")

    def __init__(self) -> None:
        self.loss = 0.0
        self.n = 0

    @staticmethod
    def entry(y: str, proba: dict[str, float]) -> float:
        p = proba.get(y)
        return 0.0 if p is None else -math.log(_clamped(p))

    def add(self, entry: float) -> None:
        self.loss += entry
        self.n += 1

    def remove(self, entry: float) -> None:
        self.loss -= entry
        self.n -= 1

    def merge(self, other: _MulticlassProba) -> None:
        self.loss += other.loss
        self.n += other.n

    def get(self) -> dict[str, float]:
        return {"log_loss": self.loss / self.n if self.n else 0.0}


class _Regression:
    """Sums of absolute and squared errors; R² over the window is computed from the ring (see :meth:`r2_of`).

    Cumulatively, the label's variance is Welford's (as River's ``stats.Var``, which merges by
    Chan's formula across units).
    """

    __slots__ = ("abs", "mean", "n", "sq", "var_sum")

    def __init__(self) -> None:
        self.n = 0
        self.abs = 0.0
        self.sq = 0.0
        self.mean = 0.0  # of the labels, cumulative tallies only
        self.var_sum = 0.0  # sum of squared deviations from it

    def add(self, entry: tuple[float, float]) -> None:
        y, p = entry
        self.n += 1
        self.abs += abs(y - p)
        self.sq += (y - p) * (y - p)

    def add_label(self, y: float) -> None:
        """Welford's update of the labels' variance, for the cumulative R²."""
        old = self.mean
        self.mean += (y - old) / self.n
        self.var_sum += (y - old) * (y - self.mean)

    def remove(self, entry: tuple[float, float]) -> None:
        y, p = entry
        self.n -= 1
        self.abs -= abs(y - p)
        self.sq -= (y - p) * (y - p)

    def merge(self, other: _Regression) -> None:
        n = self.n + other.n
        if n:
            delta = other.mean - self.mean
            self.var_sum += other.var_sum + delta * delta * self.n * other.n / n
            self.mean += delta * other.n / n
        self.n = n
        self.abs += other.abs
        self.sq += other.sq

    def get(self, r2: float) -> dict[str, float]:
        mse = self.sq / self.n if self.n else 0.0
        return {"mae": self.abs / self.n if self.n else 0.0, "rmse": mse**0.5, "r2": r2}

    def r2(self) -> float:
        """The cumulative R² (River's: 0.0 up to two labels, and for labels without variance)."""
        if self.n <= 1 or not self.var_sum:
            return 0.0
        return 1 - self.sq / self.var_sum

    @staticmethod
    def r2_of(entries: list[tuple[float, float]]) -> float:
        """R² of the (label, prediction) entries, in two passes (the labels' mean, then the sums)."""
        n = len(entries)
        if n <= 1:
            return 0.0
        mean = math.fsum(y for y, _ in entries) / n
        total = math.fsum((y - mean) * (y - mean) for y, _ in entries)
        residual = math.fsum((y - p) * (y - p) for y, p in entries)
        return 1 - residual / total if total else 0.0


_TALLIES: dict[str, tuple[type, type | None]] = {
    "binary": (_Binary, _BinaryProba),
    "multiclass": (_Multiclass, _MulticlassProba),
    "regression": (_Regression, None),
}


class _Window:
    """A ring of the last ``size`` entries and their tally; float sums are summed afresh once per turn of the ring."""

    __slots__ = ("entries", "removed", "size", "tally")

    def __init__(self, tally: Any, size: int) -> None:
        self.tally = tally
        self.size = size
        self.entries: deque[Any] = deque(maxlen=size)
        self.removed = 0

    def push(self, entry: Any) -> None:
        entries = self.entries
        if len(entries) == self.size:
            self.tally.remove(entries.popleft())
            self.removed += 1
            if self.removed == self.size:
                self._resum()
        entries.append(entry)
        self.tally.add(entry)

    def _resum(self) -> None:
        """Rebuild the tally from the ring: subtracting floats for ever would let their sums drift."""
        self.removed = 0
        fresh = type(self.tally)()
        for entry in self.entries:
            fresh.add(entry)
        self.tally = fresh


class Scores:
    """One metric set for a task, cumulative and rolling over ``window`` labelled outcomes.

    ``classes``: a binary stream's named classes (as the trainer maps them); None: true/false labels.
    Probability metrics (:data:`PROBA_METRICS`) count only outcomes with ``proba``, over a window of
    their own: the last ``window`` such outcomes.
    """

    def __init__(self, task: Task, window: int = 1000, classes: Labels | None = None) -> None:
        if task not in METRICS:
            raise ScoreError(f"unknown task {task!r}; expected one of {', '.join(METRICS)}")
        if window < 1:
            raise ScoreError(f"rolling window must be at least 1, got {window}")
        self.task = task
        self.classes = classes
        self.window = window
        self.count = 0
        base, proba = _TALLIES[task]
        self.cumulative = base()
        self.rolling = _Window(base(), window)
        self.cumulative_proba = proba() if proba is not None else None
        self.rolling_proba = _Window(proba(), window) if proba is not None else None

    def update(self, label: Any, prediction: Any, proba: dict[str, float] | None) -> float:
        """Score one labelled prediction; return its error (0/1, or the absolute error)."""
        task = self.task
        y, p = normalised(task, self.classes, label, prediction)
        if task == "binary":
            entry: Any = 2 * y + p
            if proba:
                named = self.classes
                p_pos = named.positive_proba(proba) if named else positive_proba(proba)
                if p_pos is not None:
                    self._proba(_BinaryProba.entry(y, p_pos))
        elif task == "multiclass":
            entry = (y, p)
            if proba:
                self._proba(_MulticlassProba.entry(y, proba))
        else:
            entry = (y, p)
        self.cumulative.add(entry)
        if task == "regression":
            self.cumulative.add_label(y)
        self.rolling.push(entry)
        self.count += 1
        return abs(y - p) if task == "regression" else float(y != p)

    def _proba(self, entry: Any) -> None:
        self.cumulative_proba.add(entry)  # type: ignore[union-attr]
        self.rolling_proba.push(entry)  # type: ignore[union-attr]

    def scored(self) -> dict[str, tuple[int, int]]:
        """Per window, the outcomes its figures are computed over: (all labelled, those with probabilities)."""
        cumulative_proba = self.cumulative_proba.n if self.cumulative_proba is not None else 0
        rolling_proba = len(self.rolling_proba.entries) if self.rolling_proba is not None else 0
        return {"cumulative": (self.count, cumulative_proba), "rolling": (len(self.rolling.entries), rolling_proba)}

    def values(self) -> dict[tuple[str, str], float]:
        """(metric, window) -> value, leaving out metrics that are not defined yet (or not finite)."""
        if not self.count:
            return {}
        figures = {"cumulative": self._figures(self.cumulative, self.cumulative_proba, None)}
        figures["rolling"] = self._figures(
            self.rolling.tally,
            self.rolling_proba.tally if self.rolling_proba is not None else None,
            list(self.rolling.entries),
        )
        out: dict[tuple[str, str], float] = {}
        for window, values in figures.items():
            for name in METRICS[self.task]:
                value = values.get(name)
                if value is not None and math.isfinite(value):
                    out[(name, window)] = float(value)
        return out

    def _figures(self, base: Any, proba: Any, ring: list[Any] | None) -> dict[str, float]:
        if self.task == "regression":
            return base.get(base.r2() if ring is None else _Regression.r2_of(ring))
        figures = base.get()
        if proba is not None and proba.n:
            figures.update(proba.get())
        return figures

    @classmethod
    def pooled(cls, parts: Iterable[Scores]) -> Scores:
        """One :class:`Scores` counting the outcomes of all ``parts`` (of one task and window), to read from.

        Exact for every figure: the counts add up. Its rolling window holds every part's window.
        """
        parts = list(parts)
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        pooled = cls(first.task, first.window * len(parts), first.classes)
        for part in parts:
            pooled.count += part.count
            pooled.cumulative.merge(part.cumulative)
            pooled.rolling.tally.merge(part.rolling.tally)
            pooled.rolling.entries.extend(part.rolling.entries)
            if pooled.cumulative_proba is not None:
                pooled.cumulative_proba.merge(part.cumulative_proba)
                pooled.rolling_proba.tally.merge(part.rolling_proba.tally)  # type: ignore[union-attr]
                pooled.rolling_proba.entries.extend(part.rolling_proba.entries)  # type: ignore[union-attr]
        return pooled
