"""Prometheus exposition of the monitor's state: every metric, read at scrape time.

A custom collector renders :class:`~driftline.monitor.state.MonitorState` on each scrape, so the
state has one owner and the exposition cannot drift from it. docs/metrics.md documents every name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from driftline.monitor.scores import METRICS
from driftline.monitor.state import MonitorState

#: Help text of each score gauge; the name is ``driftline_<metric>``.
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
DRIFT_LABELS = ["stream", "model", "kind", "detector", "feature"]


class MonitorCollector(Collector):
    """Renders a :class:`MonitorState` (plus the webhook's counters) for prometheus-client."""

    def __init__(self, state: MonitorState, webhook_counts: Any = None) -> None:
        self.state = state
        self.webhook_counts = webhook_counts

    def collect(self) -> Iterator[Metric]:
        with self.state.lock:
            yield from self._scores()
            yield from self._traffic()
            yield from self._drift()
            yield from self._devices()
        if self.webhook_counts is not None:
            yield from self._webhook()

    def _scores(self) -> Iterator[Metric]:
        families = {
            name: GaugeMetricFamily(
                f"driftline_{name}", SCORE_HELP[name], labels=["stream", "model", "estimate", "window"]
            )
            for name in SCORE_NAMES
        }
        # A name of its own, not driftline_accuracy{estimate=...}: no query of realised accuracy can take it in.
        estimated = GaugeMetricFamily(
            "driftline_accuracy_estimated",
            "ESTIMATE, not measured: accuracy expected of the last predictions from the model's own confidence "
            "(mean probability of the predicted class; needs no label, assumes calibrated probabilities).",
            labels=["stream", "model", "method", "window"],
        )
        for (stream, model), series in sorted(self.state.series.items()):
            for estimate, scores in sorted(series.scores.items()):
                for (name, window), value in scores.values().items():
                    families[name].add_metric([stream, model, estimate, window], value)
            if series.confidence is not None and (value := series.confidence.get()) is not None:
                estimated.add_metric([stream, model, "confidence", "rolling"], value)
        yield from families.values()
        yield estimated

    def _traffic(self) -> Iterator[Metric]:
        state = self.state
        outcomes = CounterMetricFamily(
            "driftline_monitor_outcomes", "Outcomes the monitor accounted for.", labels=["stream", "model"]
        )
        for (stream, model), n in sorted(state.accepted.items()):
            outcomes.add_metric([stream, model], n)
        dropped = CounterMetricFamily(
            "driftline_monitor_outcomes_dropped",
            "Outcomes not used: duplicate, invalid, unknown_stream or unscorable.",
            labels=["reason"],
        )
        for reason in ("duplicate", "invalid", "unknown_stream", "unscorable"):
            dropped.add_metric([reason], state.dropped[reason])
        predictions = CounterMetricFamily(
            "driftline_predictions", "Predictions made, one per event.", labels=["stream", "model"]
        )
        classes = CounterMetricFamily(
            "driftline_predicted_class",
            "Predictions per predicted class (classification; rare classes share __other__).",
            labels=["stream", "model", "class"],
        )
        quantiles = GaugeMetricFamily(
            "driftline_prediction_quantile",
            "Quantile of the predicted values over the rolling window (regression).",
            labels=["stream", "model", "quantile"],
        )
        labels = CounterMetricFamily(
            "driftline_labels", "Labelled outcomes scored.", labels=["stream", "model", "estimate"]
        )
        ratio = GaugeMetricFamily(
            "driftline_label_ratio", "Labelled outcomes per prediction since start (0-1).", labels=["stream", "model"]
        )
        delay = HistogramMetricFamily(
            "driftline_label_delay_seconds", "Time from an event to its label.", labels=["stream", "model"]
        )
        version = GaugeMetricFamily(
            "driftline_model_version", "Highest model version seen (goes up on each reset).", labels=["stream", "model"]
        )
        for (stream, model), series in sorted(state.series.items()):
            predictions.add_metric([stream, model], series.predictions)
            for cls, n in sorted(series.classes.items()):
                classes.add_metric([stream, model, cls], n)
            for q, estimator in sorted(series.quantiles.items()):
                value = estimator.get()
                if value is not None:
                    quantiles.add_metric([stream, model, str(q)], float(value))
            for estimate in ("prequential", "holdout"):
                labels.add_metric([stream, model, estimate], series.labels[estimate])
            if series.predictions:
                ratio.add_metric([stream, model], min(1.0, sum(series.labels.values()) / series.predictions))
            hist = series.label_delay
            buckets = [(_le(b), c) for b, c in zip(hist.buckets, hist.counts, strict=True)] + [("+Inf", hist.count)]
            delay.add_metric([stream, model], buckets, hist.total)
            version.add_metric([stream, model], series.version)
        yield from (outcomes, dropped, predictions, classes, quantiles, labels, ratio, delay, version)

    def _drift(self) -> Iterator[Metric]:
        detected = CounterMetricFamily(
            "driftline_drift_detected", "Drift detections (after debounce).", labels=DRIFT_LABELS
        )
        warnings = CounterMetricFamily(
            "driftline_drift_warnings",
            "Drift warnings: a detector entered its warning zone (a warm reset can follow).",
            labels=DRIFT_LABELS,
        )
        last = GaugeMetricFamily(
            "driftline_drift_last_detected_timestamp_seconds", "Unix time of the last detection.", labels=DRIFT_LABELS
        )
        for key, n in sorted(self.state.drifts.items()):
            detected.add_metric(list(key), n)
            if key in self.state.last_drift_ts:
                last.add_metric(list(key), self.state.last_drift_ts[key])
        for key, n in sorted(self.state.warnings.items()):
            warnings.add_metric(list(key), n)
        yield from (detected, warnings, last)

    def _devices(self) -> Iterator[Metric]:
        accuracy = GaugeMetricFamily(
            "driftline_device_accuracy",
            "Accuracy per device (streams with per_device_metrics only, capped).",
            labels=["stream", "model", "device", "window"],
        )
        mae = GaugeMetricFamily(
            "driftline_device_mae",
            "Mean absolute error per device (streams with per_device_metrics only, capped).",
            labels=["stream", "model", "device", "window"],
        )
        overflow = CounterMetricFamily(
            "driftline_device_series_overflow",
            "Outcomes of devices beyond the per-device series cap (counted in stream totals only).",
            labels=["stream"],
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
        for stream, n in sorted(self.state.device_overflow.items()):
            overflow.add_metric([stream], n)
        yield from (accuracy, mae, overflow)

    def _webhook(self) -> Iterator[Metric]:
        alerts = CounterMetricFamily(
            "driftline_webhook_alerts",
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
