"""What the services' answers say, per stream and model key: :func:`shape` turns a
:class:`~driftline.status.fetching.Snapshot` (and the one before it, for rates) into a :class:`Status`,
without any I/O; a monitor's scores are weighted by the outcomes each is over. :func:`as_json` gives it
as plain data."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from driftline.rules import metric_names as names
from driftline.rules.keys import stream_of
from driftline.status.fetching import Sample, Snapshot

#: What counts as a reset: the trainer's own reactions to drift, and people's commands applied.
RESET_REACTIONS = frozenset({"warm", "cold", "rollback"})
RESET_COMMANDS = frozenset({"reset", "rollback"})
#: The monitor's scores a stream's row shows (accuracy, MAE for regression), and their short names.
POOLED_SCORES = {names.ACCURACY: "accuracy", names.MAE: "mae"}


def _by(found: Iterable[Sample], name: str, label: str, **match: str) -> dict[str, float]:
    """Sum of ``name`` per value of ``label`` over the samples whose labels include ``match``."""
    sums: dict[str, float] = {}
    for s in found:
        if s.name == name and match.items() <= s.labels.items():
            sums[s.labels.get(label, "")] = sums.get(s.labels.get(label, ""), 0.0) + s.value
    return sums


@dataclass
class Drift:
    """A drift detection: when (Unix time, on ``clock``), its kind (concept or data), the feature (data)
    or the monitor's note of it, and the model.

    Two clocks, named wherever a time is shown: ``detected`` is when the trainer judged it (the wall
    clock, from the monitor's metrics: a stream's last drift), ``event`` the event time of the outcome
    it was judged at (from the monitor's page: a model key's last drift). A replayed or simulated
    stream's event time can be hours or years away from the wall clock.
    """

    ts: float
    kind: str
    detail: str = ""
    model: str = ""
    clock: Literal["detected", "event"] = "detected"


@dataclass
class KeyStatus:
    """One model key: the trainer's served model and counts, the monitor's recent view of it."""

    model_key: str
    model: str | None = None
    version: int | None = None
    learned: int | None = None
    #: Accuracy (MAE for regression) over the key's newest points on the monitor (50 labelled outcomes each).
    recent_score: float | None = None
    concept_drifts: int | None = None
    data_drifts: int | None = None
    #: Event time of the key's last drift detection, as the monitor marked it.
    last_drift: Drift | None = None


@dataclass
class CandidateStatus:
    """One candidate model of a stream, from the trainer: its rolling score and microseconds per event."""

    model: str
    #: accuracy, or mae for regression
    score_name: str = "accuracy"
    score: float | None = None
    predict_us: float | None = None
    learn_us: float | None = None


@dataclass
class StreamStatus:
    """One stream: rates and counts from the trainer, scores and drifts from the monitor."""

    stream: str
    score_name: str = "accuracy"
    events_per_s: float | None = None
    ingest_per_s: float | None = None
    consumed: int | None = None
    predicted: int | None = None
    learned: int | None = None
    #: Outcomes the monitor has judged (its predictions count): equal to ``predicted`` once caught up.
    judged: int | None = None
    #: Per model name: the prequential score since start (cumulative) and over the monitor's window (rolling).
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    concept_drifts: int | None = None
    data_drifts: int | None = None
    resets: int | None = None
    last_drift: Drift | None = None
    model_keys: list[KeyStatus] = field(default_factory=list)
    #: What each candidate model buys (rolling score, mean over model keys) and costs (µs per event).
    candidates: list[CandidateStatus] = field(default_factory=list)

    @property
    def versions(self) -> tuple[int, int] | None:
        found = [k.version for k in self.model_keys if k.version is not None]
        return (min(found), max(found)) if found else None


@dataclass
class Failure:
    """A service, the URL it was asked at, and why no answer came."""

    service: str
    url: str
    reason: str

    def describe(self) -> str:
        return f"{self.service} {self.url} {self.reason}"


@dataclass
class Status:
    taken: float
    streams: list[StreamStatus]
    #: The trainer's consumer lag, records per input topic.
    lag: dict[str, int]
    failures: list[Failure]
    answered: list[str]


def shape(snapshot: Snapshot, previous: Snapshot | None = None) -> Status:
    """Per stream and model key, what the services' answers say; rates against ``previous`` when given."""
    trainer = snapshot.get("trainer", "/metrics") or []
    monitor = snapshot.get("monitor", "/metrics") or []
    collector = snapshot.get("collector", "/metrics") or []
    streams: dict[str, StreamStatus] = {}

    def stream(name: str) -> StreamStatus:
        return streams.setdefault(name, StreamStatus(name))

    consumed = _by(trainer, names.TRAINER_EVENTS_CONSUMED, "stream")
    accepted = _by(collector, names.COLLECTOR_EVENTS_ACCEPTED, "stream")
    if trainer:
        predicted = _by(trainer, names.TRAINER_PREDICTIONS, "stream")
        learned = _by(trainer, names.TRAINER_EVENTS_LEARNED, "stream")
        resets = _counted(trainer, names.TRAINER_DRIFT_REACTIONS, RESET_REACTIONS)
        commands = _counted(trainer, names.TRAINER_COMMANDS, RESET_COMMANDS, status="applied")
        for name in {*consumed, *predicted, *learned}:
            s = stream(name)
            s.consumed, s.predicted = int(consumed.get(name, 0)), int(predicted.get(name, 0))
            s.learned = int(learned.get(name, 0))
            s.resets = int(resets.get(name, 0) + commands.get(name, 0))
    if previous is not None and snapshot.taken > previous.taken:
        elapsed = snapshot.taken - previous.taken
        before = _by(previous.get("trainer", "/metrics") or [], names.TRAINER_EVENTS_CONSUMED, "stream")
        for name, rate in _rates(consumed, before, elapsed).items():
            stream(name).events_per_s = rate
        before = _by(previous.get("collector", "/metrics") or [], names.COLLECTOR_EVENTS_ACCEPTED, "stream")
        for name, rate in _rates(accepted, before, elapsed).items():
            stream(name).ingest_per_s = rate
    _monitor_metrics(monitor, stream)
    _candidates(trainer, stream)
    _model_keys(snapshot.get("trainer", "/models"), snapshot.get("monitor", "/ui/data"), stream)
    lag = {topic: int(v) for topic, v in _by(trainer, names.TRAINER_CONSUMER_LAG_RECORDS, "topic").items()}
    return Status(
        snapshot.taken,
        sorted(streams.values(), key=lambda s: s.stream),
        lag,
        [Failure(service, url, why) for (service, url), why in sorted(snapshot.failures.items())],
        sorted(snapshot.answered),
    )


