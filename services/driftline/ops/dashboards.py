"""driftline's Grafana dashboards as code, built with Grafana's grafana-foundation-sdk.

`driftline dashboards` writes them to driftline/assets/grafana/dashboards/, which Grafana provisions
(assets/grafana/provisioning, mounted by docker-compose.yml). The JSON there is generated: edit this
module, never the files;
`driftline dashboards --check` and a unit test fail when the two disagree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LineInterpolation
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableOption, VariableRefresh

from driftline import assets
from driftline.generated import stale_documents, write_documents
from driftline.rules import metric_names as names

#: The shipped dashboards (driftline/assets/grafana/dashboards), which `driftline dashboards` regenerates in a
#: checkout; in an installed package, whose files are not to be rewritten, grafana/dashboards in the working directory.
DASHBOARD_DIR = assets.path("grafana", "dashboards") if assets.in_checkout() else Path.cwd() / "grafana" / "dashboards"
#: The uid assets/grafana/provisioning/datasources/driftline.yml gives driftline's Prometheus.
DATASOURCE = DataSourceRef(type_val="prometheus", uid="driftline-prometheus")

STREAM = 'stream=~"$stream"'
MODEL = 'model=~"$model"'
CONCEPT = 'kind="concept"'
DATA = 'kind="data"'
#: Collector refusals that are dead-lettered with the request's body (docs/metrics.md).
DEAD_LETTERED_REFUSALS = "too_large|unsupported_media_type|not_json|invalid|too_deep|empty"


def selector(metric: str, *matchers: str) -> str:
    return f"{metric}{{{','.join(matchers)}}}" if matchers else metric


#: Model keys reset (or rolled back) by the trainer after a concept drift, and by a control command.
RESETS_AFTER_DRIFT = selector(names.TRAINER_DRIFT_REACTIONS, STREAM, 'action=~"warm|cold|rollback"')
RESETS_BY_COMMAND = selector(names.TRAINER_COMMANDS, STREAM, 'status="applied"', 'action=~"reset|rollback"')


def increase(series: str, window: str, moves: bool = False) -> str:
    """``increase()`` that also counts a series born inside the window, from 0.

    Most labelled counters appear with their first increment (a stream's first reset, a feature's
    first data drift is scraped at 1), which ``increase()`` alone never sees: a series that had no
    sample ``window`` ago contributes its whole value instead. (So, for one window after
    Prometheus starts, every series counts as new.)

    ``moves``: the counter moves between instances with what it counts, as a monitor's do with
    their outcomes partition (the ``partition`` label). A series that existed on another instance
    is not new then: it counts its increase, never its whole value again.
    """
    if not moves:
        return f"(increase({series}[{window}]) and {series} offset {window} or {series})"
    before = f"{series} offset {window}"
    return (
        f"(increase({series}[{window}]) and ignoring(instance) {before} or {series} unless ignoring(instance) {before})"
    )


def _target(expr: str, legend: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend)


def _panel(
    title: str,
    description: str,
    unit: str,
    *targets: prometheus.Dataquery,
    low: float | None = None,
    high: float | None = None,
    counts: bool = False,
    steps: bool = False,
) -> timeseries.Panel:
    """A time series panel; ``counts`` shows whole numbers from 0, ``steps`` draws a value held until it changes."""
    panel = timeseries.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
    panel = panel.span(12).height(8)
    for ref, target in zip("ABCDEFGH", targets, strict=False):
        panel = panel.with_target(target.ref_id(ref))
    if counts:
        panel = panel.decimals(0).min(0)
    if low is not None:
        panel = panel.min(low)
    if high is not None:
        panel = panel.max(high)
    if steps:
        panel = panel.line_interpolation(LineInterpolation.STEP_AFTER)
    return panel


def _variable(name: str, query: str) -> dash.QueryVariable:
    return (
        dash.QueryVariable(name)
        .datasource(DATASOURCE)
        .query(query)
        .include_all(True)
        .multi(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )


def _variables(with_model: bool, streams_of: str = names.PREDICTIONS) -> list[dash.QueryVariable]:
    """``$stream``, and ``$model`` limited to the models of the chosen streams."""
    found = [_variable("stream", f"label_values({streams_of}, stream)")]
    if with_model:
        found.append(_variable("model", f"label_values({names.PREDICTIONS}{{{STREAM}}}, model)"))
    return found


#: Annotation name -> (query, title with {{labels}}, colour); see annotations().
_Annotation = tuple[str, str, str]


def _annotations(with_model: bool, data_drift: bool = False) -> dict[str, _Annotation]:
    models = (STREAM, MODEL) if with_model else (STREAM,)
    concept = selector(names.DRIFT_DETECTED, *models, CONCEPT)
    found = {
        "Concept drift": (
            f"sum by (stream, model) ({increase(concept, '1m', moves=True)}) > 0",
            "concept drift {{stream}}/{{model}}",
            "red",
        ),
        "Resets after drift": (
            f"sum by (stream, action) ({increase(RESETS_AFTER_DRIFT, '1m')}) > 0",
            "{{action}} reset of {{stream}} after a drift",
            "green",
        ),
        "Resets by command": (
            f"sum by (stream, action) ({increase(RESETS_BY_COMMAND, '1m')}) > 0",
            "{{action}} of {{stream}} by command",
            "blue",
        ),
    }
    if data_drift:
        data = selector(names.DRIFT_DETECTED, *models, DATA)
        found["Data drift"] = (
            f"sum by (stream, feature) ({increase(data, '1m', moves=True)}) > 0",
            "data drift {{stream}} {{feature}}",
            "purple",
        )
    return found


def _dashboard(
    uid: str,
    title: str,
    description: str,
    variables: list[dash.QueryVariable],
    annotations: dict[str, _Annotation],
    panels: list[timeseries.Panel],
) -> dict[str, Any]:
    """The dashboard's JSON model."""
    builder = (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["driftline"])
        .timezone("browser")
        .refresh("10s")
        .time("now-1h", "now")
        .readonly()
    )
    for variable in variables:
        builder = builder.with_variable(variable)
    for name, (expr, _, colour) in annotations.items():
        # The query is the annotation's target, the form Grafana 11's Prometheus data source reads
        # (the SDK types target as the Grafana data source's; any query builder serialises).
        query: Any = prometheus.Dataquery().expr(expr).ref_id("Anno")
        annotation = dash.AnnotationQuery().name(name).datasource(DATASOURCE).icon_color(colour).target(query)
        builder = builder.annotation(annotation)
    for number, panel in enumerate(panels, start=1):
        builder = builder.with_panel(panel.id(number))
    model: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    for annotation in model["annotations"]["list"]:
        # The SDK's AnnotationQuery has no titleFormat; Prometheus annotations read it from here.
        annotation["titleFormat"] = annotations[annotation["name"]][1]
    return model


