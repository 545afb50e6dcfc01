"""Accuracy estimated before labels arrive, from the model's own confidence, calibrated on the labels that did.

If a classifier's probabilities are calibrated, a prediction made with probability *p* is right
with probability *p*, so the mean of the predicted class's probability over recent predictions is
the accuracy those predictions can be expected to have once their labels are in. It needs no
label, so it is there while labels are delayed. Models' probabilities are seldom calibrated
(online logistic regression is under-confident, a Hoeffding tree's pure leaves say 1.0), so, as
NannyML's CBPE does, the labelled outcomes calibrate them first: a :class:`Calibration` keeps the
(confidence, right or wrong) pairs of the last labelled predictions and fits an isotonic
regression of being right on confidence (chosen over Platt scaling and histogram binning by
``driftline bench labels``); the calibrated estimate is the mean of the calibrated confidences of
the last unlabelled predictions. On fewer than :data:`MIN_LABELS` labels it is not given: the
raw mean (:meth:`ConfidenceAccuracy.get`) is all there is.

A concept drift still fools it: the model stays as sure of itself as before while its answers turn
wrong, and the calibration, fitted on labels from before the change, vouches for it until labels
from after it fill its window; the estimate sees only what changes the model's confidence (a
shift of the features into places it is unsure of). ``driftline bench labels`` measures its error
against the realised accuracy, stationary and after a change.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np

from driftline.rules.labels import confidence_of

#: Confidences are kept to this many steps of [0, 1] in the calibration's window (2 bytes a pair).
STEPS = 1000
#: Labelled predictions a calibration keeps, per prediction in the estimate's window (per unit: pooled units
#: fit on all of theirs). With ``monitor.window`` 1,000: the last 2,000 labelled predictions.
CALIBRATION_WINDOWS = 2
#: Below this many labelled predictions there is no calibrated estimate.
MIN_LABELS = 100
#: The fit is redone, when read, once this many labels came since the last.
REFIT_EVERY = 100
METHODS = ("isotonic", "platt", "histogram")


def _isotonic(steps: np.ndarray, n: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool-adjacent-violators over the steps seen (weighted by how often): a non-decreasing fit."""
    values: list[float] = []
    weights: list[float] = []
    starts: list[int] = []
    for i, (w, r) in enumerate(zip(n.tolist(), right.tolist(), strict=True)):
        values.append(r / w)
        weights.append(w)
        starts.append(i)
        while len(values) > 1 and values[-2] >= values[-1]:
            w2, v2 = weights.pop(), values.pop()
            starts.pop()
            total = weights[-1] + w2
            values[-1] = (values[-1] * weights[-1] + v2 * w2) / total
            weights[-1] = total
    fitted = np.empty(len(steps))
    bounds = [*starts, len(steps)]
    for value, a, b in zip(values, bounds, bounds[1:], strict=False):
        fitted[a:b] = value
    return steps / STEPS, fitted


def _platt(steps: np.ndarray, n: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A logistic regression of being right on the confidence's log-odds (Newton's method, a few steps)."""
    p = np.clip(steps / STEPS, 1e-4, 1 - 1e-4)
    z = np.log(p / (1 - p))
    a, b = 1.0, 0.0
    for _ in range(25):
        q = 1 / (1 + np.exp(-np.clip(a * z + b, -30, 30)))
        g = right - n * q  # gradient of the log-likelihood in (a * z + b)
        h = n * q * (1 - q) + 1e-9
        ga, gb = float(g @ z), float(g.sum())
        haa, hab, hbb = float(h @ (z * z)), float(h @ z), float(h.sum())
        det = haa * hbb - hab * hab
        if det <= 1e-12:
            break
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        a, b = a + da, b + db
        if abs(da) + abs(db) < 1e-9:
            break
    grid = np.arange(STEPS + 1)
    pg = np.clip(grid / STEPS, 1e-4, 1 - 1e-4)
    return grid / STEPS, 1 / (1 + np.exp(-np.clip(a * np.log(pg / (1 - pg)) + b, -30, 30)))


def _histogram(steps: np.ndarray, n: np.ndarray, right: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Equal-mass bins of confidence, each its share right (a step function)."""
    cumulative = np.cumsum(n)
    edges = np.searchsorted(cumulative, np.linspace(0, cumulative[-1], bins + 1)[1:-1], side="right")
    xs, ys = [], []
    for part in np.split(np.arange(len(steps)), np.unique(edges)):
        if len(part):
            value = right[part].sum() / n[part].sum()
            xs += [steps[part[0]], steps[part[-1]]]
            ys += [value, value]
    return np.asarray(xs, float) / STEPS, np.asarray(ys)


FITS = {"isotonic": _isotonic, "platt": _platt, "histogram": _histogram}


