"""Alert policy and webhook HTTP semantics, with a recording publisher instead of Kafka."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from driftline.config import settings_from_dict
from driftline.contracts import ControlCommand
from driftline.monitor.app import create_app
from driftline.monitor.webhook import AlertmanagerPayload, AlertPolicy, handle_notification

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIRING = json.loads((FIXTURES / "alertmanager_concept_drift_firing.json").read_text())


def streams(on_alert: str = "warm_reset", scope: str = "stream") -> dict:
    return settings_from_dict(
        {
            "streams": {
                "rooms": {"task": "binary", "scope": scope, "features": {"t": {}}, "drift": {"on_alert": on_alert}}
            }
        }
    ).streams


def decide(on_alert: str, labels: dict[str, str] | None = None, scope: str = "stream") -> list[ControlCommand]:
    payload = json.loads(json.dumps(FIRING))
    payload["alerts"][0]["labels"].update(labels or {})
    sent: list[ControlCommand] = []
    handle_notification(AlertPolicy(streams(on_alert, scope)), AlertmanagerPayload(**payload), sent.extend)
    return sent


def test_each_policy_maps_to_its_command() -> None:
    assert [(c.action, c.mode) for c in decide("cold_reset")] == [("reset", "cold")]
    assert [(c.action, c.mode) for c in decide("warm_reset")] == [("reset", "warm")]
    assert [c.action for c in decide("rollback")] == ["rollback"]
    assert decide("notify") == []


def test_alerts_without_the_reset_action_or_for_unknown_streams_do_nothing() -> None:
    assert decide("cold_reset", {"action": "notify"}) == []
    assert decide("cold_reset", {"stream": "nowhere"}) == []


def test_what_was_done_is_counted_by_result() -> None:
    policy = AlertPolicy(streams("cold_reset"))
    for action in ("notify", "reset", "something-else"):
        payload = json.loads(json.dumps(FIRING))
        payload["alerts"][0]["labels"]["action"] = action
        payload["alerts"][0]["fingerprint"] = action  # three different alerts
        handle_notification(policy, AlertmanagerPayload(**payload), lambda commands: None)
    assert policy.counts == {"notify": 1, "command": 1, "ignored": 1}


def test_a_device_label_targets_that_model_key_on_per_device_streams() -> None:
    assert [c.model_key for c in decide("cold_reset", {"device": "d7"}, scope="device")] == ["rooms/d7"]
    assert [c.model_key for c in decide("cold_reset", {"device": "d7"})] == [None]


def test_a_failed_publish_leaves_the_alert_for_alertmanager_to_retry() -> None:
    policy = AlertPolicy(streams())

    def broken(_: list[ControlCommand]) -> None:
        raise ConnectionError("broker down")

    with contextlib.suppress(ConnectionError):
        handle_notification(policy, AlertmanagerPayload(**FIRING), broken)
    sent: list[ControlCommand] = []
    handle_notification(policy, AlertmanagerPayload(**FIRING), sent.extend)
    assert len(sent) == 1


def test_http_auth_idempotence_and_resolved() -> None:
    sent: list[ControlCommand] = []
    client = TestClient(create_app(CollectorRegistry(), AlertPolicy(streams()), sent.extend, token="s3cret"))
    assert client.post("/alerts", json=FIRING).status_code == 401
    assert client.post("/alerts", json=FIRING, headers={"Authorization": "Basic s3cret"}).status_code == 401
    ok = {"Authorization": "Bearer s3cret"}
    assert client.post("/alerts", json=FIRING, headers=ok).json()["results"] == {"command": 1}
    assert client.post("/alerts", json=FIRING, headers=ok).json()["results"] == {"duplicate": 1}
    resolved = json.loads((FIXTURES / "alertmanager_concept_drift_resolved.json").read_text())
    assert client.post("/alerts", json=resolved, headers=ok).json()["results"] == {"resolved": 1}
    assert len(sent) == 1
    with pytest.raises(ValueError, match="token"):  # no token would be a webhook open to anyone
        create_app(CollectorRegistry(), AlertPolicy(streams()), sent.extend, token="")


def test_a_model_key_label_no_command_can_carry_is_ignored_with_a_reason() -> None:
    payload = json.loads(json.dumps(FIRING))
    payload["alerts"][0]["labels"]["model_key"] = "k" * 201
    sent: list[ControlCommand] = []
    policy = AlertPolicy(streams())
    result = handle_notification(policy, AlertmanagerPayload(**payload), sent.extend)
    assert sent == [] and [d.result for d in result.decisions] == ["ignored"]
    assert "model_key" in result.summary()["reasons"][0]
    # Handled: Alertmanager's repeat notification is a duplicate, not another failure.
    again = handle_notification(policy, AlertmanagerPayload(**payload), sent.extend)
    assert [d.result for d in again.decisions] == ["duplicate"]


def test_the_token_is_checked_before_the_body() -> None:
    client = TestClient(create_app(CollectorRegistry(), AlertPolicy(streams()), [].extend, token="s3cret"))
    garbage = client.post("/alerts", content=b"{not json", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 401 and "version" not in garbage.text
    assert client.post("/alerts", json={"version": "3"}).status_code == 401
    ok = {"Authorization": "Bearer s3cret"}
    not_json = client.post("/alerts", content=b"{not json", headers=ok)
    assert not_json.status_code == 422 and "not JSON" in not_json.json()["detail"]
    v3 = client.post("/alerts", json={"version": "3", "status": "firing", "alerts": []}, headers=ok)
    assert v3.status_code == 422 and "version 4" in v3.json()["detail"] and "version:" in v3.json()["detail"]


def test_healthz_reports_the_problem_with_503() -> None:
    problem: list[str] = []
    app = create_app(
        CollectorRegistry(), AlertPolicy(streams()), [].extend, "t", lambda: problem[0] if problem else None
    )
    client = TestClient(app)
    assert client.get("/healthz").status_code == 200
    problem.append("outcome consumer stopped: KafkaError: gone")
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json()["problem"] == problem[0]