def candidate(gauge: str) -> str:
    """A trainer's per candidate gauge, averaged over trainer instances (each holds its own model keys)."""
    return f"avg by (stream, model) ({selector(gauge, STREAM)})"


def fleet() -> dict[str, Any]:
    """What the services do: ingest, rejects, dead letters, lag, throughput, resets, promotions, candidates."""
    streams = (STREAM,)
    rejected = selector(names.COLLECTOR_EVENTS_REJECTED, *streams)
    refused = selector(names.COLLECTOR_REQUESTS_REFUSED)
    dead_requests = selector(names.COLLECTOR_REQUESTS_REFUSED, f'reason=~"{DEAD_LETTERED_REFUSALS}"')
    return _dashboard(
        "driftline-fleet",
        "driftline / fleet overview",
        "The collector, the trainer and the monitor at work.",
        _variables(with_model=False, streams_of=names.TRAINER_EVENTS_CONSUMED),
        _annotations(with_model=False),
        [
            _panel(
                "Ingest: items accepted per second",
                "Events and labels Kafka acknowledged, by stream and transport (HTTP, MQTT).",
                "ops",
                _target(
                    "sum by (stream, transport) "
                    f"(rate({selector(names.COLLECTOR_EVENTS_ACCEPTED, *streams)}[$__rate_interval]))",
                    "{{stream}} {{transport}}",
                ),
                low=0,
            ),
            _panel(
                "Rejected items (per 5m)",
                "Items the collector refused, by reason; each is dead-lettered.",
                "short",
                _target(f"sum by (stream, reason) ({increase(rejected, '5m')})", "{{stream}} {{reason}}"),
                counts=True,
            ),
            _panel(
                "Refused requests (per 5m)",
                "Requests refused whole (bad token, too large, not JSON, Kafka unavailable ...).",
                "short",
                _target(f"sum by (transport, reason) ({increase(refused, '5m')})", "{{transport}} {{reason}}"),
                counts=True,
            ),
            _panel(
                "Dead letters written (per 5m)",
                "Records put on the dead-letter topic: the collector's rejected items and refused bodies, "
                "the trainer's records that broke their contract or made a model fail.",
                "short",
                _target(f"sum by (stream) ({increase(rejected, '5m')})", "collector item {{stream}}"),
                _target(f"sum by (reason) ({increase(dead_requests, '5m')})", "collector request {{reason}}"),
                _target(
                    f"sum by (reason) ({increase(names.TRAINER_MESSAGES_INVALID, '5m')})",
                    "trainer {{reason}}",
                ),
                counts=True,
            ),
            _panel(
                "Trainer consumer lag (records)",
                "Records of the trainer's assigned partitions not yet consumed, summed over instances.",
                "short",
                _target(f"sum by (topic) ({names.TRAINER_CONSUMER_LAG_RECORDS})", "{{topic}}"),
                counts=True,
            ),
            _panel(
                "Trainer throughput (events per second)",
                "Events consumed, predicted and learned (labelled) by the trainer.",
                "ops",
                *(
                    _target(
                        f"sum by (stream) (rate({selector(metric, *streams)}[$__rate_interval]))",
                        f"{what} {{{{stream}}}}",
                    )
                    for metric, what in (
                        (names.TRAINER_EVENTS_CONSUMED, "consumed"),
                        (names.TRAINER_PREDICTIONS, "predicted"),
                        (names.TRAINER_EVENTS_LEARNED, "learned"),
                    )
                ),
                low=0,
            ),
            _panel(
                "Resets (per 15m)",
                "Model keys reset or rolled back: after a concept drift (the stream's drift.on_alert) "
                "or by a control command.",
                "short",
                _target(
                    f"sum by (stream, action) ({increase(RESETS_AFTER_DRIFT, '15m')})", "{{stream}} drift: {{action}}"
                ),
                _target(
                    f"sum by (stream, action) ({increase(RESETS_BY_COMMAND, '15m')})", "{{stream}} command: {{action}}"
                ),
                counts=True,
            ),
            _panel(
                "Promotions (per 15m)",
                "Challengers promoted to champion, by the model promoted.",
                "short",
                _target(
                    f"sum by (stream, model) ({increase(selector(names.TRAINER_PROMOTIONS, *streams), '15m')})",
                    "{{stream}} {{model}}",
                ),
                counts=True,
            ),
            _panel(
                "Candidates: rolling score",
                "What each candidate model buys: its accuracy (MAE for regression) over the stream's promote_window, "
                "the mean over the model keys scoring it (a key with challengers); beside its time per event.",
                "none",
                _target(candidate(names.TRAINER_CANDIDATE_ACCURACY), "accuracy {{stream}}/{{model}}"),
                _target(candidate(names.TRAINER_CANDIDATE_MAE), "MAE {{stream}}/{{model}}"),
                low=0,
            ),
            _panel(
                "Candidates: time per event",
                "What each candidate model costs: the mean time of one learn_one and one predict_one over its recent "
                "calls (every model key together); beside its rolling score.",
                "s",
                _target(candidate(names.TRAINER_CANDIDATE_LEARN_SECONDS), "learn {{stream}}/{{model}}"),
                _target(candidate(names.TRAINER_CANDIDATE_PREDICT_SECONDS), "predict {{stream}}/{{model}}"),
                low=0,
            ),
            _panel(
                "Outcomes scored per second",
                "Outcomes the monitor accounted for: it keeps up when this follows the trainer's predictions.",
                "ops",
                _target(
                    f"sum by (stream) (rate({selector(names.MONITOR_OUTCOMES, *streams)}[$__rate_interval]))",
                    "{{stream}}",
                ),
                low=0,
            ),
        ],
    )


