"""Control commands, drift warnings, serving, holdout, promotion and dead letters, through the real broker."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from kafka import TopicPartition
from kafka_helpers import TopicReader, make_consumer, make_producer, produce
from river import datasets

from driftline.contracts import ControlAck, ControlCommand, Outcome, SensorEvent
from driftline.learning.holdout import is_holdout
from driftline.modelspec import build_model
from driftline.trainer.runner import TrainerRunner

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = list(datasets.Phishing())
FEATURES = {name: {} for name in ROWS[0][0]}


def phishing_events(start: int, stop: int, stream: str = "phish", device: str = "d1") -> list[tuple[str, SensorEvent]]:
    return [
        (
            stream,
            SensorEvent(
                event_id=f"e{i}",
                device_id=device,
                stream=stream,
                ts=T0 + timedelta(seconds=i),
                features=ROWS[i][0],
                label=ROWS[i][1],
            ),
        )
        for i in range(start, stop)
    ]


def command(action: str, **fields: Any) -> ControlCommand:
    return ControlCommand(
        command_id=fields.pop("command_id", uuid.uuid4().hex), action=action, stream="phish", issuer="test", **fields
    )


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def models(url: str) -> dict[str, dict[str, Any]]:
    return {m["model_key"]: m for m in httpx.get(f"{url}/models").json()}


def test_each_control_command(make_settings, bootstrap) -> None:
    settings = make_settings({"phish": {"task": "binary", "model": "logistic", "features": FEATURES}})
    topics = settings.topics
    outcomes = TopicReader(bootstrap, topics.outcomes.name, Outcome)
    acks = TopicReader(bootstrap, topics.acks.name, ControlAck)

    def send_command(cmd: ControlCommand) -> list[ControlAck]:
        produce(bootstrap, topics.control.name, [("phish", cmd)])
        return [
            a
            for a in acks.until(lambda seen: any(a.command_id == cmd.command_id for a in seen))
            if a.command_id == cmd.command_id
        ]

    with TrainerRunner(settings, bootstrap, port=0) as runner:
        produce(bootstrap, topics.events.name, phishing_events(0, 100))
        outcomes.count(100)

        # snapshot: a file on disk, the version unchanged
        [ack] = send_command(command("snapshot", reason="before experiments"))
        assert (ack.status, ack.model_version) == ("applied", 1)
        assert ack.detail.startswith("snapshot ") and ack.detail.endswith("-v00001-000000000100.pkl")
        snapshot_probe = runner.core.slots["phish"].served.model.predict_proba_one(ROWS[500][0])

        produce(bootstrap, topics.events.name, phishing_events(100, 200))
        outcomes.count(200)
        assert models(runner.url)["phish"]["learned"] == 200

        # cold reset: a fresh model, version 2, and outcomes say so
        [ack] = send_command(command("reset", mode="cold", reason="drift"))
        assert (ack.status, ack.model_version, ack.detail) == ("applied", 2, "cold reset")
        fresh = build_model("logistic").predict_proba_one(ROWS[500][0])
        assert runner.core.slots["phish"].served.model.predict_proba_one(ROWS[500][0]) == fresh
        produce(bootstrap, topics.events.name, phishing_events(200, 210))
        assert {o.model_version for o in outcomes.count(210)[200:]} == {2}

        # the same command id again changes nothing
        duplicate = command("reset", mode="cold", command_id=ack.command_id)
        produce(bootstrap, topics.control.name, [("phish", duplicate)])
        acks.until(lambda seen: sum(a.command_id == ack.command_id for a in seen) == 2)
        assert acks.seen[-1].status == "duplicate"
        assert models(runner.url)["phish"]["model_version"] == 2

        # rollback: the snapshot's model is served again, as version 3
        [ack] = send_command(command("rollback", reason="reset was a mistake"))
        assert (ack.status, ack.model_version) == ("applied", 3)
        assert runner.core.slots["phish"].served.model.predict_proba_one(ROWS[500][0]) == snapshot_probe

        # warm reset: without a background model (the trainer starts one on its own concept-drift
        # warning, tests/unit/test_trainer_drift.py) it is a cold one
        [ack] = send_command(command("reset", mode="warm"))
        assert (ack.status, ack.model_version, ack.detail) == ("applied", 4, "cold reset")
        assert runner.core.slots["phish"].served.model.predict_proba_one(ROWS[500][0]) == fresh

        # a model key this trainer does not hold
        [ack] = send_command(command("reset", model_key="phish/nobody"))
        assert ack.status == "ignored"

        metrics = httpx.get(f"{runner.url}/metrics").text
    outcomes.close()
    acks.close()
    assert 'driftline_trainer_commands_total{action="reset",status="applied",stream="phish"} 2.0' in metrics
    assert 'driftline_trainer_commands_total{action="reset",status="duplicate",stream="phish"} 1.0' in metrics
    assert 'driftline_trainer_model_version{model_key="phish",stream="phish"} 4.0' in metrics


def test_serving_endpoint_answers_with_the_current_model(make_settings, bootstrap) -> None:
    settings = make_settings({"phish": {"task": "binary", "model": "logistic", "features": FEATURES}})
    reference = build_model("logistic")
    for x, y in ROWS[:300]:
        reference.learn_one(x, y)
    reader = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    with TrainerRunner(settings, bootstrap, port=0) as runner:
        produce(bootstrap, settings.topics.events.name, phishing_events(0, 300))
        reader.count(300)
        answer = httpx.post(f"{runner.url}/predict", json={"model_key": "phish", "features": ROWS[900][0]})
        unknown = httpx.post(f"{runner.url}/predict", json={"model_key": "phish/x", "features": ROWS[900][0]})
        bad = httpx.post(f"{runner.url}/predict", json={"model_key": "phish", "features": {"https": [1]}})
        openapi = httpx.get(f"{runner.url}/openapi.json")
    reader.close()
    assert openapi.status_code == 200 and {"/predict", "/models", "/metrics"} <= set(openapi.json()["paths"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == 1 and body["model_name"] == "logistic"
    assert body["prediction"] == reference.predict_one(ROWS[900][0])
    assert body["proba"] == pytest.approx({str(k): v for k, v in reference.predict_proba_one(ROWS[900][0]).items()})
    assert unknown.status_code == 404 and "phish/x" in unknown.json()["detail"]
    assert bad.status_code == 422 and "features" in bad.text


def test_holdout_events_are_scored_but_never_learned(make_settings, bootstrap) -> None:
    fraction = 0.3
    settings = make_settings(
        {"phish": {"task": "binary", "model": "logistic", "features": FEATURES, "holdout_fraction": fraction}}
    )
    reader = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    with TrainerRunner(settings, bootstrap, port=0):
        produce(bootstrap, settings.topics.events.name, phishing_events(0, 600))
        outcomes = {o.event_id: o for o in reader.count(600)}
    reader.close()

    oracle = build_model("logistic")
    for i, (x, y) in enumerate(ROWS[:600]):
        outcome = outcomes[f"e{i}"]
        assert outcome.prediction == oracle.predict_one(x), i
        held = is_holdout(f"e{i}", fraction)
        assert (outcome.holdout, outcome.learned) == (held, not held)
        if not held:
            oracle.learn_one(x, y)
    assert 100 < sum(o.holdout for o in outcomes.values()) < 260


def test_challenger_that_does_better_is_promoted(make_settings, bootstrap) -> None:
    stream = {
        "task": "binary",
        "model": "dummy.NoChangeClassifier",
        "challengers": ["logistic"],
        "promote_window": 200,
        "features": FEATURES,
    }
    settings = make_settings({"phish": stream})
    reader = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    with TrainerRunner(settings, bootstrap, port=0) as runner:
        produce(bootstrap, settings.topics.events.name, phishing_events(0, 600))
        outcomes = reader.count(600)
        metrics = httpx.get(f"{runner.url}/metrics").text
    reader.close()
    served = [o.model_name for o in outcomes]
    assert served[0] == "dummy.NoChangeClassifier" and served[-1] == "logistic"
    assert 'driftline_trainer_promotions_total{model="logistic",stream="phish"} 1.0' in metrics


def test_bad_records_go_to_the_dead_letter_topic(make_settings, bootstrap) -> None:
    settings = make_settings({"phish": {"task": "binary", "model": "logistic", "features": FEATURES}})
    producer = make_producer(bootstrap)
    producer.send(settings.topics.events.name, key=b"phish", value=b'{"kind": "sensor_event", "ts": "nope"}')
    stray = SensorEvent(event_id="s1", device_id="d", stream="nostream", ts=T0, features={"a": 1})
    producer.send(settings.topics.events.name, key=b"nostream", value=stray.to_bytes())
    producer.flush()
    producer.close()
    reader = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    with TrainerRunner(settings, bootstrap, port=0):
        produce(bootstrap, settings.topics.events.name, phishing_events(0, 5))
        reader.count(5)  # the good events after the bad ones still flow
    reader.close()

    consumer = make_consumer(bootstrap, group_id=None, consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(settings.topics.deadletter.name, 0)])
    consumer.seek_to_beginning()
    # The two keys live in different partitions, so the letters may come in either order.
    letters = {r.value: dict(r.headers) for r in consumer}
    consumer.close()
    broken = b'{"kind": "sensor_event", "ts": "nope"}'
    assert set(letters) == {broken, stray.to_bytes()}
    first, second = letters[broken], letters[stray.to_bytes()]
    assert first["error"].startswith(b"invalid: ") and b"event_id: Field required" in first["error"]
    assert second["error"].startswith(b"unknown_stream") and second["stream"] == b"nostream"
    assert first["source"] == b"trainer:" + settings.topics.events.name.encode()


def test_a_failed_commit_shows_on_healthz_and_is_waited_out(make_settings, bootstrap, monkeypatch) -> None:
    from confluent_kafka import KafkaError, KafkaException

    from driftline.kafkaio.loop import StreamLoop

    settings = make_settings({"phish": {"task": "binary", "model": "logistic", "features": FEATURES}})
    commit = StreamLoop._commit
    failing = {"on": True}

    def unacknowledged(loop: StreamLoop, *args: Any, **kwargs: Any) -> None:
        if failing["on"] and loop._uncommitted:
            raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, "outcomes not acknowledged"))
        commit(loop, *args, **kwargs)

    reader = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    with TrainerRunner(settings, bootstrap, port=0) as runner:
        assert httpx.get(f"{runner.url}/healthz").status_code == 200
        monkeypatch.setattr(StreamLoop, "_commit", unacknowledged)
        produce(bootstrap, settings.topics.events.name, phishing_events(0, 3))
        wait_for(lambda: httpx.get(f"{runner.url}/healthz").status_code == 503)
        health = httpx.get(f"{runner.url}/healthz").json()
        assert "recovering from a Kafka fault" in health["problem"] and "outcomes not acknowledged" in health["problem"]
        assert runner.stopped() is None  # waited out, not fatal
        failing["on"] = False
        wait_for(lambda: httpx.get(f"{runner.url}/healthz").status_code == 200, timeout=60)
        seen = reader.count(3, timeout=60)
        seen = reader.drain(2.0)
        recoveries = runner.core.metrics.recoveries._value.get()
    reader.close()
    assert sorted(o.event_id for o in seen) == ["e0", "e1", "e2"]  # each once: the failed attempts left nothing
    assert recoveries >= 1


def test_commands_on_any_control_partition_are_applied(make_settings, bootstrap) -> None:
    settings = make_settings(
        {"phish": {"task": "binary", "model": "logistic", "features": FEATURES}},
    )
    topics = settings.topics.model_copy(
        update={"control": settings.topics.control.model_copy(update={"name": settings.topics.control.name + "-3p",
                                                                      "partitions": 3})}
    )  # fmt: skip
    settings = settings.model_copy(update={"topics": topics})
    from driftline.kafkaio.topics import ensure_topics

    ensure_topics(bootstrap, settings.topics)
    acks = TopicReader(bootstrap, topics.acks.name, ControlAck)
    outcomes = TopicReader(bootstrap, topics.outcomes.name, Outcome)
    with TrainerRunner(settings, bootstrap, port=0) as runner:
        produce(bootstrap, topics.events.name, phishing_events(0, 10))
        outcomes.count(10)
        producer = make_producer(bootstrap)
        producer.send(topics.control.name, key=b"phish", value=command("reset").to_bytes(), partition=2).get(10)
        producer.close()
        [ack] = acks.count(1)
        assert (ack.status, ack.model_version) == ("applied", 2)
        assert models(runner.url)["phish"]["model_version"] == 2
    acks.close()
    outcomes.close()
