"""The catalogue of driftline's Prometheus metric names: one constant per metric family, in one place.

The services define their metrics with these names (``trainer/metrics.py``, ``monitor/exposition.py``,
``collector/metrics.py``), and everything that reads them uses the same constants: ``driftline status``,
``driftline stack``, the dashboards (``ops/dashboards.py``) and the lab. docs/metrics.md documents
every name here, and ``tests/unit/test_metric_names.py`` checks that it does, and that every name the
Prometheus rules and the generated dashboards use is here (the rules' YAML spells the names out).

Each constant is the name a query uses: a counter's ends in ``_total`` (prometheus_client takes it
without, and exposes the sample with it), a histogram's is the base of its ``_bucket``, ``_sum`` and
``_count`` series.
"""

from __future__ import annotations

# The monitor: model quality, drift and traffic, from the outcomes.

#: Share of labelled predictions that were right (gauge).
ACCURACY = "driftline_accuracy"
#: Precision of the positive class (binary) or macro-averaged (gauge).
PRECISION = "driftline_precision"
#: Recall of the positive class (binary) or macro-averaged (gauge).
RECALL = "driftline_recall"
#: F1 of the positive class (binary) or macro-averaged (gauge).
F1 = "driftline_f1"
#: ROC AUC of the positive-class probability (gauge).
ROC_AUC = "driftline_roc_auc"
#: Log loss or cross-entropy of the predicted probabilities (gauge).
LOG_LOSS = "driftline_log_loss"
#: Mean absolute error, regression (gauge).
MAE = "driftline_mae"
#: Root mean squared error, regression (gauge).
RMSE = "driftline_rmse"
#: Coefficient of determination, regression (gauge).
R2 = "driftline_r2"
#: Accuracy estimated from the model's confidence, before labels: an estimate, not a measurement (gauge).
ACCURACY_ESTIMATED = "driftline_accuracy_estimated"
#: Labelled predictions the calibrated accuracy estimate rests on; below 100 it is not given (gauge).
ACCURACY_ESTIMATE_CALIBRATION_LABELS = "driftline_accuracy_estimate_calibration_labels"
#: Labelled outcomes a window's scores are over: their weight across monitors (gauge).
SCORED_OUTCOMES = "driftline_scored_outcomes"
#: Labelled outcomes with probabilities the log loss and ROC AUC are over (gauge).
SCORED_PROBABILITIES = "driftline_scored_probabilities"
#: Predictions the confidence estimate and the prediction quantiles are over (gauge).
WINDOW_PREDICTIONS = "driftline_window_predictions"
#: Outcomes the monitor accounted for (counter).
MONITOR_OUTCOMES = "driftline_monitor_outcomes_total"
#: Outcomes the monitor did not use, by reason (counter).
MONITOR_OUTCOMES_DROPPED = "driftline_monitor_outcomes_dropped_total"
#: Times Kafka failed the monitor's loop and it started over from its checkpoint (counter).
MONITOR_KAFKA_RECOVERIES = "driftline_monitor_kafka_recoveries_total"
#: Predictions, one per event (counter).
PREDICTIONS = "driftline_predictions_total"
#: Predictions per predicted class (counter).
PREDICTED_CLASS = "driftline_predicted_class_total"
#: Quantiles of the predicted values over the rolling window, regression (gauge).
PREDICTION_QUANTILE = "driftline_prediction_quantile"
#: Labelled outcomes scored (counter).
LABELS = "driftline_labels_total"
#: Labelled outcomes per prediction since start (gauge).
LABEL_RATIO = "driftline_label_ratio"
#: Time from an event to its label (histogram).
LABEL_DELAY_SECONDS = "driftline_label_delay_seconds"
#: Highest model version seen per stream and model (gauge).
MODEL_VERSION = "driftline_model_version"
#: Drift detections the outcomes carry, after debounce (counter).
DRIFT_DETECTED = "driftline_drift_detected_total"
#: Concept-drift warnings the outcomes carry (counter).
DRIFT_WARNINGS = "driftline_drift_warnings_total"
#: Unix time of the last drift detection (gauge).
DRIFT_LAST_DETECTED = "driftline_drift_last_detected_timestamp_seconds"
#: Accuracy per device, opt-in and capped (gauge).
DEVICE_ACCURACY = "driftline_device_accuracy"
#: MAE per device, opt-in and capped (gauge).
DEVICE_MAE = "driftline_device_mae"
#: Outcomes of devices beyond the per-device series cap (counter).
DEVICE_SERIES_OVERFLOW = "driftline_device_series_overflow_total"
#: Alertmanager alerts the monitor's webhook received, by what was done (counter).
WEBHOOK_ALERTS = "driftline_webhook_alerts_total"

#: The score gauges by the name of their River metric (``rules.scores.METRICS``).
SCORES = {
    "accuracy": ACCURACY,
    "precision": PRECISION,
    "recall": RECALL,
    "f1": F1,
    "roc_auc": ROC_AUC,
    "log_loss": LOG_LOSS,
    "mae": MAE,
    "rmse": RMSE,
    "r2": R2,
}

# The trainer: its own work.