def _score(metric: str, *matchers: str) -> str:
    return selector(metric, STREAM, MODEL, *matchers)


#: The weight of each score: the labelled outcomes it is over, or those with probabilities (docs/metrics.md).
_WEIGHT = {names.ROC_AUC: names.SCORED_PROBABILITIES, names.LOG_LOSS: names.SCORED_PROBABILITIES}


def pooled(metric: str, *matchers: str) -> str:
    """A score of every monitor's partitions together: each monitor's figure weighted by the outcomes it is over.

    Exact for accuracy, MAE and log loss (means over outcomes), and for RMSE, pooled as the root of the
    weighted mean square; the weighted mean of the others (precision, recall, F1, ROC AUC, R²) is an
    approximation when several monitors hold a stream's partitions. One monitor: its own figure.
    """
    by = "stream, model, estimate, window"
    score = _score(metric, *matchers)
    weight = _score(_WEIGHT.get(metric, names.SCORED_OUTCOMES), *matchers)
    if metric == names.RMSE:
        return f"sqrt(sum by ({by}) ({score} ^ 2 * {weight}) / sum by ({by}) ({weight} and {score}))"
    return f"sum by ({by}) ({score} * {weight}) / sum by ({by}) ({weight} and {score})"


def pooled_by_predictions(metric: str, labels: str) -> str:
    """A windowed figure of predictions (``labels`` beside stream and model), weighted by the predictions it is over."""
    by = f"stream, model, {labels}"
    figure, weight = _score(metric), _score(names.WINDOW_PREDICTIONS)
    return (
        f"sum by ({by}) ({figure} * ignoring({labels}) group_left {weight}) / "
        f"sum by ({by}) ({figure} * 0 + ignoring({labels}) group_left {weight})"
    )