def _rates(now: dict[str, float], before: dict[str, float], elapsed: float) -> dict[str, float]:
    # A counter that went down belongs to a restarted service: no rate until the next look.
    return {
        name: (value - before[name]) / elapsed
        for name, value in now.items()
        if name in before and value >= before[name]
    }


def _counted(found: list[Sample], name: str, actions: frozenset[str], **match: str) -> dict[str, float]:
    sums: dict[str, float] = {}
    for s in found:
        if s.name == name and s.labels.get("action") in actions and match.items() <= s.labels.items():
            sums[s.labels["stream"]] = sums.get(s.labels["stream"], 0.0) + s.value
    return sums


def _monitor_metrics(monitor: list[Sample], stream: Callable[[str], StreamStatus]) -> None:
    """Counts summed over monitors and partitions; each monitor's score weighted by the outcomes it is over."""
    if not monitor:
        return
    for name, judged in _by(monitor, names.PREDICTIONS, "stream").items():
        stream(name).judged = int(judged)
    weights = {tuple(sorted(s.labels.items())): s.value for s in monitor if s.name == names.SCORED_OUTCOMES}
    pooled: dict[tuple[str, str, str, str], list[float]] = {}  # (stream, score, model, window) -> [sum, weight]
    for s in monitor:
        if s.name in POOLED_SCORES and s.labels.get("estimate") == "prequential":
            weight = weights.get(tuple(sorted(s.labels.items())), 1.0)
            key = (s.labels["stream"], POOLED_SCORES[s.name], s.labels["model"], s.labels["window"])
            found = pooled.setdefault(key, [0.0, 0.0])
            found[0] += s.value * weight
            found[1] += weight
        elif s.name == names.DRIFT_DETECTED:
            status = stream(s.labels["stream"])
            attribute = "concept_drifts" if s.labels["kind"] == "concept" else "data_drifts"
            setattr(status, attribute, (getattr(status, attribute) or 0) + int(s.value))
        elif s.name == names.DRIFT_LAST_DETECTED:
            status = stream(s.labels["stream"])
            if status.last_drift is None or s.value > status.last_drift.ts:
                labels = s.labels
                status.last_drift = Drift(s.value, labels["kind"], labels.get("feature", ""), labels.get("model", ""))
    for (name, score, model, window), (total, weight) in pooled.items():
        status = stream(name)
        status.score_name = score
        if weight:
            status.scores.setdefault(model, {})[window] = total / weight


