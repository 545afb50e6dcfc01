"""A picture of a run: rolling accuracy per stream, the true drift points, and what was detected.

The pure part (:func:`rolling_accuracy`, :func:`detection_times`) works on contract messages; the
edges read them back from Kafka (:func:`read_messages`) and draw a PNG (:func:`plot_run`).
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from driftline.contracts import Contract, DriftEvent, Outcome, parse_any
from driftline.kafkaio.clients import read_topic

C = TypeVar("C", bound=Contract)


def read_messages(bootstrap: str, topic: str, partitions: int, model: type[C], timeout: float = 60.0) -> list[C]:
    """Every message of one contract on ``topic``, up to the end offsets it has now, in offset order."""
    messages = (parse_any(record.value()) for record in read_topic(bootstrap, topic, partitions, timeout))
    return [m for m in messages if isinstance(m, model)]


def rolling_accuracy(outcomes: list[Outcome], window: int = 1000) -> dict[str, list[tuple[datetime, float]]]:
    """Per stream, (event time, accuracy of the last ``window`` prequential outcomes) in event-time order.

    As the monitor counts it: outcomes without a prediction (a model that has learned nothing yet
    answers none) are not counted as wrong, they are not counted.
    """
    series: dict[str, list[tuple[datetime, float]]] = {}
    by_stream: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.label is not None and outcome.prediction is not None and not outcome.holdout:
            by_stream[outcome.stream].append(outcome)
    for stream, scored in by_stream.items():
        recent: deque[bool] = deque(maxlen=window)
        points = []
        for outcome in sorted(scored, key=lambda o: o.event_ts):
            recent.append(outcome.prediction == outcome.label)
            points.append((outcome.event_ts, sum(recent) / len(recent)))
        series[stream] = points
    return series


def key_clocks(outcomes: list[Outcome]) -> list[datetime]:
    """For each outcome, in the order given (the trainer's, per model key), the newest event time its key had seen.

    That is when, in the stream's own time, the trainer emitted it: a late label's outcome carries
    its old event's time, an event that arrived out of order an older one still.
    """
    newest: dict[str, datetime] = {}
    clocks = []
    for outcome in outcomes:
        clock = newest[outcome.model_key] = max(newest.get(outcome.model_key, outcome.event_ts), outcome.event_ts)
        clocks.append(clock)
    return clocks


def model_resets(outcomes: list[Outcome]) -> dict[str, list[tuple[datetime, str, int]]]:
    """Per stream, (key's time, model key, new version) where each model key's new version began.

    ``outcomes`` in the trainer's order (as read from the topic): the first outcome of a higher
    version marks the reset, at the stream time the key had reached then.
    """
    newest: dict[str, int] = {}
    resets: dict[str, list[tuple[datetime, str, int]]] = defaultdict(list)
    for outcome, clock in zip(outcomes, key_clocks(outcomes), strict=True):
        before = newest.get(outcome.model_key)
        if before is not None and outcome.model_version > before:
            resets[outcome.stream].append((clock, outcome.model_key, outcome.model_version))
        newest[outcome.model_key] = max(before or 0, outcome.model_version)
    return {stream: sorted(found) for stream, found in resets.items()}


def detection_times(outcomes: list[Outcome], drifts: list[DriftEvent]) -> dict[str, list[datetime]]:
    """Per stream, the stream time at which each concept drift was detected.

    A detection's ``position`` counts the labelled outcomes (holdout ones too) of one model life —
    model key, served model and version — that the detector had judged, in the trainer's order;
    the key's time at that outcome (:func:`key_clocks`: a late label is judged when it arrives,
    not when its event happened) places it on the picture's time axis.
    """
    scored: dict[tuple[str, str, int], list[datetime]] = defaultdict(list)
    for outcome, clock in zip(outcomes, key_clocks(outcomes), strict=True):
        if outcome.label is not None and outcome.prediction is not None:
            scored[(outcome.model_key, outcome.model_name, outcome.model_version)].append(clock)
    times: dict[str, list[datetime]] = defaultdict(list)
    for drift in drifts:
        if drift.drift_kind != "concept" or drift.level != "drift":
            continue
        seen = scored.get((drift.model_key, drift.model_name, drift.model_version), [])
        if seen:
            times[drift.stream].append(seen[min(drift.position, len(seen)) - 1])
    return {stream: sorted(found) for stream, found in times.items()}


def plot_run(
    outcomes: list[Outcome], drifts: list[DriftEvent], truth: list[dict[str, Any]], path: Path, window: int = 1000
) -> Path:
    """Draw one panel per stream into a PNG at ``path``: rolling accuracy over the monitor's ``window``,
    the true drifts (orange, named above the panel), the detections (red) and the resets (green)."""
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none needed
    import matplotlib.pyplot as plt

    accuracy = rolling_accuracy(outcomes, window)
    detected = detection_times(outcomes, drifts)
    resets = model_resets(outcomes)
    streams = sorted(accuracy)
    figure, axes = plt.subplots(len(streams), 1, figsize=(11, 3.4 * max(len(streams), 1)), squeeze=False)
    for axis, stream in zip(axes[:, 0], streams, strict=True):
        times, values = zip(*accuracy[stream], strict=True)
        axis.plot(times, values, color="tab:blue", linewidth=1, label=f"rolling accuracy ({window} labels)")
        for n, point in enumerate(p for p in truth if p["stream"] == stream):
            start, end = datetime.fromisoformat(point["start_ts"]), datetime.fromisoformat(point["end_ts"])
            label = "true drift" if n == 0 else None
            if (end - start).total_seconds() > 1:
                axis.axvspan(start, end, color="tab:orange", alpha=0.2, label=label)
            else:
                axis.axvline(start, color="tab:orange", linestyle="--", label=label)
            # Above the panel, slanted: close drifts' names would overlap side by side.
            axis.annotate(point["kind"], (start, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 3),
                          textcoords="offset points", fontsize=7, color="tab:orange", rotation=30)  # fmt: skip
        for n, when in enumerate(detected.get(stream, [])):
            axis.axvline(when, color="tab:red", linewidth=1.5, label="concept drift detected" if n == 0 else None)
        for n, (when, _, _) in enumerate(resets.get(stream, [])):
            # A tick along the bottom: a reset follows its detection so closely that a full line hides under it.
            axis.axvline(when, ymax=0.12, color="tab:green", linewidth=3, label="model reset" if n == 0 else None)
        axis.set_title(stream, loc="left", fontsize=10)
        axis.set_ylim(0, 1.02)
        axis.set_ylabel("accuracy")
        axis.legend(loc="lower right", fontsize=7, framealpha=0.9)
    axes[-1, 0].set_xlabel("event time")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