def _rolling(metric: str) -> str:
    return pooled(metric, 'estimate="prequential"', 'window="rolling"')


def accuracy() -> dict[str, Any]:
    """How well each stream's served model predicts; classification and regression apart."""
    per_second = f"sum by (stream, model) (rate({_score(names.MONITOR_OUTCOMES)}[$__rate_interval]))"

    def by_class(labels: str) -> str:
        return f"sum by ({labels}) (rate({_score(names.PREDICTED_CLASS)}[5m]))"

    return _dashboard(
        "driftline-accuracy",
        "driftline / accuracy",
        "How well each stream's served model predicts.",
        _variables(with_model=True),
        _annotations(with_model=True),
        [
            _panel(
                "Accuracy (prequential)",
                "Share of labelled predictions that were right, cumulative and over the rolling window.",
                "percentunit",
                _target(pooled(names.ACCURACY, 'estimate="prequential"'), "{{stream}}/{{model}} {{window}}"),
                low=0,
                high=1,
            ),
            _panel(
                "Accuracy: holdout vs prequential (rolling)",
                "Holdout outcomes are never learned from: an unbiased estimate.",
                "percentunit",
                _target(pooled(names.ACCURACY, 'window="rolling"'), "{{stream}}/{{model}} {{estimate}}"),
                low=0,
                high=1,
            ),
            _panel(
                "Accuracy ESTIMATED from confidence (not measured) vs realised",
                "An estimate before labels arrive "
                f"({names.ACCURACY_ESTIMATED}): confidence, the mean probability "
                "the model gave its predictions over the monitor's window; calibrated, those probabilities "
                "calibrated on the labelled predictions first (once 100 labels came: "
                f"{names.ACCURACY_ESTIMATE_CALIBRATION_LABELS}). Blind to a drift the model is sure of. The "
                "realised rolling accuracy beside it, once labels come.",
                "percentunit",
                _target(
                    pooled_by_predictions(names.ACCURACY_ESTIMATED, "method, window"),
                    "ESTIMATE ({{method}}) {{stream}}/{{model}}",
                ),
                _target(_rolling(names.ACCURACY), "realised {{stream}}/{{model}}"),
                low=0,
                high=1,
            ),
            _panel(
                "F1, precision, recall (rolling)",
                "Of the positive class (binary) or macro-averaged (multiclass).",
                "percentunit",
                _target(_rolling(names.F1), "F1 {{stream}}/{{model}}"),
                _target(_rolling(names.PRECISION), "precision {{stream}}/{{model}}"),
                _target(_rolling(names.RECALL), "recall {{stream}}/{{model}}"),
                low=0,
                high=1,
            ),
            _panel(
                "ROC AUC (rolling)",
                "Binary streams: 1 ranks every positive above every negative, 0.5 is chance.",
                "none",
                _target(_rolling(names.ROC_AUC), "{{stream}}/{{model}}"),
                low=0,
                high=1,
            ),
            _panel(
                "Log loss (rolling)",
                "Of the predicted probabilities (cross-entropy for multiclass); lower is better.",
                "none",
                _target(_rolling(names.LOG_LOSS), "{{stream}}/{{model}}"),
                low=0,
            ),
            _panel(
                "MAE and RMSE (rolling)",
                "Regression streams, in the target's unit; lower is better.",
                "none",
                _target(_rolling(names.MAE), "MAE {{stream}}/{{model}}"),
                _target(_rolling(names.RMSE), "RMSE {{stream}}/{{model}}"),
                low=0,
            ),
            _panel(
                "R² (rolling)",
                "Regression streams: 1 is perfect, 0 is no better than the mean, below 0 worse.",
                "none",
                _target(_rolling(names.R2), "{{stream}}/{{model}}"),
                high=1,
            ),
            _panel(
                "Outcomes per second",
                "Outcomes the monitor accounted for.",
                "ops",
                _target(per_second, "{{stream}}/{{model}}"),
                low=0,
            ),
            _panel(
                "Predictions by class (share, 5m)",
                "Distribution of predictions: a shift here often precedes an accuracy drop.",
                "percentunit",
                _target(
                    f"{by_class('stream, model, class')} / ignoring(class) group_left {by_class('stream, model')}",
                    "{{stream}}/{{model}} {{class}}",
                ),
                low=0,
                high=1,
            ),
            _panel(
                "Model version",
                "The highest version across the stream's model keys: up on a reset that takes every key past it.",
                "none",
                _target(f"max by (stream, model) ({_score(names.MODEL_VERSION)})", "{{stream}}/{{model}}"),
                counts=True,
                steps=True,
            ),
        ],
    )


