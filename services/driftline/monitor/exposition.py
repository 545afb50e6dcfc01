"""Prometheus exposition of the monitor's state: every metric, read at scrape time.

A custom collector renders :class:`~driftline.monitor.state.MonitorState` on each scrape, so the
state has one owner and the exposition cannot drift from it. docs/metrics.md documents every name.

Monitors of one group share the outcomes partitions, and every figure must add up across them:

* counters carry a ``partition`` label and the count since that partition began (checkpointed
  with it), so a partition handed to another monitor continues its own series there, never
  counted twice by ``rate()`` and ``sum``;
* gauges are this monitor's partitions pooled, with the weight that combines them across monitors
  beside them: ``driftline_scored_outcomes`` (labelled outcomes a score is over) and
  ``driftline_scored_probabilities`` (those with probabilities, for log loss and ROC AUC) per window,
  ``driftline_window_predictions`` for the confidence estimates and the prediction quantiles, and
  ``driftline_accuracy_estimate_calibration_labels`` (summed across monitors) for the labels the
  calibrated one rests on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from driftline.monitor.series import Series
from driftline.monitor.state import MonitorState, UnitState, partition_of
from driftline.rules import metric_names as names
from driftline.rules.scores import METRICS

#: Help text of each score gauge, by River metric; the gauges' names are metric_names.SCORES.
SCORE_HELP = {
    "accuracy": "Share of labelled predictions that were right (0-1).",
    "precision": "Precision of the positive class (binary) or macro-averaged (multiclass) (0-1).",
    "recall": "Recall of the positive class (binary) or macro-averaged (multiclass) (0-1).",
    "f1": "F1 score of the positive class (binary) or macro-averaged (multiclass) (0-1).",
    "roc_auc": "Area under the ROC curve of the positive-class probability (binary, 0-1).",
    "log_loss": "Mean log loss (binary) or cross-entropy (multiclass) of the predicted probabilities.",
    "mae": "Mean absolute error, in the target's unit (regression).",
    "rmse": "Root mean squared error, in the target's unit (regression).",
    "r2": "Coefficient of determination (regression; 1 is perfect, can be negative).",
}
SCORE_NAMES = tuple(dict.fromkeys(name for task in METRICS.values() for name in task))
DRIFT_LABELS = ["stream", "model", "kind", "detector", "feature", "partition"]


class MonitorCollector(Collector):
    """Renders a :class:`MonitorState` (plus the webhook's counters) for prometheus-client."""

    def __init__(self, state: MonitorState, webhook_counts: Any = None) -> None:
        self.state = state
        self.webhook_counts = webhook_counts

    def collect(self) -> Iterator[Metric]:
        with self.state.lock:
            # One picture per scrape: the units by partition (for counters), and pooled (for gauges).
            units = sorted((partition_of(name), unit) for name, unit in self.state.units.items())
            series = self.state.series
            yield from self._scores(series)
            yield from self._traffic(units, series)
            yield from self._drift(units)
            yield from self._devices(units)
        if self.webhook_counts is not None:
            yield from self._webhook()

    def _scores(self, pooled: dict[tuple[str, str], Series]) -> Iterator[Metric]:
        families = {
            name: GaugeMetricFamily(
                names.SCORES[name], SCORE_HELP[name], labels=["stream", "model", "estimate", "window"]
            )
            for name in SCORE_NAMES
        }
        # A name of its own, not driftline_accuracy{estimate=...}: no query of realised accuracy can take it in.
        estimated = GaugeMetricFamily(
            names.ACCURACY_ESTIMATED,
            "ESTIMATE, not measured: accuracy expected of the last predictions from the model's own confidence "
            "(method confidence: the mean probability of the predicted class, taken at face value; calibrated: "
            "calibrated on the labelled predictions first, given once it rests on 100 labels).",
            labels=["stream", "model", "method", "window"],
        )
        calibration_labels = GaugeMetricFamily(
            names.ACCURACY_ESTIMATE_CALIBRATION_LABELS,
            "Labelled predictions the calibrated accuracy estimate rests on (below 100 it is not given).",
            labels=["stream", "model"],
        )
        scored = GaugeMetricFamily(
            names.SCORED_OUTCOMES,
            "Labelled outcomes the scores of a window are over (the weight that combines monitors' scores).",
            labels=["stream", "model", "estimate", "window"],
        )
        scored_proba = GaugeMetricFamily(
            names.SCORED_PROBABILITIES,
            "Labelled outcomes with probabilities the log loss and ROC AUC of a window are over.",
            labels=["stream", "model", "estimate", "window"],
        )
        in_window = GaugeMetricFamily(
            names.WINDOW_PREDICTIONS,
            "Predictions the confidence estimate or the prediction quantiles are over (their weight).",
            labels=["stream", "model"],
        )
        for (stream, model), series in sorted(pooled.items()):
            for estimate, scores in sorted(series.scores.items()):
                for (name, window), value in scores.values().items():
                    families[name].add_metric([stream, model, estimate, window], value)
                for window, (labelled, with_proba) in scores.scored().items():
                    scored.add_metric([stream, model, estimate, window], labelled)
                    if with_proba:
                        scored_proba.add_metric([stream, model, estimate, window], with_proba)
            if (confidence := series.confidence) is not None:
                if (value := confidence.get()) is not None:
                    estimated.add_metric([stream, model, "confidence", "rolling"], value)
                if (value := confidence.calibrated()) is not None:
                    estimated.add_metric([stream, model, "calibrated", "rolling"], value)
                calibration_labels.add_metric([stream, model], confidence.calibration_labels)
            if n := series.in_window():
                in_window.add_metric([stream, model], n)
        yield from families.values()
        yield from (estimated, calibration_labels, scored, scored_proba, in_window)

    def _traffic(self, units: list[tuple[str, UnitState]], pooled: dict[tuple[str, str], Series]) -> Iterator[Metric]:
        outcomes = CounterMetricFamily(
            names.MONITOR_OUTCOMES, "Outcomes the monitor accounted for.", labels=["stream", "model", "partition"]
        )
        dropped = CounterMetricFamily(
            names.MONITOR_OUTCOMES_DROPPED,
            "Outcomes not used: duplicate, invalid, unknown_stream or unscorable.",
            labels=["reason", "partition"],
        )
        predictions = CounterMetricFamily(
            names.PREDICTIONS, "Predictions made, one per event.", labels=["stream", "model", "partition"]
        )
        classes = CounterMetricFamily(
            names.PREDICTED_CLASS,
            "Predictions per predicted class (classification; rare classes share __other__).",
            labels=["stream", "model", "class", "partition"],
        )
        labels = CounterMetricFamily(
            names.LABELS, "Labelled outcomes scored.", labels=["stream", "model", "estimate", "partition"]
        )
        delay = HistogramMetricFamily(
            names.LABEL_DELAY_SECONDS, "Time from an event to its label.", labels=["stream", "model", "partition"]
        )
        for partition, unit in units:
            for (stream, model), n in sorted(unit.accepted.items()):
                outcomes.add_metric([stream, model, partition], n)
            for reason in ("duplicate", "invalid", "unknown_stream", "unscorable"):
                dropped.add_metric([reason, partition], unit.dropped[reason])
            for (stream, model), series in sorted(unit.series.items()):
                predictions.add_metric([stream, model, partition], series.predictions)
                for cls, n in sorted(series.classes.items()):
                    classes.add_metric([stream, model, cls, partition], n)
                for estimate in ("prequential", "holdout"):
                    labels.add_metric([stream, model, estimate, partition], series.labels[estimate])
                hist = series.label_delay
                buckets = [(_le(b), c) for b, c in zip(hist.buckets, hist.cumulative(), strict=True)]
                delay.add_metric([stream, model, partition], [*buckets, ("+Inf", hist.count)], hist.total)
        quantiles = GaugeMetricFamily(
            names.PREDICTION_QUANTILE,
            "Quantile of the predicted values over the rolling window (regression).",
            labels=["stream", "model", "quantile"],
        )
        ratio = GaugeMetricFamily(
            names.LABEL_RATIO, "Labelled outcomes per prediction since start (0-1).", labels=["stream", "model"]
        )
        version = GaugeMetricFamily(
            names.MODEL_VERSION, "Highest model version seen (goes up on each reset).", labels=["stream", "model"]
        )
        for (stream, model), series in sorted(pooled.items()):
            for q, value in series.quantiles().items():
                quantiles.add_metric([stream, model, str(q)], value)
            if series.predictions:
                ratio.add_metric([stream, model], min(1.0, sum(series.labels.values()) / series.predictions))
            version.add_metric([stream, model], series.version)
        yield from (outcomes, dropped, predictions, classes, quantiles, labels, ratio, delay, version)

    def _drift(self, units: list[tuple[str, UnitState]]) -> Iterator[Metric]:
        detected = CounterMetricFamily(names.DRIFT_DETECTED, "Drift detections (after debounce).", labels=DRIFT_LABELS)
        warnings = CounterMetricFamily(
            names.DRIFT_WARNINGS,
            "Drift warnings: a detector entered its warning zone (a warm reset can follow).",
            labels=DRIFT_LABELS,
        )
        for partition, unit in units:
            for key, n in sorted(unit.drifts.items()):
                detected.add_metric([*key, partition], n)
            for key, n in sorted(unit.warnings.items()):
                warnings.add_metric([*key, partition], n)
        last = GaugeMetricFamily(
            names.DRIFT_LAST_DETECTED,
            "Unix time of the last detection.",
            labels=DRIFT_LABELS[:-1],
        )
        for key, ts in sorted(self.state.last_drift_ts.items()):
            last.add_metric(list(key), ts)
        yield from (detected, warnings, last)

    def _devices(self, units: list[tuple[str, UnitState]]) -> Iterator[Metric]:
        accuracy = GaugeMetricFamily(
            names.DEVICE_ACCURACY,
            "Accuracy per device (streams with per_device_metrics only, capped).",
            labels=["stream", "model", "device", "window"],
        )
        mae = GaugeMetricFamily(
            names.DEVICE_MAE,
            "Mean absolute error per device (streams with per_device_metrics only, capped).",
            labels=["stream", "model", "device", "window"],
        )
        overflow = CounterMetricFamily(
            names.DEVICE_SERIES_OVERFLOW,
            "Outcomes of devices beyond the per-device series cap (counted in stream totals only).",
            labels=["stream", "partition"],
        )
        for (stream, model, device), series in sorted(self.state.devices.items()):
            scores = series.scores.get("prequential")
            if scores is None:
                continue
            for (name, window), value in scores.values().items():
                if name == "accuracy":
                    accuracy.add_metric([stream, model, device, window], value)
                elif name == "mae":
                    mae.add_metric([stream, model, device, window], value)
        for partition, unit in units:
            for stream, n in sorted(unit.device_overflow.items()):
                overflow.add_metric([stream, partition], n)
        yield from (accuracy, mae, overflow)

    def _webhook(self) -> Iterator[Metric]:
        alerts = CounterMetricFamily(
            names.WEBHOOK_ALERTS,
            "Alerts received by the webhook, by what was done with them.",
            labels=["result"],
        )
        for result, n in sorted(self.webhook_counts.items()):
            alerts.add_metric([result], n)
        yield alerts


def _le(bound: float) -> str:
    return str(float(bound))


def registry_for(state: MonitorState, webhook_counts: Any = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(state, webhook_counts))
    return registry
