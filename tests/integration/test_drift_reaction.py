"""Concept drift end to end on the real broker: the trainer judges and reacts per model key, the monitor reports.

A model still learning (its error only falls) raises no alarm and is never reset; an abrupt change
on one device of a per-device stream resets that device's model alone and once, right after the
outcome that carries the detection to the monitor, which counts it.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from kafka_helpers import TopicReader, make_producer, produce, send
from monitor_fixtures import before_sentinel, wait_for
from river.datasets import synth

from driftline.contracts import DriftEvent, Outcome, SensorEvent
from driftline.httpserver import exposed_total
from driftline.monitor.service import MonitorService
from driftline.trainer.runner import TrainerRunner

pytestmark = pytest.mark.kafka
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def send_paced(bootstrap: str, topic: str, m1: list[SensorEvent], m2: list[SensorEvent], pace: float) -> None:
    """Both machines' events, 50 of each at a time at ``pace`` events/s: like live devices, so
    "soon after" is a number of events, not a race."""
    producer = make_producer(bootstrap)
    for start in range(0, max(len(m1), len(m2)), 50):
        for event in (*m1[start : start + 50], *m2[start : start + 50]):
            send(producer, topic, event, key=f"machines/{event.device_id}")
        producer.flush()
        time.sleep(50 / pace)
    producer.close()


def versions(trainer: TrainerRunner) -> dict[str, int]:
    return {m["model_key"]: m["model_version"] for m in httpx.get(f"{trainer.url}/models").json()}


def no_model_key_sentinel(stream: str) -> DriftEvent:
    """Bounds the drift topic for reading; names no model key, so the trainer ignores it."""
    return DriftEvent(
        drift_id=f"sentinel-{uuid.uuid4().hex}", drift_kind="data", stream=stream, model_key="(sentinel)",
        model_name="sentinel", model_version=1, detector="ADWIN", feature="none", position=0,
    )  # fmt: skip


def test_a_model_still_learning_raises_no_concept_alarm_and_is_never_reset(make_settings, bootstrap) -> None:
    # A Hoeffding tree learning Agrawal: its error falls for thousands of events. Two-sided ADWIN
    # flags that fall (tests/unit/test_monitor_detectors.py); driftline must not.
    rows = list(synth.Agrawal(classification_function=0, seed=1).take(8000))
    features = {name: {} for name in rows[0][0]}
    stream = {"task": "binary", "model": "tree.HoeffdingTreeClassifier()", "features": features}
    settings = make_settings({"plant": stream})
    events = [
        ("plant", SensorEvent(event_id=f"e{i}", device_id="line-1", stream="plant", ts=T0 + timedelta(seconds=i),
                              features=x, label=bool(y)))
        for i, (x, y) in enumerate(rows)
    ]  # fmt: skip
    drift = TopicReader(bootstrap, settings.topics.drift.name, DriftEvent)
    monitor = MonitorService(settings, bootstrap, port=0).start()
    try:
        with TrainerRunner(settings, bootstrap, port=0) as trainer:
            produce(bootstrap, settings.topics.events.name, events)
            wait_for(lambda: sum(monitor.state.accepted.values()) == len(events), "every outcome judged")
            alarms = before_sentinel(bootstrap, settings.topics.drift.name, drift, no_model_key_sentinel("plant"))
            assert [a for a in alarms if a.drift_kind == "concept"] == []
            assert versions(trainer) == {"plant": 1}
            # Not vacuous: the error did fall, and the trainer's detector saw it and kept quiet.
            assert trainer.core.keys["plant"].watch.detector.falls >= 1
    finally:
        monitor.stop()
        drift.close()


def machine_events(device: str, n: int, flip_at: int | None, seed: int) -> list[SensorEvent]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        x1, x2 = rng.random(), rng.random()
        above = x1 > x2
        events.append(
            SensorEvent(
                event_id=f"{device}-{i}",
                device_id=device,
                stream="machines",
                ts=T0 + timedelta(seconds=i),
                features={"x1": x1, "x2": x2},
                label=(not above) if flip_at is not None and i >= flip_at else above,
            )
        )
    return events


def test_an_abrupt_change_on_one_device_resets_that_device_alone_soon_after_its_detection(
    make_settings, bootstrap
) -> None:
    n, flip_at, pace = 3000, 1500, 500  # events per device; m2's concept flips; events/s per device
    stream = {"task": "binary", "scope": "device", "features": {"x1": {}, "x2": {}}, "drift": {"data": None}}
    settings = make_settings({"machines": stream})
    m1, m2 = machine_events("m1", n, None, seed=1), machine_events("m2", n, flip_at, seed=2)
    outcomes = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    drift = TopicReader(bootstrap, settings.topics.drift.name, DriftEvent)
    monitor = MonitorService(settings, bootstrap, port=0).start()
    try:
        with TrainerRunner(settings, bootstrap, port=0) as trainer:
            send_paced(bootstrap, settings.topics.events.name, m1, m2, pace)
            seen = outcomes.count(2 * n, timeout=120)
            wait_for(lambda: sum(monitor.state.accepted.values()) == 2 * n, "every outcome judged")
            alarms = before_sentinel(bootstrap, settings.topics.drift.name, drift, no_model_key_sentinel("machines"))
            assert versions(trainer) == {"machines/m1": 1, "machines/m2": 2}  # m2 reset once: no loop
    finally:
        monitor.stop()
        outcomes.close()
        drift.close()
    [detection] = [a for a in alarms if a.drift_kind == "concept" and a.level == "drift"]
    assert detection.model_key == "machines/m2" and detection.model_version == 1
    assert flip_at < detection.position < flip_at + 300  # the flip is found, and quickly
    m2_versions = [o.model_version for o in seen if o.device_id == "m2"]
    first_new = m2_versions.index(2)
    assert m2_versions[first_new:] == [2] * (n - first_new)
    # The trainer judged the same outcomes: its reset follows the very outcome the monitor reports.
    assert first_new == detection.position, (first_new, detection.position)
    assert {o.model_version for o in seen if o.device_id == "m1"} == {1}


def test_a_text_labelled_binary_stream_is_learned_and_scored_against_its_positive_class(
    make_settings, bootstrap
) -> None:
    stream = {"task": "binary", "classes": ["DOWN", "UP"], "positive": "UP", "features": {"momentum": {}}}
    settings = make_settings({"market": stream})
    rng = random.Random(21)
    events = []
    for i in range(3000):
        momentum = rng.uniform(-1, 1)
        label = "UP" if momentum > 0 else "DOWN"
        events.append(("market", SensorEvent(event_id=f"t{i}", device_id="ticker", stream="market",
                                             ts=T0 + timedelta(seconds=i), features={"momentum": momentum},
                                             label=label)))  # fmt: skip
    monitor = MonitorService(settings, bootstrap, port=0).start()
    try:
        with TrainerRunner(settings, bootstrap, port=0) as trainer:
            produce(bootstrap, settings.topics.events.name, events)
            wait_for(lambda: sum(monitor.state.accepted.values()) == len(events), "every outcome scored")
            assert monitor.state.dropped["unscorable"] == 0
            served = httpx.post(f"{trainer.url}/predict", json={"model_key": "market", "features": {"momentum": 0.9}})
            metrics = httpx.get(f"{monitor.url}/metrics").text
    finally:
        monitor.stop()
    assert served.json()["prediction"] == "UP" and set(served.json()["proba"]) == {"UP", "DOWN"}
    scores = {
        name: exposed_total(metrics, f"driftline_{name}", stream="market", estimate="prequential", window="cumulative")
        for name in ("accuracy", "precision", "recall", "f1")
    }
    # Scored as UP against DOWN: none of them stuck at 0, as when both strings counted as negative.
    assert all(0.9 < value <= 1.0 for value in scores.values()), scores