class Calibration:
    """Confidence -> chance of being right, fitted on the last ``window`` labelled predictions.

    Each labelled prediction is one 16-bit code in a ring (its confidence to :data:`STEPS` steps,
    and whether it was right), so a checkpoint holds 2 bytes a label. The fit is made each
    :data:`REFIT_EVERY` labels, as the label that completes them is added, and pickled with the ring: what
    it says depends on the labels alone, never on when it is read (a fit made when read, and kept, made a
    monitor that took a unit over differ from one that held it all along, by when each was scraped).
    """

    def __init__(self, window: int, method: str = "isotonic") -> None:
        if method not in FITS:
            raise ValueError(f"unknown calibration method {method!r} (one of {', '.join(METHODS)})")
        self.window = window
        self.method = method
        self.codes = array("H")
        self.head = 0  # where the next code goes once the ring is full
        self.count = 0  # labelled predictions ever added
        self._fit: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, confidence: float, right: bool) -> None:
        """One labelled prediction: its confidence (0-1, as :func:`~driftline.rules.labels.confidence_of` gives
        it) and whether it was right."""
        code = 2 * int(confidence * STEPS + 0.5) + (1 if right else 0)
        if len(self.codes) < self.window:
            self.codes.append(code)
        else:
            self.codes[self.head] = code
            self.head = (self.head + 1) % self.window
        self.count += 1
        if self.count % REFIT_EVERY == 0 and self.labels >= MIN_LABELS:
            self._refit()

    def learn(self, prediction: Any, proba: dict[Any, float] | None, right: bool) -> None:
        """Add a labelled prediction, if it came with probabilities."""
        confidence = confidence_of(prediction, proba)
        if confidence is not None:
            self.add(confidence, right)

    @property
    def labels(self) -> int:
        """Labelled predictions the calibration rests on (those in its window)."""
        return len(self.codes)

    def fit(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(confidences, their calibrated values), to interpolate between; None on too few labels."""
        if self.labels < MIN_LABELS:
            return None
        if self._fit is None:  # a checkpoint from before the fit was kept: fitted once now
            self._refit()
        return self._fit

    def _refit(self) -> None:
        codes = np.frombuffer(self.codes, dtype=np.uint16)
        n = np.bincount(codes >> 1, minlength=STEPS + 1)
        right = np.bincount(codes >> 1, weights=codes & 1, minlength=STEPS + 1)
        seen = np.flatnonzero(n)
        self._fit = FITS[self.method](seen, n[seen].astype(float), right[seen])

    def calibrated(self, confidences: np.ndarray) -> np.ndarray | None:
        """The chance each confidence's prediction is right; None on too few labels."""
        fit = self.fit()
        if fit is None:
            return None
        xs, ys = fit
        return np.interp(confidences, xs, ys)


class ConfidenceAccuracy:
    """Expected accuracy of the last ``window`` predictions that came with class probabilities.

    A ring of the confidences and their sum (summed afresh once per turn of the ring, so float
    error does not pile up), and the :class:`Calibration` the labelled predictions feed.
    Estimates of several units (outcomes partitions) pool by :meth:`pooled`: the raw estimate is
    the mean of all their confidences; each unit's calibration calibrates its own, and the
    calibrated estimate is their mean weighted by the predictions each is over, so it is the same
    whichever monitors hold the units (Prometheus pools monitors by the same weight).
    """

    def __init__(self, window: int, calibration_window: int | None = None) -> None:
        self.window = window
        self.confidences: deque[float] = deque(maxlen=window)
        self.total = 0.0
        self.count = 0
        self._removed = 0
        self.calibration = Calibration(calibration_window or CALIBRATION_WINDOWS * window)
        self.parts: list[ConfidenceAccuracy] | None = None  # the units' own, when pooled

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "calibration" not in state:  # a checkpoint from before the calibration
            self.calibration = Calibration(CALIBRATION_WINDOWS * self.window)
            self.parts = None

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

    def learn(self, prediction: Any, proba: dict[Any, float] | None, right: bool) -> None:
        """A labelled prediction, for the calibration."""
        self.calibration.learn(prediction, proba, right)

    def get(self) -> float | None:
        """The raw estimate (the confidences' mean); None before the first prediction with probabilities."""
        return self.total / len(self.confidences) if self.confidences else None

    def _own_calibrated(self) -> float | None:
        if not self.confidences:
            return None
        values = self.calibration.calibrated(np.fromiter(self.confidences, float, len(self.confidences)))
        return None if values is None else float(values.mean())

    def calibrated(self) -> float | None:
        """The calibrated estimate; None before a prediction, or with fewer than :data:`MIN_LABELS` labels
        (pooled: over the units calibrated)."""
        if self.parts is None:
            return self._own_calibrated()
        return _weighted([(p._own_calibrated(), len(p.confidences)) for p in self.parts])

    def best(self) -> tuple[float | None, str | None]:
        """The estimate to show and its method: ``calibrated``, ``confidence`` (raw: too few labels yet), or
        ``mixed`` (pooled units, some calibrated, some not); (None, None) before a prediction."""
        values, methods = [], set()
        for part in self.parts or [self]:
            value = part._own_calibrated()
            methods.add("confidence" if value is None else "calibrated")
            values.append((part.get() if value is None else value, len(part.confidences)))
        mean = _weighted(values)
        return (None, None) if mean is None else (mean, methods.pop() if len(methods) == 1 else "mixed")

    @property
    def calibration_labels(self) -> int:
        """Labelled predictions the calibration rests on (pooled: of every unit)."""
        return sum(p.calibration.labels for p in self.parts or [self])

    @classmethod
    def pooled(cls, parts: Iterable[ConfidenceAccuracy]) -> ConfidenceAccuracy:
        """One estimate over the windows of all ``parts`` (to read from), each part calibrating its own."""
        parts = [unit for p in parts for unit in (p.parts or [p])]
        if len(parts) == 1:
            return parts[0]
        pooled = cls(sum(p.window for p in parts), 1)
        for part in parts:
            pooled.confidences.extend(part.confidences)
            pooled.total += part.total
            pooled.count += part.count
        pooled.parts = parts
        return pooled


def _weighted(values: list[tuple[float | None, int]]) -> float | None:
    """The mean of the values, each weighted by its count; None without a value of weight."""
    weight = sum(n for v, n in values if v is not None)
    return sum(v * n for v, n in values if v is not None) / weight if weight else None