#: The trainer's per candidate gauges, and what each says of a candidate.
CANDIDATE_FIGURES = {
    names.TRAINER_CANDIDATE_ACCURACY: "accuracy",
    names.TRAINER_CANDIDATE_MAE: "mae",
    names.TRAINER_CANDIDATE_PREDICT_SECONDS: "predict_seconds",
    names.TRAINER_CANDIDATE_LEARN_SECONDS: "learn_seconds",
}


def _candidates(trainer: list[Sample], stream: Callable[[str], StreamStatus]) -> None:
    """The trainer's per candidate gauges: score (accuracy or MAE), seconds per predict and learn."""
    found: dict[tuple[str, str], CandidateStatus] = {}
    for s in trainer:
        what = CANDIDATE_FIGURES.get(s.name)
        if what is None or "stream" not in s.labels or "model" not in s.labels:
            continue
        candidate = found.setdefault((s.labels["stream"], s.labels["model"]), CandidateStatus(s.labels["model"]))
        if what in ("accuracy", "mae"):
            candidate.score_name, candidate.score = what, s.value
        elif what == "predict_seconds":
            candidate.predict_us = s.value * 1e6
        elif what == "learn_seconds":
            candidate.learn_us = s.value * 1e6
    for (name, _), candidate in sorted(found.items()):
        stream(name).candidates.append(candidate)


def _model_keys(
    models: list[dict[str, Any]] | None, ui: dict[str, Any] | None, stream: Callable[[str], StreamStatus]
) -> None:
    keys: dict[str, KeyStatus] = {}
    # The monitor lists each stream's most recently active keys first: they lead the table.
    for entry in (ui or {}).get("streams", []):
        for seen in entry.get("keys", []):
            marks = [m for m in seen.get("marks", []) if m["kind"] in ("drift", "data")]
            last = marks[-1] if marks else None
            keys[seen["model_key"]] = KeyStatus(
                seen["model_key"],
                model=seen.get("model"),
                version=seen.get("version"),
                recent_score=seen["score"][-1] if seen.get("score") else None,
                concept_drifts=seen.get("drifts"),
                data_drifts=seen.get("data_drifts"),
                last_drift=Drift(
                    last["t"], "concept" if last["kind"] == "drift" else "data", last["text"], seen["model"], "event"
                )
                if last
                else None,
            )
    # The trainer's word on model, version and learned count is the one that counts: it serves them.
    for served in sorted(models or [], key=lambda m: m["model_key"]):
        key = keys.setdefault(served["model_key"], KeyStatus(served["model_key"]))
        key.model, key.version, key.learned = served["model_name"], served["model_version"], served["learned"]
    for key in keys.values():
        stream(stream_of(key.model_key)).model_keys.append(key)


def as_json(status: Status) -> dict[str, Any]:
    """The status as plain data (``driftline status --json``)."""
    data = dataclasses.asdict(status)
    for entry, s in zip(data["streams"], status.streams, strict=True):
        entry["versions"] = list(s.versions) if s.versions else None
    return data
