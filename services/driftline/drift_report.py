"""How a run's drift handling scored against the simulator's ground truth.

Each true drift of a stream has a horizon: from its start to :data:`DETECTION_HORIZON` events of
the stream after its end, cut short where the stream's next drift starts. For every true drift:

- how each model key of the stream fared: the accuracy of the model serving when the drift began,
  over up to :data:`CHANGE_LABELS` labels from its start, against the key's :data:`CHANGE_LABELS`
  labels before it (neither window reaching past a neighbouring drift). A fall of
  :data:`HURT_POINTS` points or more is a drift that hurt the key;
- whether a concept drift was detected in its horizon, on which keys, and how late; the verdict
  says whether every key it hurt was detected, and a drift that hurt no key and raised no alarm
  reads "no change to detect" rather than "no";
- whether a model of the stream was reset in its horizon, how late, and the reset key's accuracy
  over :data:`ACCURACY_WINDOW` labels before and after;
- the data drifts detected in its horizon.

A concept drift detected in no true drift's horizon is a false alarm. A data drift detected in no
horizon is scored against the injected sensor faults (:data:`FAULT_KINDS`): at a fault when one hit
the same feature of a device the detecting key learns from, at most :data:`FAULT_HORIZON` events
of the stream earlier; otherwise false.
Pure: it works on the run's outcomes and drift events, read back from Kafka by the caller.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from driftline.contracts import DriftEvent, Outcome
from driftline.drift_plot import DataDetection, concept_detections, data_detections, model_resets
from driftline.rules.sensorfaults import FAULT_KINDS, fault_of

#: Labelled outcomes of the reset model key whose accuracy is compared before and after a reset.
ACCURACY_WINDOW = 500
#: Labels of a model key on each side of a true drift whose accuracy tells whether it changed.
CHANGE_LABELS = 1000
#: Fewer labels than this on either side and a key's change is not measured.
MIN_CHANGE_LABELS = 30
#: Accuracy points (of 100) a key must lose at a true drift for the drift to have hurt it.
HURT_POINTS = 2.0
#: Events of the stream after a true drift's end in which a detection is still the drift's; the next drift's start
#: cuts it short. (`driftline bench drift` scores a change over 5,000 events from its start.)
DETECTION_HORIZON = 3000
#: Events of the stream after a fault's end in which a data drift of its feature is still the fault's.
FAULT_HORIZON = 200
#: A data drift's class: in a true drift's horizon, else at an injected fault, else false.
AT_DRIFT, AT_FAULT, FALSE = "at a true drift", "at a sensor fault", "false"
DATA_CLASSES = (AT_DRIFT, AT_FAULT, FALSE)
#: A true drift's verdict: ``yes`` and ``partly`` are followed by their alarm count, ``partly`` by the keys too.
#: Undetected, it reads ``no`` when it hurt a key, ``too few labels to tell`` when a key's change was not measured,
#: else ``no change to detect``.
YES, PARTLY, NO, NO_CHANGE, UNTOLD = "yes", "partly", "no", "no change to detect", "too few labels to tell"
VERDICTS = (YES, PARTLY, NO, NO_CHANGE, UNTOLD)


@dataclass(frozen=True)
class KeyChange:
    """One model key's accuracy around a true drift: the model serving when it began, after against before."""

    model_key: str
    before: float | None
    after: float | None
    labels_before: int
    labels_after: int
    #: Whether a concept drift of this key was detected in the drift's horizon.
    detected: bool

    @property
    def points(self) -> float | None:
        """The change in accuracy points (of 100); None with fewer than :data:`MIN_CHANGE_LABELS` on a side."""
        if self.before is None or self.after is None:
            return None
        if min(self.labels_before, self.labels_after) < MIN_CHANGE_LABELS:
            return None
        return 100 * (self.after - self.before)

    @property
    def hurt(self) -> bool:
        return self.points is not None and self.points <= -HURT_POINTS


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
    #: Each model key of the stream around the drift, in key order.
    keys: tuple[KeyChange, ...] = ()
    #: Data drifts detected in the drift's horizon.
    data_drifts: int = 0

    @property
    def name(self) -> str:
        """Stream, kind, change and start: ``rooms recurring A->B at 04:26:40``."""
        return f"{' '.join(filter(None, (self.stream, self.kind, self.change)))} at {self.start:%H:%M:%S}"

    @property
    def hurt(self) -> list[KeyChange]:
        """The keys whose accuracy the drift lowered by :data:`HURT_POINTS` or more."""
        return [k for k in self.keys if k.hurt]

    @property
    def missed(self) -> bool:
        """Whether a key the drift hurt saw no detection of it."""
        return any(not k.detected for k in self.hurt)

    @property
    def verdict(self) -> str:
        """One of :data:`VERDICTS`."""
        if self.detected:
            return PARTLY if self.missed else YES
        if self.hurt:
            return NO
        return UNTOLD if any(k.points is None for k in self.keys) else NO_CHANGE

    @property
    def worst(self) -> KeyChange | None:
        """The key whose accuracy changed the least well (fell the most), of those measured."""
        measured = [k for k in self.keys if k.points is not None]
        return min(measured, key=lambda k: (k.points, k.model_key)) if measured else None


