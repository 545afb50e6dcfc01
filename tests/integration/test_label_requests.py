"""Label requests and the accuracy estimate through the real broker.

A trainer with a label budget asks for labels on its topic and at GET /label-requests; a label
event answering one is learned. A monitor publishes the accuracy expected from the predictions'
confidence on /metrics while their labels are still missing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka_helpers import TopicReader, produce
from monitor_fixtures import BINARY, monitor_settings, wait_for
from monitor_fixtures import produce as produce_outcomes
from prometheus_client.parser import text_string_to_metric_families
from river import datasets

from driftline.contracts import LabelEvent, LabelRequest, Outcome, SensorEvent
from driftline.httpserver import exposed_total
from driftline.monitor.service import MonitorService
from driftline.monitor.synthetic import outcomes
from driftline.trainer.runner import TrainerRunner

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TAUGHT, ASKED_FROM = 300, 400  # labelled warm-up events, then events whose labels are withheld
BUDGET = 0.1


def phishing_events() -> tuple[list[SensorEvent], dict[str, Any]]:
    events, truth = [], {}
    for i, (x, y) in enumerate(islice(datasets.Phishing(), TAUGHT + ASKED_FROM)):
        event_id = f"e{i}"
        truth[event_id] = y
        label = y if i < TAUGHT else None
        events.append(SensorEvent(event_id=event_id, device_id="d1", stream="phish", ts=T0 + timedelta(seconds=i),
                                  features=x, label=label))  # fmt: skip
    return events, truth


@pytest.fixture(scope="module")
def trainer_run(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from conftest import unique_topics
    from driftline.config import settings_from_dict
    from driftline.kafkaio.topics import ensure_topics

    x, _ = next(iter(datasets.Phishing()))
    settings = settings_from_dict(
        {
            "kafka": {"bootstrap_servers": bootstrap},
            "topics": unique_topics("ask"),
            "trainer": {"group_id": f"trainer-{uuid.uuid4().hex[:8]}"},
            "state_dir": str(tmp_path_factory.mktemp("ask")),
            "streams": {"phish": {"task": "binary", "features": {k: {} for k in x}, "label_budget": BUDGET}},
        },
        "test",
    )
    ensure_topics(bootstrap, settings.topics)
    events, truth = phishing_events()
    produce(bootstrap, settings.topics.events.name, (("phish", e) for e in events))
    outcomes_reader = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    requests_reader = TopicReader(bootstrap, settings.topics.label_requests.name, LabelRequest)
    with TrainerRunner(settings, bootstrap, port=0) as runner:
        outcomes_reader.count(len(events))
        yield {
            "settings": settings,
            "runner": runner,
            "truth": truth,
            "outcomes": outcomes_reader,
            "requests": requests_reader,
        }
    outcomes_reader.close()
    requests_reader.close()


def metric(runner: TrainerRunner, name: str) -> float:
    return exposed_total(httpx.get(f"{runner.url}/metrics").text, name, stream="phish")


def test_a_label_request_is_published_answered_by_a_label_event_and_learned(trainer_run: dict[str, Any]) -> None:
    runner, settings, truth = trainer_run["runner"], trainer_run["settings"], trainer_run["truth"]
    # The outcomes of every event are committed, and each request was in the same transaction as its outcome.
    issued = metric(runner, "driftline_trainer_label_requests_total")
    requests = trainer_run["requests"].count(int(issued))
    assert len(requests) == issued
    asked = [r.event_id for r in requests]
    assert len(set(asked)) == len(asked)
    # Only events waiting for their labels are asked about, within the budget.
    assert all(int(e[1:]) >= TAUGHT for e in asked)
    assert 0.7 * BUDGET * ASKED_FROM <= len(asked) <= BUDGET * ASKED_FROM

    listed = httpx.get(f"{runner.url}/label-requests", params={"stream": "phish", "limit": 1000})
    assert listed.status_code == 200
    assert [r["event_id"] for r in listed.json()] == asked  # the same requests, oldest first
    assert httpx.get(f"{runner.url}/label-requests", params={"stream": "nope"}).status_code == 404
    assert httpx.get(f"{runner.url}/label-requests", params={"stream": "phish", "limit": 0}).status_code == 422

    request = requests[0]
    learned = metric(runner, "driftline_trainer_events_learned_total")
    answer = LabelEvent(stream="phish", device_id=request.device_id, event_id=request.event_id,
                        label=truth[request.event_id], ts=T0 + timedelta(hours=1) - timedelta(seconds=1))  # fmt: skip
    produce(settings.kafka.bootstrap_servers, settings.topics.labels.name, [(request.model_key, answer)])

    def answered(seen: list[Outcome]) -> bool:
        return any(o.event_id == request.event_id and o.label is not None for o in seen)

    seen = trainer_run["outcomes"].until(answered)
    outcome = next(o for o in seen if o.event_id == request.event_id and o.label is not None)
    assert outcome.learned and outcome.label == truth[request.event_id]
    assert outcome.prediction == request.prediction and outcome.proba == request.proba
    assert metric(runner, "driftline_trainer_events_learned_total") == learned + 1
    assert metric(runner, "driftline_trainer_label_requests_answered_total") == 1
    left = httpx.get(f"{runner.url}/label-requests", params={"stream": "phish", "limit": 1000}).json()
    assert [r["event_id"] for r in left] == asked[1:]


def estimated(text: str) -> dict[str, float]:
    return {
        sample.labels["stream"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "driftline_accuracy_estimated" and sample.labels["method"] == "confidence"
    }


def realised(text: str) -> list[float]:
    return [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "driftline_accuracy"
    ]


def test_the_monitor_estimates_accuracy_before_the_labels_arrive(bootstrap: str, tmp_path: Path) -> None:
    settings = monitor_settings(bootstrap, tmp_path, {"rooms": BINARY}, monitor={"window": 100})
    labelled = list(outcomes(300, seed=8))
    predictions = [o.model_copy(update={"label": None, "learned": False, "outcome_id": f"{o.outcome_id}:p"})
                   for o in labelled]  # fmt: skip
    produce_outcomes(bootstrap, settings.topics.outcomes.name, predictions)
    with MonitorService(settings, bootstrap, port=0) as service:
        wait_for(lambda: service.state.accepted[("rooms", "logistic")] == len(predictions), "the predictions")
        text = httpx.get(f"{service.url}/metrics").text
        confidence = [o.proba[str(o.prediction)] for o in predictions][-100:]
        assert estimated(text) == pytest.approx({"rooms": sum(confidence) / len(confidence)})
        assert realised(text) == []  # no label yet: nothing measured

        # The labels arrive: realised accuracy appears beside the estimate, which they do not change.
        late = [o.model_copy(update={"label_delay_s": 30.0}) for o in labelled]
        produce_outcomes(bootstrap, settings.topics.outcomes.name, late)
        wait_for(lambda: service.state.accepted[("rooms", "logistic")] == 2 * len(labelled), "the labels")
        text = httpx.get(f"{service.url}/metrics").text
        assert estimated(text) == pytest.approx({"rooms": sum(confidence) / len(confidence)})
        right = [o.prediction == o.label for o in labelled][-100:]
        rolling = exposed_total(text, "driftline_accuracy", stream="rooms", estimate="prequential", window="rolling")
        assert rolling == pytest.approx(sum(right) / len(right))
