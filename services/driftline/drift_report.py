"""How a run's drift handling scored against the simulator's ground truth.

For every true drift of a stream: whether a concept drift was detected after it, how late (in the
stream's events and in event time), whether a model of the stream was reset after it and how
late, and the accuracy of the reset model key before and after. Detections before a stream's
first true drift are false alarms; further detections after one are extra alarms of that drift.
Pure: it works on the run's outcomes and drift events, read back from Kafka by the caller.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftline.contracts import DriftEvent, Outcome
from driftline.drift_plot import detection_times, model_resets

#: Labelled outcomes of the reset model key whose accuracy is compared before and after a reset.
ACCURACY_WINDOW = 500


@dataclass(frozen=True)
class DriftScore:
    """What happened after one true drift."""

    stream: str
    kind: str
    #: The concepts before and after (``A->B``): a recurring drift returns to one seen before.
    change: str
    start: datetime
    detected: bool
    alarms: int
    detection_delay_events: int | None
    detection_delay_s: float | None
    reset_model_key: str | None
    reset_delay_events: int | None
    reset_delay_s: float | None
    accuracy_before: float | None
    accuracy_after: float | None


@dataclass(frozen=True)
class DriftReport:
    drifts: list[DriftScore]
    false_alarms: dict[str, int]

    def rows(self) -> list[list[str]]:
        """The report as text cells: stream, drift, detected, delay, reset, accuracy before -> after."""

        def delay(events: int | None, seconds: float | None) -> str:
            return "-" if events is None or seconds is None else f"{events:,} events / {seconds:,.0f} s"

        def accuracy(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f}"

        return [
            [
                d.stream,
                f"{' '.join(filter(None, (d.kind, d.change)))} at {d.start:%H:%M:%S}",
                f"yes ({d.alarms} alarm{'s' if d.alarms != 1 else ''})" if d.detected else "no",
                delay(d.detection_delay_events, d.detection_delay_s),
                delay(d.reset_delay_events, d.reset_delay_s) if d.reset_model_key else "no reset",
                f"{accuracy(d.accuracy_before)} -> {accuracy(d.accuracy_after)}" if d.reset_model_key else "-",
            ]
            for d in self.drifts
        ]


def _accuracy(outcomes: list[Outcome]) -> float | None:
    return sum(o.prediction == o.label for o in outcomes) / len(outcomes) if outcomes else None


def score_run(outcomes: list[Outcome], drifts: list[DriftEvent], truth: list[dict[str, Any]]) -> DriftReport:
    """Score each true drift of ``truth`` (the simulator's ``drift_points``) against what the run did."""
    detected = detection_times(outcomes, drifts)
    resets = model_resets(outcomes)
    times: dict[str, list[datetime]] = defaultdict(list)  # the stream's events, in event-time order
    labelled: dict[str, list[Outcome]] = defaultdict(list)  # per model key, in event-time order
    for outcome in sorted(outcomes, key=lambda o: o.event_ts):
        if outcome.label is None or outcome.label_delay_s is None:  # an event's first outcome
            times[outcome.stream].append(outcome.event_ts)
        if outcome.label is not None and outcome.prediction is not None and not outcome.holdout:
            labelled[outcome.model_key].append(outcome)
    scores: list[DriftScore] = []
    false_alarms: dict[str, int] = {}
    for stream in sorted({p["stream"] for p in truth} | set(detected)):
        points = sorted((p for p in truth if p["stream"] == stream), key=lambda p: p["start_ts"])
        starts = [datetime.fromisoformat(p["start_ts"]) for p in points]
        alarms = sorted(detected.get(stream, []))
        false_alarms[stream] = sum(1 for t in alarms if not starts or t < starts[0])
        events = times.get(stream, [])

        def events_between(a: datetime, b: datetime, events: list[datetime] = events) -> int:
            return bisect.bisect_left(events, b) - bisect.bisect_left(events, a)

        for i, (point, start) in enumerate(zip(points, starts, strict=True)):
            end = starts[i + 1] if i + 1 < len(starts) else datetime.max.replace(tzinfo=start.tzinfo)
            mine = [t for t in alarms if start <= t < end]
            reset = next(((t, k, v) for t, k, v in resets.get(stream, []) if start <= t < end), None)
            before = after = None
            if reset is not None:
                history = labelled.get(reset[1], [])
                cut = bisect.bisect_left([o.event_ts for o in history], reset[0])
                before = _accuracy(history[max(0, cut - ACCURACY_WINDOW) : cut])
                after = _accuracy([o for o in history[cut:] if o.model_version >= reset[2]][:ACCURACY_WINDOW])
            scores.append(
                DriftScore(
                    stream=stream,
                    kind=point["kind"],
                    change=f"{point['from_concept']}->{point['to_concept']}" if "to_concept" in point else "",
                    start=start,
                    detected=bool(mine),
                    alarms=len(mine),
                    detection_delay_events=events_between(start, mine[0]) if mine else None,
                    detection_delay_s=(mine[0] - start).total_seconds() if mine else None,
                    reset_model_key=reset[1] if reset else None,
                    reset_delay_events=events_between(start, reset[0]) if reset else None,
                    reset_delay_s=(reset[0] - start).total_seconds() if reset else None,
                    accuracy_before=before,
                    accuracy_after=after,
                )
            )
    return DriftReport(scores, false_alarms)
