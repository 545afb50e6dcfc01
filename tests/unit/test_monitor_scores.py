"""The monitor's scores from counts equal River's metrics, cumulative and ``utils.Rolling``, to 1e-9."""

from __future__ import annotations

import math
import random
from collections import deque
from fractions import Fraction
from typing import Any

import pytest
from river import utils

from driftline.config import settings_from_dict
from driftline.rules.labels import Labels
from driftline.rules.scores import METRICS, PROBA_METRICS, Scores

TOLERANCE = 1e-9


def binary_stream(rng: random.Random, n: int) -> list[tuple[Any, Any, dict[str, float] | None]]:
    """Labels and predictions as outcomes carry them (bools, 0/1, text), probabilities often, sometimes none."""
    out = []
    for _ in range(n):
        y = rng.random() < 0.4
        p = y if rng.random() < 0.75 else not y
        # Probabilities on the ROC thresholds themselves, at 0 and 1, and beyond (a rounding overshoot).
        q = rng.choice([rng.random(), rng.randint(0, 9) / 9, 0.0, 1.0, 1.0000001, rng.betavariate(2, 5)])
        proba = None if rng.random() < 0.1 else rng.choice([{"True": q, "False": 1 - q}, {"false": 1 - q}])
        form = rng.choice([bool, int, lambda v: "true" if v else "false"])
        out.append((form(y), form(p), proba))
    return out


def multiclass_stream(rng: random.Random, n: int) -> list[tuple[Any, Any, dict[str, float] | None]]:
    out = []
    for i in range(n):
        # A class that comes and goes, so the window loses it entirely now and then.
        classes = "abcde" if (i // 700) % 2 else "abc"
        y = rng.choice(classes)
        p = y if rng.random() < 0.6 else rng.choice(classes)
        weights = {c: rng.random() for c in rng.sample(classes, rng.randint(1, len(classes)))}
        total = sum(weights.values())
        proba = None if rng.random() < 0.1 else {c: w / total for c, w in weights.items()}
        out.append((y, p, proba))
    return out


def regression_stream(rng: random.Random, n: int) -> list[tuple[Any, Any, None]]:
    out = []
    for i in range(n):
        level = 1000.0 if i > n // 2 else 10.0  # a shift: the window's variance must follow it
        y = rng.gauss(level, 3.0)
        # An integer label now and then (never two in a row: River's rolling variance of equal labels is not 0).
        out.append((int(y) if i % 50 == 0 else y, y + rng.gauss(0, 1.5), None))
    return out


STREAMS = {"binary": binary_stream, "multiclass": multiclass_stream, "regression": regression_stream}


class RiverScores:
    """The reference: River's own metrics, updated (and, rolling, reverted) per outcome as the monitor once did."""

    def __init__(self, task: str, window: int, classes: Labels | None = None) -> None:
        self.scores = Scores(task, window, classes)  # only for its normalisation
        self.metrics = {
            name: {"cumulative": cls(), "rolling": utils.Rolling(cls, window_size=window)}
            for name, cls in METRICS[task].items()
        }
        self.updated: set[str] = set()

    def update(self, label: Any, prediction: Any, proba: dict[str, float] | None) -> None:
        from driftline.rules.scores import normalised, positive_proba

        s = self.scores
        y, p = normalised(s.task, s.classes, label, prediction)
        pairs = {name: (y, p) for name in self.metrics if name not in PROBA_METRICS}
        if s.task == "binary" and proba:
            p_pos = s.classes.positive_proba(proba) if s.classes else positive_proba(proba)
            if p_pos is not None:
                y_proba = {True: min(max(p_pos, 0.0), 1.0), False: min(max(1.0 - p_pos, 0.0), 1.0)}
                pairs.update({name: (y, y_proba) for name in PROBA_METRICS})
        elif s.task == "multiclass" and proba:
            pairs["log_loss"] = (y, dict(proba))
        for name, (y_true, y_pred) in pairs.items():
            for metric in self.metrics[name].values():
                metric.update(y_true, y_pred)
        self.updated.update(pairs)

    def values(self) -> dict[tuple[str, str], float]:
        return {
            (name, window): float(metric.get())
            for name, by_window in self.metrics.items()
            if name in self.updated
            for window, metric in by_window.items()
        }


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


@pytest.mark.parametrize("task", list(STREAMS))
@pytest.mark.parametrize("window", [2, 10, 250])  # River's rolling R² cannot revert a window of 1
def test_every_figure_equals_rivers_rolling_and_cumulative_metrics(task: str, window: int) -> None:
    rng = random.Random(f"{task}-{window}")
    ours, river = Scores(task, window), RiverScores(task, window)  # type: ignore[arg-type]
    checked = 0
    window_of: deque[tuple[float, float]] = deque(maxlen=window)
    for i, (label, prediction, proba) in enumerate(STREAMS[task](rng, 3000)):
        if task == "regression":
            window_of.append((float(label), float(prediction)))
        ours.update(label, prediction, proba)
        river.update(label, prediction, proba)
        if i % 37 == 0 or i > 2990:
            expected, got = river.values(), ours.values()
            assert set(got) == set(expected), i
            if task == "regression":
                # River's rolling R² reverts its label variance with negative weights, which loses
                # precision once the labels' level moves (here 10 to 1000): the window's own exact R²
                # is the reference there, and River's stays within 1e-6 of it.
                exact = exact_r2(window_of)
                assert abs(got[("r2", "rolling")] - exact) <= TOLERANCE * max(1.0, abs(exact)), i
                assert close_to(expected.pop(("r2", "rolling")), exact, 1e-6), i
                del got[("r2", "rolling")]
            bad = {k: (got[k], v) for k, v in expected.items() if not close(got[k], v)}
            assert not bad, (i, bad)
            checked += len(expected)
    assert checked > 100 * len(METRICS[task])


def exact_r2(entries: list[tuple[float, float]]) -> float:
    """R² of (label, prediction) pairs in exact rational arithmetic."""
    if len(entries) <= 1:
        return 0.0
    ys = [Fraction(y) for y, _ in entries]
    mean = sum(ys) / len(ys)
    total = sum((y - mean) ** 2 for y in ys)
    residual = sum((Fraction(y) - Fraction(p)) ** 2 for y, p in entries)
    return float(1 - residual / total) if total else 0.0


def close_to(a: float, b: float, tolerance: float) -> bool:
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)