def drift() -> dict[str, Any]:
    """Concept drift detections and warnings, and what the monitor dropped or was told."""
    dropped = increase(names.MONITOR_OUTCOMES_DROPPED, "5m", moves=True)
    return _dashboard(
        "driftline-drift",
        "driftline / drift",
        "Concept and data drift detections.",
        _variables(with_model=True),
        _annotations(with_model=True),
        [
            _panel(
                "Concept drift detections (per 5m)",
                "Detections on the error stream, after debounce.",
                "short",
                _target(
                    "sum by (stream, model, detector) "
                    f"({increase(_score(names.DRIFT_DETECTED, CONCEPT), '5m', moves=True)})",
                    "{{stream}}/{{model}} {{detector}}",
                ),
                counts=True,
            ),
            _panel(
                "Detector warnings (per 5m)",
                "DDM, EDDM, HDDM_A and HDDM_W in their warning zone; ADWIN, PageHinkley and KSWIN "
                "through a more sensitive twin. A warning starts a background model (warm_reset).",
                "short",
                _target(
                    f"sum by (stream, model, kind) ({increase(_score(names.DRIFT_WARNINGS), '5m', moves=True)})",
                    "{{stream}}/{{model}} {{kind}}",
                ),
                counts=True,
            ),
            _panel(
                "Detections since the monitor started",
                "Concept and data drift detections in all.",
                "short",
                _target(f"sum by (stream, kind) ({_score(names.DRIFT_DETECTED)})", "{{stream}} {{kind}}"),
                counts=True,
                steps=True,
            ),
            _panel(
                "Time since last detection",
                "",
                "s",
                _target(
                    f"time() - max by (stream, kind) ({_score(names.DRIFT_LAST_DETECTED)})",
                    "{{stream}} {{kind}}",
                ),
                low=0,
            ),
            _panel(
                "Dropped outcomes (per 5m)",
                "Duplicates, invalid, unknown stream, unscorable.",
                "short",
                _target(f"sum by (reason) ({dropped})", "{{reason}}"),
                counts=True,
            ),
            _panel(
                "Webhook alerts (per 15m)",
                "What the monitor did with Alertmanager's notifications.",
                "short",
                _target(f"sum by (result) ({increase(names.WEBHOOK_ALERTS, '15m')})", "{{result}}"),
                counts=True,
            ),
        ],
    )


