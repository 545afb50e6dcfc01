"""A picture of a run: rolling accuracy per stream, the true drift points, and what was detected.

The pure part (:func:`rolling_accuracy`, :func:`detection_times`) works on contract messages; the
edges read them back from Kafka (:func:`read_messages`) and draw a PNG (:func:`plot_run`).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from driftline.contracts import Contract, DriftEvent, Outcome, parse_any
from driftline.kafkaio.clients import read_topic

if TYPE_CHECKING:
    from driftline.drift_report import DriftReport

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


def concept_detections(outcomes: list[Outcome], drifts: list[DriftEvent]) -> dict[str, list[tuple[datetime, str]]]:
    """Per stream, (stream time, model key) of each concept drift detected, in time order.

    A detection's ``position`` counts the labelled outcomes (holdout ones too) of one model life —
    model key, served model and version — that the detector had judged, in the trainer's order;
    the key's time at that outcome (:func:`key_clocks`: a late label is judged when it arrives,
    not when its event happened) places it on the picture's time axis.
    """
    scored: dict[tuple[str, str, int], list[datetime]] = defaultdict(list)
    for outcome, clock in zip(outcomes, key_clocks(outcomes), strict=True):
        if outcome.label is not None and outcome.prediction is not None:
            scored[(outcome.model_key, outcome.model_name, outcome.model_version)].append(clock)
    found: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for drift in drifts:
        if drift.drift_kind != "concept" or drift.level != "drift":
            continue
        seen = scored.get((drift.model_key, drift.model_name, drift.model_version), [])
        if seen:
            found[drift.stream].append((seen[min(drift.position, len(seen)) - 1], drift.model_key))
    return {stream: sorted(times) for stream, times in found.items()}


def detection_times(outcomes: list[Outcome], drifts: list[DriftEvent]) -> dict[str, list[datetime]]:
    """Per stream, the stream time at which each concept drift was detected (:func:`concept_detections`)."""
    return {stream: [t for t, _ in found] for stream, found in concept_detections(outcomes, drifts).items()}


@dataclass(frozen=True)
class DataDetection:
    """A data drift the trainer detected on one feature of a model key."""

    ts: datetime  #: the key's time at the outcome that carried it (:func:`key_clocks`)
    model_key: str
    device_id: str  #: the device whose event completed it
    feature: str


def data_detections(outcomes: list[Outcome]) -> dict[str, list[DataDetection]]:
    """Per stream, every data drift detected (not warnings), in time order, from the outcomes that carry them."""
    found: dict[str, list[DataDetection]] = defaultdict(list)
    for outcome, clock in zip(outcomes, key_clocks(outcomes), strict=True):
        for drift in outcome.drift or ():
            if drift.drift_kind == "data" and drift.level == "drift" and drift.feature is not None:
                found[outcome.stream].append(DataDetection(clock, outcome.model_key, outcome.device_id, drift.feature))
    return {stream: sorted(times, key=lambda d: d.ts) for stream, times in found.items()}


#: A true drift's name above the panel, coloured by the report's verdict (drift_report.VERDICTS).
VERDICT_COLOURS = {"yes": "tab:green", "partly": "tab:olive", "no": "tab:red", "no change to detect": "tab:gray",
                   "too few labels to tell": "tab:gray"}  # fmt: skip
#: A data drift's tick along the top, by its class in the report (drift_report.DATA_CLASSES).
DATA_CLASS_COLOURS = {"at a true drift": "tab:purple", "at a sensor fault": "tab:brown", "false": "black"}


def plot_run(
    outcomes: list[Outcome],
    drifts: list[DriftEvent],
    truth: list[dict[str, Any]],
    path: Path,
    window: int = 1000,
    report: DriftReport | None = None,
) -> Path:
    """Draw one panel per stream into a PNG at ``path``: rolling accuracy over the monitor's ``window``,
    the true drifts (orange, named above the panel), the detections (red) and the resets (green).

    With the run's ``report`` (:func:`driftline.drift_report.score_run`) each true drift's name carries its
    verdict in the verdict's colour, a false concept alarm is dotted, and the data drifts are ticks along the
    top, coloured by class."""
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none needed
    import matplotlib.pyplot as plt

    accuracy = rolling_accuracy(outcomes, window)
    detected = detection_times(outcomes, drifts)
    resets = model_resets(outcomes)
    verdicts = {(d.stream, d.start): d.verdict for d in report.drifts} if report else {}
    false_alarms = report.false_alarm_times if report else {}
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
            verdict = verdicts.get((stream, start))
            name = point["kind"] if verdict is None else f"{point['kind']}: {verdict}"
            # Above the panel, slanted: close drifts' names would overlap side by side.
            axis.annotate(name, (start, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 3),
                          textcoords="offset points", fontsize=7, rotation=30,
                          color=VERDICT_COLOURS.get(verdict or "", "tab:orange"))  # fmt: skip
        false = false_alarms.get(stream, [])
        shown: set[str] = set()
        for when in detected.get(stream, []):
            label = "false concept alarm" if when in false else "concept drift detected"
            axis.axvline(when, color="tab:red", linewidth=1.5, linestyle=":" if when in false else "-",
                         label=None if label in shown else label)  # fmt: skip
            shown.add(label)
        for n, (when, _, _) in enumerate(resets.get(stream, [])):
            # A tick along the bottom: a reset follows its detection so closely that a full line hides under it.
            axis.axvline(when, ymax=0.12, color="tab:green", linewidth=3, label="model reset" if n == 0 else None)
        for when, _, kind in report.data_drifts.get(stream, []) if report else []:
            label = f"data drift {kind}"
            axis.axvline(when, ymin=0.9, color=DATA_CLASS_COLOURS[kind], linewidth=1,
                         label=None if label in shown else label)  # fmt: skip
            shown.add(label)
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
