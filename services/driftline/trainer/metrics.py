"""The trainer's Prometheus metrics, in a registry of its own (one per trainer instance)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from driftline import tuning
from driftline.learning.slot import ModelSlot
from driftline.rules import metric_names as names
from driftline.rules.keys import stream_of

LATENCY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
DELAY_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400, 86400)


class TrainerMetrics:
    """Counters and histograms named driftline_trainer_*; see docs/metrics.md."""

    def of_stream(self, stream: str) -> StreamMetrics:
        bound = self._streams.get(stream)
        if bound is None:
            bound = self._streams[stream] = StreamMetrics(stream)
        return bound

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._streams: dict[str, StreamMetrics] = {}
        r = self.registry
        # The per-event figures are counted in plain ints (StreamMetrics) and read when scraped.
        r.register(_PerEventCollector(self._streams))
        self.invalid = Counter(
            names.TRAINER_MESSAGES_INVALID,
            "Messages that broke their contract or named an unknown stream (sent to the dead-letter topic).",
            ["topic", "reason"],
            registry=r,
        )
        self.cleaned = Counter(
            names.TRAINER_CLEANING_STEPS,
            "Cleaning steps applied to features, by step (imputed, clipped, converted, ...).",
            ["stream", "step", "feature"],
            registry=r,
        )
        self.sensor_faults = Counter(
            names.TRAINER_SENSOR_FAULTS,
            "Sensor faults recognised in devices' readings, by kind (stuck, spike, dropout) and feature.",
            ["stream", "kind", "feature"],
            registry=r,
        )
        self.dropped = Counter(
            names.TRAINER_EVENTS_DROPPED,
            "Events not predicted, by reason (duplicate, late, missing, out_of_range).",
            ["stream", "reason"],
            registry=r,
        )
        self.held_out = Counter(
            names.TRAINER_EVENTS_HELD_OUT, "Labeled events kept out of learning.", ["stream"], registry=r
        )
        self.labels_joined = Counter(
            names.TRAINER_LABELS_JOINED, "Late labels matched to a waiting prediction.", ["stream"], registry=r
        )
        self.labels_expired = Counter(
            names.TRAINER_LABELS_EXPIRED,
            "Predictions that stopped waiting for their label (TTL or memory bound).",
            ["stream"],
            registry=r,
        )
        self.labels_refused = Counter(
            names.TRAINER_LABELS_REFUSED,
            "Labels that do not fit the stream's task (unknown_class, wrong_type): events predicted, not learned. "
            "The collector refuses them, so only records written to Kafka past it count here.",
            ["stream", "reason"],
            registry=r,
        )
        self.labels_unmatched = Counter(
            names.TRAINER_LABELS_UNMATCHED, "Labels for no waiting prediction.", ["stream"], registry=r
        )
        self.label_requests = Counter(
            names.TRAINER_LABEL_REQUESTS,
            "Labels asked for (streams with a label_budget), on the label-requests topic.",
            ["stream"],
            registry=r,
        )
        self.label_requests_answered = Counter(
            names.TRAINER_LABEL_REQUESTS_ANSWERED,
            "Label requests a label answered while its prediction waited (learned like any late label).",
            ["stream"],
            registry=r,
        )
        self.label_delay = Histogram(
            names.TRAINER_LABEL_DELAY_SECONDS,
            "Label time minus event time, for late labels.",
            ["stream"],
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        self.model_version = Gauge(
            names.TRAINER_MODEL_VERSION, "Version of the served model.", ["stream", "model_key"], registry=r
        )
        self.tuning_serving = Gauge(
            names.TRAINER_TUNING_SERVING,
            "1 for the candidate a tuned model key serves now, 0 for its other candidates (tuned streams only).",
            ["stream", "model_key", "candidate"],
            registry=r,
        )
        self._serving: dict[str, str] = {}
        self.commands = Counter(
            names.TRAINER_COMMANDS,
            "Control commands handled, by outcome.",
            ["stream", "action", "status"],
            registry=r,
        )
        self.drift_reactions = Counter(
            names.TRAINER_DRIFT_REACTIONS,
            "Concept drifts the trainer detected and acted on at once, per model key, by what was done "
            "(background, warm, cold, rollback; recall: a model of the key's library serves again after a drift).",
            ["stream", "action"],
            registry=r,
        )
        self.promotions = Counter(
            names.TRAINER_PROMOTIONS, "Challengers promoted to champion.", ["stream", "model"], registry=r
        )
        self.snapshots = Counter(names.TRAINER_SNAPSHOTS, "Model snapshots written.", ["stream"], registry=r)
        self.checkpoints = Counter(
            names.TRAINER_CHECKPOINTS, "Checkpoints (a partition's state with its offsets) written.", registry=r
        )
        self.checkpoint_bytes = Gauge(
            names.TRAINER_CHECKPOINT_BYTES, "Size of the newest checkpoint written.", registry=r
        )
        self.checkpoint_seconds = Histogram(
            names.TRAINER_CHECKPOINT_SECONDS,
            "Time to snapshot and produce one checkpoint.",
            buckets=(0.001, 0.005, 0.02, 0.1, 0.5, 2, 10),
            registry=r,
        )
        self.recoveries = Counter(
            names.TRAINER_KAFKA_RECOVERIES,
            "Times Kafka failed the loop and it started over from its checkpoints.",
            registry=r,
        )
        self.consumer_lag = Gauge(
            names.TRAINER_CONSUMER_LAG_RECORDS, "Records not yet consumed, by topic.", ["topic"], registry=r
        )
        self.align_waited_out = Counter(
            names.TRAINER_ALIGN_WAITED_OUT,
            "Events and labels handed out when trainer.align_labels_s ran out waiting for the other topic.",
            registry=r,
        )

    def report_serving(self, stream: str, key: str, model: Any) -> None:
        """Mark the candidate a tuned ``model`` serves; nothing for a model that is not tuned, or when unchanged."""
        serving = tuning.serving(model)
        if serving is None or self._serving.get(key) == serving:
            return
        self._serving[key] = serving
        for candidate in getattr(model, tuning.NAMES_ATTRIBUTE):
            self.tuning_serving.labels(stream, key, candidate).set(1 if candidate == serving else 0)


class LocalHistogram:
    """A histogram's bucket counts in plain Python: observing costs a bisection and two additions.

    prometheus_client's histogram takes a lock and walks its buckets on every observation; the
    trainer observes two per event, so these are counted here and read when scraped.
    """

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one: above every bound (+Inf)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs as Prometheus exposes them."""
        out, running = [], 0
        for bound, count in zip([*map(str, LATENCY_BUCKETS), "+Inf"], self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class StreamMetrics:
    """One stream's per-event figures, counted in plain ints on the hot path and exposed at scrape time
    (:class:`_PerEventCollector`): events consumed, predicted and learned, and the time to predict and
    to learn per served model."""

    __slots__ = ("_learn_seconds", "_predict_seconds", "consumed", "learned", "predicted", "stream")

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.consumed = 0
        self.predicted = 0
        self.learned = 0
        self._predict_seconds: dict[str, LocalHistogram] = {}
        self._learn_seconds: dict[str, LocalHistogram] = {}

    def predict_seconds(self, model: str) -> LocalHistogram:
        child = self._predict_seconds.get(model)
        if child is None:
            child = self._predict_seconds[model] = LocalHistogram()
        return child

    def learn_seconds(self, model: str) -> LocalHistogram:
        child = self._learn_seconds.get(model)
        if child is None:
            child = self._learn_seconds[model] = LocalHistogram()
        return child


class _PerEventCollector(Collector):
    """driftline_trainer_events_consumed, _predictions, _events_learned, _predict_seconds and
    _learn_seconds, read from the streams' plain counts when scraped."""

    def __init__(self, streams: dict[str, StreamMetrics]) -> None:
        self._streams = streams

    def describe(self) -> list[Metric]:
        return []  # the series are known only at scrape time

    def collect(self) -> Iterator[Metric]:
        consumed = CounterMetricFamily(
            names.TRAINER_EVENTS_CONSUMED, "Events read from the events topic.", labels=["stream"]
        )
        predicted = CounterMetricFamily(names.TRAINER_PREDICTIONS, "Events predicted.", labels=["stream"])
        learned = CounterMetricFamily(names.TRAINER_EVENTS_LEARNED, "Labeled events learned.", labels=["stream"])
        predict = HistogramMetricFamily(
            names.TRAINER_PREDICT_SECONDS, "Time to predict one event.", labels=["stream", "model"]
        )
        learn = HistogramMetricFamily(
            names.TRAINER_LEARN_SECONDS, "Time to learn one event (every candidate).", labels=["stream", "model"]
        )
        for stream, bound in list(self._streams.items()):
            consumed.add_metric([stream], bound.consumed)
            predicted.add_metric([stream], bound.predicted)
            learned.add_metric([stream], bound.learned)
            for family, children in ((predict, bound._predict_seconds), (learn, bound._learn_seconds)):
                for model, histogram in list(children.items()):
                    family.add_metric([stream, model], histogram.buckets(), histogram.total)
        yield from (consumed, predicted, learned, predict, learn)


@dataclass(frozen=True, slots=True)
class CandidateFigures:
    """One candidate model of a stream, over the model keys a trainer holds: what it costs, what it buys."""

    stream: str
    model: str
    task: str
    #: Mean over the keys of the rolling accuracy (MAE for regression); None when no key scores it.
    score: float | None
    #: Mean seconds per predict_one and learn_one over the candidate's recent calls, all keys together.
    predict_s: float | None
    learn_s: float | None


def candidate_figures(slots: Iterable[ModelSlot]) -> list[CandidateFigures]:
    """Per stream and candidate name (never per model key: the series stay as few as the configured models)."""
    sums: dict[tuple[str, str], list[Any]] = {}
    for slot in slots:
        for candidate in slot.candidates:
            row = sums.setdefault((stream_of(slot.key), candidate.name), [slot.stream.task, [], 0, 0, 0, 0])
            if (score := candidate.score) is not None:
                row[1].append(score)
            row[2] += candidate.predict_ns
            row[3] += candidate.predicts_timed
            row[4] += candidate.learn_ns
            row[5] += candidate.learns_timed
    return [
        CandidateFigures(
            stream,
            model,
            task,
            sum(scores) / len(scores) if scores else None,
            predict_ns / predicts / 1e9 if predicts else None,
            learn_ns / learns / 1e9 if learns else None,
        )
        for (stream, model), (task, scores, predict_ns, predicts, learn_ns, learns) in sorted(sums.items())
    ]


class CandidateCollector(Collector):
    """Gauges of every candidate's accuracy (or MAE) and time per event, read from the models at scrape time.

    Read when scraped, not counted per event: the hot path only adds nanoseconds to two ints per call.
    """

    def __init__(self, figures: Callable[[], list[CandidateFigures]]) -> None:
        self._figures = figures

    def describe(self) -> list[Metric]:
        return []  # the families' series are known only at scrape time

    def collect(self) -> Iterator[Metric]:
        labels = ["stream", "model"]
        accuracy = GaugeMetricFamily(
            names.TRAINER_CANDIDATE_ACCURACY,
            "Rolling accuracy (over the stream's promote_window) of each candidate model, the mean over "
            "the model keys that score it.",
            labels=labels,
        )
        mae = GaugeMetricFamily(
            names.TRAINER_CANDIDATE_MAE,
            "Regression streams: rolling MAE of each candidate model, the mean over the model keys that score it.",
            labels=labels,
        )
        predict = GaugeMetricFamily(
            names.TRAINER_CANDIDATE_PREDICT_SECONDS,
            "Mean time of one candidate's predict_one over its recent calls.",
            labels=labels,
        )
        learn = GaugeMetricFamily(
            names.TRAINER_CANDIDATE_LEARN_SECONDS,
            "Mean time of one candidate's learn_one over its recent calls.",
            labels=labels,
        )
        for f in self._figures():
            values = [f.stream, f.model]
            if f.score is not None:
                (mae if f.task == "regression" else accuracy).add_metric(values, f.score)
            if f.predict_s is not None:
                predict.add_metric(values, f.predict_s)
            if f.learn_s is not None:
                learn.add_metric(values, f.learn_s)
        yield from (accuracy, mae, predict, learn)