@dataclass(frozen=True)
class DriftReport:
    drifts: list[DriftScore]
    #: Per stream, when each concept drift detected in no true drift's horizon was detected.
    false_alarm_times: dict[str, list[datetime]]
    #: Per stream, each data drift detected: (when, feature, one of :data:`DATA_CLASSES`).
    data_drifts: dict[str, list[tuple[datetime, str, str]]]
    #: Per stream and fault kind (:data:`FAULT_KINDS`): injected faults recognised, injected faults, and
    #: recognitions of no injected fault (a sensor's reading out of range, missing or repeated all the same).
    faults: dict[str, dict[str, tuple[int, int, int]]] = field(default_factory=dict)

    COLUMNS = (
        "stream", "true drift", "accuracy at the drift", "concept drift detected", "delay: detection / reset",
        "accuracy around the reset", "data drifts",
    )  # fmt: skip

    @property
    def false_alarms(self) -> dict[str, int]:
        """Per stream, how many concept drifts were detected in no true drift's horizon."""
        return {stream: len(times) for stream, times in self.false_alarm_times.items()}

    def data_drift_classes(self) -> dict[str, Counter[str]]:
        """Per stream, the data drifts detected by class (:data:`DATA_CLASSES`)."""
        return {stream: Counter(c for _, _, c in found) for stream, found in self.data_drifts.items()}

    @property
    def target_met(self) -> bool:
        """Every true drift detected on each key it hurt, and no false concept alarm."""
        return not any(d.missed for d in self.drifts) and not any(self.false_alarms.values())

    def rows(self) -> list[list[str]]:
        """The report as text cells, one row per true drift, in :attr:`COLUMNS`' order."""

        def accuracy(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f}"

        def change(d: DriftScore) -> str:
            worst = d.worst
            if worst is None:
                return "-"
            assert worst.points is not None
            text = f"{accuracy(worst.before)} -> {accuracy(worst.after)} ({worst.points:+.1f})"
            return f"hurt {len(d.hurt)}/{len(d.keys)} keys, worst {text}" if len(d.keys) > 1 else text

        def verdict(d: DriftScore) -> str:
            alarms = f"{d.alarms} alarm{'s' if d.alarms != 1 else ''}"
            if d.verdict == PARTLY:
                hurt = d.hurt
                return f"{PARTLY} ({alarms}; on {sum(k.detected for k in hurt)} of the {len(hurt)} keys it hurt)"
            return f"{d.verdict} ({alarms})" if d.verdict == YES else d.verdict

        def delays(d: DriftScore) -> str:
            if d.detection_delay_events is None:
                return "-"
            reset = f"{d.reset_delay_events:,}" if d.reset_delay_events is not None else "no reset"
            return f"{d.detection_delay_events:,} / {reset} events"

        return [
            [
                d.stream,
                d.name.removeprefix(f"{d.stream} "),
                change(d),
                verdict(d),
                delays(d),
                f"{accuracy(d.accuracy_before)} -> {accuracy(d.accuracy_after)}" if d.reset_model_key else "-",
                str(d.data_drifts),
            ]
            for d in self.drifts
        ]

    def table(self) -> Any:
        """The rows as a rich Table, as ``driftline stack`` prints it."""
        from rich.table import Table

        table = Table(*self.COLUMNS, title="drift report: each true drift against what the run did")
        for row in self.rows():
            table.add_row(*row)
        return table

    def summary(self) -> list[str]:
        """The lines under the table: what its accuracies are, false alarms, data drifts by class, and the drifts
        that hurt a key against those detected on every key they hurt (the last line)."""
        streams = sorted(
            {d.stream for d in self.drifts} | set(self.false_alarm_times) | set(self.data_drifts) | set(self.faults)
        )
        classes = self.data_drift_classes()
        hurting = [d for d in self.drifts if d.hurt]
        missed = [d for d in hurting if d.missed]
        false_alarms = self.false_alarms
        lines = [
            f"accuracy at the drift: the serving model's over {CHANGE_LABELS:,} labels before -> after, with the "
            f"change in points; a fall of {HURT_POINTS:g} or more hurt the key (of several keys, the worst is shown). "
            f"Around the reset: the reset key's over {ACCURACY_WINDOW:,} labels.",
            f"false concept alarms (in no true drift's horizon: its start to {DETECTION_HORIZON:,} events after its "
            "end): " + ", ".join(f"{s} {false_alarms.get(s, 0)}" for s in streams),
            "data drifts detected: "
            + "; ".join(
                f"{s} {sum(classes.get(s, Counter()).values())} ("
                + ", ".join(f"{c} {classes.get(s, Counter())[c]}" for c in DATA_CLASSES)
                + ")"
                for s in streams
            ),
            "sensor faults recognised as faults, of those injected (from the fault's start to "
            f"{FAULT_HORIZON} events after its end), and beside them: "
            + "; ".join(
                f"{s} "
                + ", ".join(
                    f"{kind} {found}/{injected} (+{other})"
                    for kind, (found, injected, other) in self.faults.get(s, {}).items()
                )
                for s in streams
            ),
            f"true drifts that lowered a key's accuracy by {HURT_POINTS:g} points or more: {len(hurting)}, "
            f"detected on every key they lowered: {len(hurting) - len(missed)}"
            + ("; missed: " + ", ".join(d.name for d in missed) if missed else ""),
        ]
        return lines


