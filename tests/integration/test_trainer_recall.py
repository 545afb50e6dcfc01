"""A recurring concept recalled from the model key's library on the real broker: the trainer keeps the model a drift
replaced, and when its concept comes back that model serves again, as its outcomes, `/models` and `/metrics` show."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from kafka_helpers import TopicReader, produce

from driftline.contracts import Outcome, SensorEvent
from driftline.httpserver import exposed_total
from driftline.trainer.runner import TrainerRunner

pytestmark = pytest.mark.kafka
T0 = datetime(2026, 2, 1, tzinfo=UTC)
PERIOD = 2000  # events per concept: A (the label is x > 0.5), B (its opposite), A again


def recurring_events() -> list[tuple[str, SensorEvent]]:
    rng = random.Random(0)
    events = []
    for i in range(3 * PERIOD):
        x = rng.random()
        label = (x > 0.5) if (i // PERIOD) % 2 == 0 else (x <= 0.5)
        event = SensorEvent(event_id=f"e{i}", device_id="line-1", stream="plant", ts=T0 + timedelta(seconds=i),
                            features={"x": x}, label=label)  # fmt: skip
        events.append(("plant", event))
    return events


def test_a_recurring_concept_is_recalled_from_the_library_and_serves(make_settings, bootstrap) -> None:
    stream = {"task": "binary", "features": {"x": {}}, "drift": {"data": None, "library": 2, "recall_window": 200}}
    settings = make_settings({"plant": stream})
    events = recurring_events()
    outcomes = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    try:
        with TrainerRunner(settings, bootstrap, port=0) as trainer:
            produce(bootstrap, settings.topics.events.name, events)
            seen = outcomes.count(len(events), timeout=120)
            [model] = httpx.get(f"{trainer.url}/models").json()
            metrics = httpx.get(f"{trainer.url}/metrics").text
    finally:
        outcomes.close()
    # v1 learned A; B's drift kept it in the library (v2 served B); A's drift kept v2 (v3 began a trial); after the
    # trial's 200 labels v1's model, which knew A, beat v3 and serves as v4.
    assert (model["model_version"], model["recalled_from"], model["library"], model["trial"]) == (4, 1, [2, 3], None)
    assert exposed_total(metrics, "driftline_trainer_drift_reactions_total", stream="plant", action="recall") == 1
    versions = [o.model_version for o in sorted(seen, key=lambda o: o.event_ts)]
    first = versions.index(4)
    assert 2 * PERIOD + 200 < first < 2 * PERIOD + 700 and versions[first:] == [4] * (len(versions) - first)
    recalled = [o for o in seen if o.model_version == 4]
    # Serving from its first outcome with what it learned of A two thousand events before.
    assert sum(o.prediction == o.label for o in recalled[:500]) / 500 > 0.95
