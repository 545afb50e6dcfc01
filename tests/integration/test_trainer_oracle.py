"""Correctness oracle: the trainer behind a real Kafka scores exactly what River's own evaluation does."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka_helpers import TopicReader, produce
from river import datasets, evaluate, metrics

from driftline.contracts import LabelEvent, Outcome, SensorEvent
from driftline.modelspec import build_model
from driftline.trainer.runner import TrainerRunner

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LOGISTIC = "preprocessing.StandardScaler | linear_model.LogisticRegression"
LINEAR = "preprocessing.StandardScaler | linear_model.LinearRegression"


def stream_for(rows: list[tuple[dict[str, Any], Any]], task: str, model: str) -> dict[str, Any]:
    # Features declared in the dataset's own order, without ranges: cleaning leaves values as they are.
    return {"task": task, "model": model, "features": {name: {"missing": "keep"} for name in rows[0][0]}}


def events(rows: list[tuple[dict[str, Any], Any]], stream: str, with_labels: bool) -> list[SensorEvent]:
    return [
        SensorEvent(
            event_id=f"e{i}",
            device_id="d1",
            stream=stream,
            ts=T0 + timedelta(seconds=i),
            features=x,
            label=y if with_labels else None,
        )
        for i, (x, y) in enumerate(rows)
    ]


def score(outcomes: list[Outcome], metric: metrics.base.Metric) -> metrics.base.Metric:
    labelled = sorted((o for o in outcomes if o.label is not None), key=lambda o: int(o.event_id[1:]))
    for outcome in labelled:
        metric.update(outcome.label, outcome.prediction)
    return metric


@pytest.mark.parametrize(
    ("dataset", "task", "model", "metric"),
    [
        (datasets.Phishing, "binary", LOGISTIC, metrics.Accuracy),
        (datasets.TrumpApproval, "regression", LINEAR, metrics.MAE),
    ],
    ids=["phishing-accuracy", "trump-approval-mae"],
)
def test_prequential_score_equals_progressive_val_score(make_settings, bootstrap, dataset, task, model, metric) -> None:
    rows = list(dataset())
    settings = make_settings({"oracle": stream_for(rows, task, model)})
    produce(bootstrap, settings.topics.events.name, (("oracle", e) for e in events(rows, "oracle", True)))

    reader = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    with TrainerRunner(settings, bootstrap, port=0):
        outcomes = reader.count(len(rows))
    reader.close()

    assert len({o.outcome_id for o in outcomes}) == len(rows)
    assert all(o.learned and o.model_version == 1 for o in outcomes)
    expected = evaluate.progressive_val_score(dataset(), build_model(model), metric())
    got = score(outcomes, metric())
    assert got.get() == pytest.approx(expected.get(), abs=1e-9)


def test_delayed_labels_equal_river_with_the_same_schedule(make_settings, bootstrap) -> None:
    """Events first, their labels later as LabelEvents, shuffled, one chunk behind the events."""
    rows = list(datasets.Phishing())
    chunk = 125
    settings = make_settings({"phish": {**stream_for(rows, "binary", LOGISTIC), "label_ttl_s": 3600}})
    all_events = events(rows, "phish", with_labels=False)
    rng = random.Random(7)
    chunks = [list(range(i, min(i + chunk, len(rows)))) for i in range(0, len(rows), chunk)]
    label_orders = [rng.sample(c, len(c)) for c in chunks]

    # The oracle: River itself, following the same schedule of predictions and learning.
    oracle, predictions = build_model(LOGISTIC), {}
    for k, indices in enumerate(chunks):
        for i in indices:
            predictions[i] = oracle.predict_one(rows[i][0])
        if k > 0:
            for i in label_orders[k - 1]:
                oracle.learn_one(*rows[i])
    for i in label_orders[-1]:
        oracle.learn_one(*rows[i])
    expected = metrics.Accuracy()
    for i, (_, y) in enumerate(rows):
        expected.update(y, predictions[i])

    def label(i: int) -> LabelEvent:
        ts = T0 + timedelta(seconds=i + 300)
        return LabelEvent(stream="phish", device_id="d1", event_id=f"e{i}", label=rows[i][1], ts=ts)

    reader = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    with TrainerRunner(settings, bootstrap, port=0):
        sent_predictions = 0
        for k, indices in enumerate(chunks):
            produce(bootstrap, settings.topics.events.name, (("phish", all_events[i]) for i in indices))
            sent_predictions += len(indices)
            # Wait until this chunk is predicted, so the labels below cannot overtake its events.
            reader.until(lambda seen, n=sent_predictions: sum(o.label is None for o in seen) >= n)
            if k > 0:
                produce(bootstrap, settings.topics.labels.name, (("phish", label(i)) for i in label_orders[k - 1]))
        produce(bootstrap, settings.topics.labels.name, (("phish", label(i)) for i in label_orders[-1]))
        outcomes = reader.count(2 * len(rows))
    reader.close()

    labelled = [o for o in outcomes if o.label is not None]
    assert len(labelled) == len(rows)
    assert all(o.learned and o.label_delay_s == 300 for o in labelled)
    assert score(outcomes, metrics.Accuracy()).get() == pytest.approx(expected.get(), abs=1e-9)
    # And the delay matters: this is not the score of learning every label at once.
    undelayed = evaluate.progressive_val_score(datasets.Phishing(), build_model(LOGISTIC), metrics.Accuracy())
    assert expected.get() != undelayed.get()
