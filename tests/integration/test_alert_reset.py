"""A recorded Alertmanager payload, posted to the monitor's webhook, resets the trainer's model."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from kafka_helpers import TopicReader, produce
from monitor_fixtures import FIXTURES

from driftline.contracts import ControlAck, ControlCommand, Outcome, SensorEvent
from driftline.monitor.service import MonitorService
from driftline.trainer.runner import TrainerRunner

ROOMS = {"task": "binary", "model": "logistic", "features": {"temperature": {}, "humidity": {}}}
TOKEN = "recorded-payload-token"


def rooms_events(n: int) -> list[tuple[str, SensorEvent]]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        (
            "rooms",
            SensorEvent(
                event_id=f"e{i}",
                device_id="room-1",
                stream="rooms",
                ts=t0 + timedelta(seconds=i),
                features={"temperature": 20.0 + i % 7, "humidity": 40.0 + i % 5},
                label=i % 7 > 3,
            ),
        )
        for i in range(n)
    ]


def version(runner: TrainerRunner) -> int:
    [model] = httpx.get(f"{runner.url}/models").json()
    return model["model_version"]


def test_recorded_payload_resets_once_and_only_when_firing(make_settings, bootstrap) -> None:
    settings = make_settings({"rooms": ROOMS}, monitor={"port": 0, "webhook_token": TOKEN})
    firing = json.loads((FIXTURES / "alertmanager_concept_drift_firing.json").read_text())
    resolved = json.loads((FIXTURES / "alertmanager_concept_drift_resolved.json").read_text())
    outcomes = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    acks = TopicReader(bootstrap, settings.topics.acks.name, ControlAck)
    commands = TopicReader(bootstrap, settings.topics.control.name, ControlCommand)
    monitor = MonitorService(settings, bootstrap).start()
    try:
        with TrainerRunner(settings, bootstrap, port=0) as trainer:
            produce(bootstrap, settings.topics.events.name, rooms_events(50))
            outcomes.count(50)
            assert version(trainer) == 1

            def post(payload: dict, token: str | None = TOKEN) -> httpx.Response:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return httpx.post(f"{monitor.url}/alerts", json=payload, headers=headers, timeout=10)

            assert post(firing, token=None).status_code == 401
            assert post(firing, token="wrong").status_code == 401

            assert post(firing).status_code == 200
            [ack] = acks.until(lambda seen: len(seen) >= 1)
            assert (ack.action, ack.status, ack.model_key, ack.model_version) == ("reset", "applied", "rooms", 2)
            assert version(trainer) == 2

            assert post(firing).status_code == 200  # the same alert again
            assert post(resolved).status_code == 200
            # Nothing more may arrive: read until the control topic stays quiet for 3 s.
            assert len(commands.drain(idle_s=3)) == 1
            assert len(acks.drain(idle_s=1)) == 1
            assert version(trainer) == 2
    finally:
        monitor.stop()
        for reader in (outcomes, acks, commands):
            reader.close()