def _accuracy(outcomes: list[Outcome]) -> float | None:
    return sum(o.prediction == o.label for o in outcomes) / len(outcomes) if outcomes else None


def _times(items: list[dict[str, Any]], what: str, required: tuple[str, ...]) -> list[tuple[datetime, datetime]]:
    """Each item's (start, end), after checking it has every ``required`` key and times with a zone."""
    times = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{what} {n}: expected an object, got {type(item).__name__}")
        if missing := [key for key in required if key not in item]:
            raise ValueError(f"{what} {n}: missing {', '.join(repr(k) for k in missing)}")
        try:
            start, end = datetime.fromisoformat(item["start_ts"]), datetime.fromisoformat(item["end_ts"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{what} {n}: start_ts and end_ts must be ISO 8601 times: {e}") from None
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError(f"{what} {n}: start_ts and end_ts need a time zone")
        if end < start:
            raise ValueError(f"{what} {n}: end_ts is before start_ts")
        times.append((start, end))
    return times


@dataclass(frozen=True)
class _Fault:
    stream: str
    device_id: str
    feature: str
    start: datetime
    end: datetime
    kind: str = ""


def score_run(
    outcomes: list[Outcome],
    drifts: list[DriftEvent],
    truth: list[dict[str, Any]],
    faults: list[dict[str, Any]] | None = None,
) -> DriftReport:
    """Score each true drift of ``truth`` (the simulator's ``drift_points``) against what the run did, and each data
    drift against the true drifts and ``faults`` (the simulator's). A malformed point or fault is a ValueError."""
    spans = _times(truth, "drift point", ("stream", "kind", "start_ts", "end_ts"))
    fault_spans = _times(faults or [], "fault", ("stream", "kind", "device_id", "feature", "start_ts", "end_ts"))
    injected = [
        _Fault(f["stream"], f["device_id"], f["feature"], start, end, f["kind"])
        for f, (start, end) in zip(faults or [], fault_spans, strict=True)
        if f["kind"] in FAULT_KINDS
    ]
    detected = concept_detections(outcomes, drifts)
    found_data = data_detections(outcomes)
    resets = model_resets(outcomes)
    times: dict[str, list[datetime]] = defaultdict(list)  # the stream's events, in event-time order
    labelled: dict[str, list[Outcome]] = defaultdict(list)  # per model key, in event-time order
    keys: dict[str, set[str]] = defaultdict(set)  # per stream
    devices: dict[str, set[str]] = defaultdict(set)  # per model key: whose events it learns from
    for outcome in sorted(outcomes, key=lambda o: o.event_ts):
        keys[outcome.stream].add(outcome.model_key)
        devices[outcome.model_key].add(outcome.device_id)
        if outcome.label is None or outcome.label_delay_s is None:  # an event's first outcome
            times[outcome.stream].append(outcome.event_ts)
        if outcome.label is not None and outcome.prediction is not None and not outcome.holdout:
            labelled[outcome.model_key].append(outcome)
    scores: list[DriftScore] = []
    false_alarms: dict[str, list[datetime]] = {}
    data: dict[str, list[tuple[datetime, str, str]]] = {}
    for stream in sorted({p["stream"] for p in truth} | set(detected) | set(found_data)):
        points = sorted(
            ((p, s, e) for p, (s, e) in zip(truth, spans, strict=True) if p["stream"] == stream), key=lambda x: x[1]
        )
        events = times.get(stream, [])
        never = datetime.max.replace(tzinfo=points[0][1].tzinfo) if points else None

        def events_between(a: datetime, b: datetime, events: list[datetime] = events) -> int:
            return bisect.bisect_left(events, b) - bisect.bisect_left(events, a)

        def horizon(
            i: int, points: list[Any] = points, events: list[datetime] = events, never: datetime | None = never
        ) -> tuple[datetime, datetime]:
            """Where true drift ``i``'s detections may fall: its start up to (not including) this."""
            _, start, end = points[i]
            last = bisect.bisect_left(events, end) + DETECTION_HORIZON
            until = events[last] if last < len(events) else never
            if i + 1 < len(points):
                until = min(until, points[i + 1][1])
            return start, until

        horizons = [horizon(i) for i in range(len(points))]
        alarms = detected.get(stream, [])
        false_alarms[stream] = [t for t, _ in alarms if not any(a <= t < b for a, b in horizons)]
        data[stream] = [
            (d.ts, d.feature, _data_class(d, stream, horizons, injected, devices, events_between))
            for d in found_data.get(stream, [])
        ]
        for i, (point, start, _) in enumerate(points):
            _, until = horizons[i]
            mine = [(t, key) for t, key in alarms if start <= t < until]
            reset = next(((t, k, v) for t, k, v in resets.get(stream, []) if start <= t < until), None)
            before = after = None
            if reset is not None:
                history = labelled.get(reset[1], [])
                cut = bisect.bisect_left([o.event_ts for o in history], reset[0])
                before = _accuracy(history[max(0, cut - ACCURACY_WINDOW) : cut])
                after = _accuracy([o for o in history[cut:] if o.model_version >= reset[2]][:ACCURACY_WINDOW])
            since = points[i - 1][2] if i else None
            following = points[i + 1][1] if i + 1 < len(points) else None
            changes = tuple(
                _key_change(key, labelled.get(key, []), resets.get(stream, []), since, start, following,
                            any(k == key for _, k in mine))
                for key in sorted(keys.get(stream, ()))
            )  # fmt: skip
            scores.append(
                DriftScore(
                    stream=stream,
                    kind=point["kind"],
                    change=f"{point['from_concept']}->{point['to_concept']}" if "to_concept" in point else "",
                    start=start,
                    detected=bool(mine),
                    alarms=len(mine),
                    detection_delay_events=events_between(start, mine[0][0]) if mine else None,
                    detection_delay_s=(mine[0][0] - start).total_seconds() if mine else None,
                    reset_model_key=reset[1] if reset else None,
                    reset_delay_events=events_between(start, reset[0]) if reset else None,
                    reset_delay_s=(reset[0] - start).total_seconds() if reset else None,
                    accuracy_before=before,
                    accuracy_after=after,
                    keys=changes,
                    data_drifts=sum(start <= t < until for t, _, _ in data[stream]),
                )
            )
    return DriftReport(scores, false_alarms, data, _fault_scores(outcomes, injected, times))


def _key_change(
    key: str,
    history: list[Outcome],
    resets: list[tuple[datetime, str, int]],
    since: datetime | None,
    start: datetime,
    following: datetime | None,
    detected: bool,
) -> KeyChange:
    """The key's accuracy over its labels before ``start`` (none before ``since``, the previous drift's end) against
    that of the model serving at ``start`` over its labels from then (none from ``following``, the next drift's start).
    """
    ts = [o.event_ts for o in history]
    first = bisect.bisect_left(ts, since) if since is not None else 0
    cut = bisect.bisect_left(ts, start)
    last = bisect.bisect_left(ts, following) if following is not None else len(history)
    before = history[max(first, cut - CHANGE_LABELS) : cut]
    # The version serving at the start: the newest one reset to by then, on the key's own clock (an event's own
    # time can lag it: a device's events may reach the key in a batch after another device's later ones).
    serving = max((v for t, k, v in resets if k == key and t <= start), default=None)
    if serving is None:
        serving = min((o.model_version for o in history), default=1)
    after = [o for o in history[cut:last] if o.model_version <= serving][:CHANGE_LABELS]
    return KeyChange(key, _accuracy(before), _accuracy(after), len(before), len(after), detected)


def _fault_scores(
    outcomes: list[Outcome], injected: list[_Fault], times: dict[str, list[datetime]]
) -> dict[str, dict[str, tuple[int, int, int]]]:
    """Per stream and fault kind: (injected faults recognised, injected faults, recognitions of none).

    A fault is recognised when an event of its device shows it on its feature (a cleaning step, read by
    :func:`~driftline.rules.sensorfaults.fault_of`) from its start to :data:`FAULT_HORIZON` events after its end.
    """
    seen: dict[tuple[str, str, str, str], list[datetime]] = defaultdict(list)  # (stream, device, feature, kind)
    for o in outcomes:
        if o.cleaning and (o.label is None or o.label_delay_s is None):  # an event's own outcome, once
            for step in o.cleaning:
                fault = fault_of(step)
                if fault is not None:
                    seen[(o.stream, o.device_id, fault[1], fault[0])].append(o.event_ts)

    def within(fault: _Fault, ts: datetime) -> bool:
        events = times.get(fault.stream, [])
        return (
            fault.start <= ts
            and bisect.bisect_left(events, ts) - bisect.bisect_left(events, fault.end) <= FAULT_HORIZON
        )

    found: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    claimed: set[tuple[tuple[str, str, str, str], datetime]] = set()
    for fault in injected:
        where = (fault.stream, fault.device_id, fault.feature, fault.kind)
        total[(fault.stream, fault.kind)] += 1
        hits = [ts for ts in seen.get(where, ()) if within(fault, ts)]
        found[(fault.stream, fault.kind)] += bool(hits)
        claimed.update((where, ts) for ts in hits)
    other: Counter[tuple[str, str]] = Counter(
        (where[0], where[3]) for where, stamps in seen.items() for ts in stamps if (where, ts) not in claimed
    )
    streams = {stream for stream, _ in total} | {stream for stream, _ in other}
    return {
        stream: {kind: (found[(stream, kind)], total[(stream, kind)], other[(stream, kind)]) for kind in FAULT_KINDS}
        for stream in sorted(streams)
    }


def _data_class(
    found: DataDetection,
    stream: str,
    horizons: list[tuple[datetime, datetime]],
    faults: list[_Fault],
    devices: dict[str, set[str]],
    events_between: Any,
) -> str:
    if any(a <= found.ts < b for a, b in horizons):
        return AT_DRIFT
    for fault in faults:
        if (
            fault.stream == stream
            and fault.feature == found.feature
            and fault.device_id in devices.get(found.model_key, ())
            and fault.start <= found.ts
            and events_between(fault.end, found.ts) <= FAULT_HORIZON
        ):
            return AT_FAULT
    return FALSE