#: Events read from the events topic (counter).
TRAINER_EVENTS_CONSUMED = "driftline_trainer_events_consumed_total"
#: Records that broke their contract, named an unknown stream or made a model fail (counter).
TRAINER_MESSAGES_INVALID = "driftline_trainer_messages_invalid_total"
#: Cleaning steps applied to features (counter).
TRAINER_CLEANING_STEPS = "driftline_trainer_cleaning_steps_total"
#: Sensor faults recognised in devices' readings: stuck, spike, dropout (counter).
TRAINER_SENSOR_FAULTS = "driftline_trainer_sensor_faults_total"
#: Events not predicted, by reason (counter).
TRAINER_EVENTS_DROPPED = "driftline_trainer_events_dropped_total"
#: Events predicted (counter).
TRAINER_PREDICTIONS = "driftline_trainer_predictions_total"
#: Labelled events learned (counter).
TRAINER_EVENTS_LEARNED = "driftline_trainer_events_learned_total"
#: Labelled events kept out of learning (counter).
TRAINER_EVENTS_HELD_OUT = "driftline_trainer_events_held_out_total"
#: Late labels matched to a waiting prediction (counter).
TRAINER_LABELS_JOINED = "driftline_trainer_labels_joined_total"
#: Predictions that stopped waiting for their label (counter).
TRAINER_LABELS_EXPIRED = "driftline_trainer_labels_expired_total"
#: Labels that do not fit the stream's task (counter).
TRAINER_LABELS_REFUSED = "driftline_trainer_labels_refused_total"
#: Labels for no waiting prediction (counter).
TRAINER_LABELS_UNMATCHED = "driftline_trainer_labels_unmatched_total"
#: Label time minus event time of joined labels (histogram).
TRAINER_LABEL_DELAY_SECONDS = "driftline_trainer_label_delay_seconds"
#: Labels asked for on the label-requests topic (counter).
TRAINER_LABEL_REQUESTS = "driftline_trainer_label_requests_total"
#: Label requests a label answered while the prediction waited (counter).
TRAINER_LABEL_REQUESTS_ANSWERED = "driftline_trainer_label_requests_answered_total"
#: Time to predict one event (histogram).
TRAINER_PREDICT_SECONDS = "driftline_trainer_predict_seconds"
#: Time to learn one event (histogram).
TRAINER_LEARN_SECONDS = "driftline_trainer_learn_seconds"
#: Each candidate's rolling accuracy, the mean over the model keys (gauge).
TRAINER_CANDIDATE_ACCURACY = "driftline_trainer_candidate_accuracy"
#: Each candidate's rolling MAE, regression (gauge).
TRAINER_CANDIDATE_MAE = "driftline_trainer_candidate_mae"
#: Each candidate's mean time per predict_one (gauge).
TRAINER_CANDIDATE_PREDICT_SECONDS = "driftline_trainer_candidate_predict_seconds"
#: Each candidate's mean time per learn_one (gauge).
TRAINER_CANDIDATE_LEARN_SECONDS = "driftline_trainer_candidate_learn_seconds"
#: Version of the served model per model key (gauge).
TRAINER_MODEL_VERSION = "driftline_trainer_model_version"
#: 1 for the candidate a tuned model key serves, 0 for the others (gauge).
TRAINER_TUNING_SERVING = "driftline_trainer_tuning_serving"
#: Control commands handled, by outcome (counter).
TRAINER_COMMANDS = "driftline_trainer_commands_total"
#: Concept drifts the trainer acted on, by what was done (counter).
TRAINER_DRIFT_REACTIONS = "driftline_trainer_drift_reactions_total"
#: Challengers promoted to champion (counter).
TRAINER_PROMOTIONS = "driftline_trainer_promotions_total"
#: Model snapshots written (counter).
TRAINER_SNAPSHOTS = "driftline_trainer_snapshots_total"
#: Checkpoints written (counter).
TRAINER_CHECKPOINTS = "driftline_trainer_checkpoints_total"
#: Size of the newest checkpoint (gauge).
TRAINER_CHECKPOINT_BYTES = "driftline_trainer_checkpoint_bytes"
#: Time to snapshot and produce one checkpoint (histogram).
TRAINER_CHECKPOINT_SECONDS = "driftline_trainer_checkpoint_seconds"
#: Times Kafka failed the trainer's loop and it started over from its checkpoints (counter).
TRAINER_KAFKA_RECOVERIES = "driftline_trainer_kafka_recoveries_total"
#: Records of the assigned partitions not yet consumed, by topic (gauge).
TRAINER_CONSUMER_LAG_RECORDS = "driftline_trainer_consumer_lag_records"
#: Events and labels handed out when the wait for the other topic ran out (counter).
TRAINER_ALIGN_WAITED_OUT = "driftline_trainer_align_waited_out_total"

# The collector: what came in.

#: Items Kafka acknowledged on the events or labels topic (counter).
COLLECTOR_EVENTS_ACCEPTED = "driftline_collector_events_accepted_total"
#: Items rejected and dead-lettered, by reason (counter).
COLLECTOR_EVENTS_REJECTED = "driftline_collector_events_rejected_total"
#: Items accepted with their time set to when the collector received them (counter).
COLLECTOR_EVENTS_CLAMPED = "driftline_collector_events_clamped_total"
#: Requests refused whole, by reason (counter).
COLLECTOR_REQUESTS_REFUSED = "driftline_collector_requests_refused_total"
#: Items per request or per replay batch (histogram).
COLLECTOR_BATCH_SIZE = "driftline_collector_batch_size"
#: Time from handing a batch to the producer until Kafka acknowledged it (histogram).
COLLECTOR_KAFKA_SEND_SECONDS = "driftline_collector_kafka_send_seconds"
#: MQTT messages Kafka did not take, held until the next retry round (gauge).
COLLECTOR_MQTT_HELD_MESSAGES = "driftline_collector_mqtt_held_messages"
#: Retry rounds of the MQTT bridge (counter).
COLLECTOR_MQTT_RETRY_ROUNDS = "driftline_collector_mqtt_retry_rounds_total"

#: The series a histogram family exposes beside its buckets' base name.
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def catalogue() -> dict[str, str]:
    """Constant name -> metric name, for every metric family here."""
    return {name: value for name, value in globals().items() if name.isupper() and isinstance(value, str)}