def test_a_named_binary_stream_scores_its_classes_as_river_does() -> None:
    settings = settings_from_dict(
        {"streams": {"s": {"task": "binary", "classes": ["DOWN", "UP"], "positive": "UP", "features": {"x": {}}}}}
    )
    labels = Labels.of("s", settings.streams["s"])
    rng = random.Random(3)
    ours, river = Scores("binary", 50, labels), RiverScores("binary", 50, labels)
    for _ in range(500):
        y, p = rng.choice(["DOWN", "UP"]), rng.choice(["DOWN", "UP"])
        q = rng.random()
        ours.update(y, p, {"UP": q, "DOWN": 1 - q})
        river.update(y, p, {"UP": q, "DOWN": 1 - q})
    expected = river.values()
    assert all(close(ours.values()[k], v) for k, v in expected.items()) and len(expected) == 12


@pytest.mark.parametrize("task", list(STREAMS))
def test_pooled_scores_equal_one_scores_fed_every_outcome(task: str) -> None:
    """Units (partitions) pool exactly: their cumulative counts add up, and so do their windows."""
    rng = random.Random(f"pool-{task}")
    stream = STREAMS[task](rng, 2000)
    parts = [Scores(task, 5000) for _ in range(3)]  # type: ignore[arg-type]
    whole = Scores(task, 5000)  # type: ignore[arg-type]
    for i, outcome in enumerate(stream):
        parts[i % 3].update(*outcome)
        whole.update(*outcome)
    pooled = Scores.pooled(parts).values()
    assert pooled.keys() == whole.values().keys()
    assert all(close(pooled[k], v) for k, v in whole.values().items()), (pooled, whole.values())
    assert Scores.pooled(parts).scored() == whole.scored()


def test_the_window_counts_beside_the_scores() -> None:
    scores = Scores("binary", 10)
    for i in range(25):
        scores.update(True, i % 2 == 0, {"True": 0.7} if i % 5 else None)
    assert scores.scored() == {"cumulative": (25, 20), "rolling": (10, 10)}


def test_long_runs_do_not_let_the_window_sums_drift() -> None:
    """Float sums subtract what leaves the ring; they are summed afresh every turn, so no error piles up."""
    rng = random.Random(9)
    scores = Scores("regression", 100)
    entries = []
    for _ in range(50_000):
        y, p = rng.gauss(1e6, 1.0), rng.gauss(1e6, 1.0)
        scores.update(y, p, None)
        entries.append(abs(y - p))
    mae = math.fsum(entries[-100:]) / 100
    assert abs(scores.values()[("mae", "rolling")] - mae) < 1e-9 * mae
