"""A backtest's results as a JSON-ready summary, a side-by-side table and a rolling accuracy plot."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from driftline.backtest.core import BacktestResult, SpecResult
from driftline.backtest.rows import Replay
from driftline.contracts import DriftEvent, Outcome
from driftline.drift_plot import plot_run
from driftline.rules.scores import METRICS

SCORED_PARTS = ("prequential", "validation", "test")


def _metrics(result: SpecResult, part: str) -> dict[str, float]:
    return {name: value for (name, window), value in result.scores(part).values().items() if window == "cumulative"}


def summary(result: BacktestResult, replay: Replay) -> dict[str, Any]:
    """What the JSON report holds (without where it came from, which the caller adds)."""
    return {
        "stream": result.stream,
        "task": result.task,
        "rows": {"events": replay.events, "labels": replay.labels, "duplicates": replay.duplicates},
        "part_starts": {part: ts.isoformat() if ts else None for part, ts in replay.starts.items()},
        "counts": dict(sorted(result.counts.items())),
        "models": {
            spec.spec: {
                **{part: _metrics(spec, part) for part in SCORED_PARTS},
                "scored": {part: spec.scores(part).count for part in SCORED_PARTS},
                "unscored": dict(spec.unscored),
                "predict_us_per_event": spec.timing.predict_us,
                "learn_us_per_event": spec.timing.learn_us,
                "learned": spec.timing.learned,
            }
            for spec in result.specs
        },
    }


def _figure(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(result: BacktestResult) -> Table:
    """One column per model spec, one row per (part, metric), then timings."""
    grid = Table(title=f"backtest of stream {result.stream} ({result.task})")
    grid.add_column("")
    for spec in result.specs:
        grid.add_column(spec.spec, justify="right", overflow="fold")
    for part in SCORED_PARTS:
        values = [_metrics(spec, part) for spec in result.specs]
        for name in METRICS[result.task]:
            grid.add_row(f"{part} {name}", *(_figure(v.get(name)) for v in values))
        grid.add_row(f"{part} scored", *(f"{spec.scores(part).count:,}" for spec in result.specs), end_section=True)
    grid.add_row("predict µs/event", *(_figure(spec.timing.predict_us, 1) for spec in result.specs))
    grid.add_row("learn µs/event", *(_figure(spec.timing.learn_us, 1) for spec in result.specs))
    return grid


def plot(result: BacktestResult, detections: list[datetime], path: Path, window: int = 200) -> Path | None:
    """Rolling prequential accuracy, one panel per spec, with the monitor's detections; None for regression.

    Drawn by :func:`driftline.drift_plot.plot_run`, which places a detection at the ``position``-th
    scored outcome of its model: each detection, an event time, becomes the position of the last
    replayed outcome at or before it, so it lands at that time on every panel.
    """
    if result.task == "regression":
        return None
    outcomes: list[Outcome] = []
    drifts: list[DriftEvent] = []
    for spec in result.specs:
        panel = f"{result.stream}: {spec.spec}"
        curve = sorted(spec.curve, key=lambda s: s.event_ts)
        # Constructed, not validated: a panel's title is not a stream name, and only these fields are read.
        outcomes += [
            Outcome.model_construct(stream=panel, model_key=panel, model_name=spec.spec, model_version=1,
                                    event_ts=s.event_ts, label=s.label, prediction=s.prediction, holdout=False)
            for s in curve
        ]  # fmt: skip
        times = [s.event_ts for s in curve]
        drifts += [
            DriftEvent.model_construct(drift_kind="concept", level="drift", stream=panel, model_key=panel,
                                       model_name=spec.spec, model_version=1, position=max(bisect_right(times, t), 1))
            for t in detections
        ]  # fmt: skip
    if not outcomes:
        return None
    return plot_run(outcomes, drifts, [], path, window)
