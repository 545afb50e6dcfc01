"""The peer of `driftline bench throughput`: the same job in a plain Quix Streams + River pipeline.

Run by the benchmark with the Python of a venv of its own (quixstreams pins an older
confluent-kafka than driftline's), so it imports nothing of driftline. Configured by environment:
DL_BOOTSTRAP, DL_EVENTS, DL_OUTCOMES, DL_GROUP, DL_PRESET, DL_STATE_DIR, and optionally DL_GUARANTEE and
DL_COMMIT_INTERVAL: unset, Quix's own defaults (at least once, a commit every 5 s), as a user runs it.
"""

import os

from quixstreams import Application
from river import linear_model, preprocessing, tree

# The same models as driftline's presets of these names (driftline.modelspec.PRESETS).
PRESETS = {
    "logistic": lambda: preprocessing.StandardScaler() | linear_model.LogisticRegression(),
    "hoeffding": lambda: tree.HoeffdingAdaptiveTreeClassifier(seed=42),
}
models = {}


def predict_then_learn(event, key, timestamp, headers):
    model = models.get(key)
    if model is None:
        model = models[key] = PRESETS[os.environ["DL_PRESET"]]()
    x = event["features"]
    proba = model.predict_proba_one(x)
    prediction = model.predict_one(x)
    model.learn_one(x, event["label"])
    return {
        "event_id": event["event_id"],
        "device_id": event["device_id"],
        "prediction": prediction,
        "proba": {str(k): v for k, v in proba.items()},
    }


# Only what the benchmark sets; everything else at Quix's defaults.
tuned = {}
if "DL_GUARANTEE" in os.environ:
    tuned["processing_guarantee"] = os.environ["DL_GUARANTEE"]
if "DL_COMMIT_INTERVAL" in os.environ:
    tuned["commit_interval"] = float(os.environ["DL_COMMIT_INTERVAL"])
app = Application(
    broker_address=os.environ["DL_BOOTSTRAP"],
    consumer_group=os.environ["DL_GROUP"],
    auto_offset_reset="earliest",
    **tuned,
    loglevel="WARNING",
    state_dir=os.environ["DL_STATE_DIR"],
    # Sees the events when the benchmark commits them, as driftline's trainer does.
    consumer_extra_config={"isolation.level": "read_committed"},
)
events = app.topic(os.environ["DL_EVENTS"], value_deserializer="json", key_deserializer="str")
outcomes = app.topic(os.environ["DL_OUTCOMES"], value_serializer="json")
app.dataframe(events).apply(predict_then_learn, metadata=True).to_topic(outcomes)
app.run()