def data_drift() -> dict[str, Any]:
    """Which sensor (feature) drifted, and the predictions' spread."""
    data = _score(names.DRIFT_DETECTED, DATA)
    return _dashboard(
        "driftline-data-drift",
        "driftline / data drift per feature",
        "Which sensor (feature) drifted.",
        _variables(with_model=True),
        _annotations(with_model=True, data_drift=True),
        [
            _panel(
                "Data drift detections by feature (per 15m)",
                "A detection names the feature whose cleaned values changed distribution.",
                "short",
                _target(f"sum by (stream, feature) ({increase(data, '15m', moves=True)})", "{{stream}} {{feature}}"),
                counts=True,
            ),
            _panel(
                "Data drift detections since the monitor started, by feature",
                "",
                "short",
                _target(f"sum by (stream, feature) ({data})", "{{stream}} {{feature}}"),
                counts=True,
                steps=True,
            ),
            _panel(
                "Features with a detection in the last hour",
                "",
                "short",
                _target(f"count by (stream) ({increase(data, '1h', moves=True)} > 0) or on() vector(0)", "{{stream}}"),
                counts=True,
            ),
            _panel(
                "Prediction quantiles (regression)",
                "Rolling 5%, 50%, 95% of predicted values, in the target's unit; with several monitors, their "
                "figures weighted by the predictions each is over (an approximation).",
                "none",
                _target(
                    pooled_by_predictions(names.PREDICTION_QUANTILE, "quantile"), "{{stream}}/{{model}} q{{quantile}}"
                ),
            ),
        ],
    )


def labels() -> dict[str, Any]:
    """How fast and how often labels arrive."""

    def delay(part: str) -> str:
        return f"sum by (stream, model) (rate({_score(f'{names.LABEL_DELAY_SECONDS}_{part}')}[5m]))"

    def quantile(q: float) -> str:
        buckets = _score(f"{names.LABEL_DELAY_SECONDS}_bucket")
        return f"histogram_quantile({q}, sum by (stream, model, le) (rate({buckets}[5m])))"

    return _dashboard(
        "driftline-labels",
        "driftline / labels",
        "Label rate and label delay.",
        _variables(with_model=True),
        _annotations(with_model=True),
        [
            _panel(
                "Label delay p50 / p95 (5m)",
                "Time from an event to its label, of the labels scored in the last 5 minutes.",
                "s",
                _target(quantile(0.5), "p50 {{stream}}/{{model}}"),
                _target(quantile(0.95), "p95 {{stream}}/{{model}}"),
                low=0,
            ),
            _panel(
                "Mean label delay (5m)",
                "Of the labels scored in the last 5 minutes.",
                "s",
                _target(f"{delay('sum')} / {delay('count')}", "{{stream}}/{{model}}"),
                low=0,
            ),
            _panel(
                "Label ratio (since the monitor started)",
                "Labelled outcomes per prediction.",
                "percentunit",
                _target(
                    f"clamp_max(sum by (stream, model) ({_score(names.LABELS)}) / "
                    f"sum by (stream, model) ({_score(names.PREDICTIONS)}), 1)",
                    "{{stream}}/{{model}}",
                ),
                low=0,
                high=1,
            ),
            _panel(
                "Labels per second",
                "Labelled outcomes scored, prequential and holdout.",
                "ops",
                _target(
                    f"sum by (stream, model, estimate) (rate({_score(names.LABELS)}[$__rate_interval]))",
                    "{{stream}}/{{model}} {{estimate}}",
                ),
                low=0,
            ),
        ],
    )


#: File name -> the function that builds that dashboard.
DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "driftline-fleet.json": fleet,
    "driftline-accuracy.json": accuracy,
    "driftline-drift.json": drift,
    "driftline-data-drift.json": data_drift,
    "driftline-labels.json": labels,
}


def dashboard_documents() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {name: json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


def write_dashboards(folder: Path = DASHBOARD_DIR) -> list[Path]:
    return write_documents(dashboard_documents(), folder)


def stale_dashboards(folder: Path = DASHBOARD_DIR) -> list[str]:
    """Names of dashboard files that are missing, differ from the generator's, or that it does not make."""
    return stale_documents(dashboard_documents(), folder)
