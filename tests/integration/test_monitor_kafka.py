"""The monitor against the real broker: drift detections, metrics, and the alert webhook."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import httpx
import pytest
from kafka_helpers import TopicReader
from monitor_fixtures import (
    BINARY,
    FIXTURES,
    before_sentinel,
    monitor_settings,
    produce,
    sentinel_command,
    sentinel_drift,
    wait_for,
)
from prometheus_client.parser import text_string_to_metric_families

from driftline.contracts import ControlCommand, DriftEvent, Outcome
from driftline.httpserver import exposed_total
from driftline.monitor.service import MonitorService
from driftline.monitor.synthetic import outcomes
from driftline.processes import find_program

N, CHANGE = 3000, 1500
pytestmark = pytest.mark.kafka


def carried(stream: str, kind: str, level: str, position: int, feature: str | None = None) -> DriftEvent:
    """A detection as the trainer makes it at an outcome and carries it there."""
    return DriftEvent(
        drift_id=f"{stream}:v1:{kind}:{feature or '-'}:{level}:{position}",
        drift_kind=kind,  # type: ignore[arg-type]
        level=level,  # type: ignore[arg-type]
        stream=stream,
        model_key=stream,
        model_name="logistic",
        model_version=1,
        detector="ADWIN",
        feature=feature,
        position=position,
    )


def with_drift(outcomes: Iterator[Outcome], at: dict[int, list[DriftEvent]]) -> Iterator[Outcome]:
    for i, outcome in enumerate(outcomes):
        yield outcome.model_copy(update={"drift": at[i]}) if i in at else outcome


@pytest.fixture(scope="module")
def run(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One monitor fed three streams: a concept change the trainer warned of and detected, a stationary one,
    a shifting sensor; the trainer's detections ride on the outcomes it made them at."""
    settings = monitor_settings(
        bootstrap,
        tmp_path_factory.mktemp("monitor"),
        {"rooms": BINARY, "halls": BINARY, "lab": BINARY},
        # As behind an at-least-once trainer, whose redelivered outcomes the monitor must drop.
        monitor={"dedupe": "on"},
    )
    rooms = with_drift(
        outcomes(N, stream="rooms", error_before=0.1, error_after=0.5, change_at=CHANGE, seed=1),
        {
            CHANGE + 90: [carried("rooms", "concept", "warning", 90)],
            CHANGE + 180: [carried("rooms", "concept", "drift", 180)],
        },
    )
    lab = list(
        with_drift(outcomes(N, stream="lab", seed=3), {CHANGE + 40: [carried("lab", "data", "drift", 40, "humidity")]})
    )
    stream = chain(
        rooms,
        outcomes(N, stream="halls", seed=2),
        lab,
        # Duplicates (a redelivered batch) must change nothing; a drift one carries is not counted twice.
        outcomes(200, stream="halls", seed=2),
        [lab[CHANGE + 40]],
    )
    produce(bootstrap, settings.topics.outcomes.name, stream)
    drift = TopicReader(bootstrap, settings.topics.drift.name, DriftEvent)
    control = TopicReader(bootstrap, settings.topics.control.name, ControlCommand)
    with MonitorService(settings, bootstrap, port=0) as service:
        state = service.state
        wait_for(lambda: sum(state.accepted.values()) + state.dropped["duplicate"] == 3 * N + 201, "all outcomes")
        # The monitor publishes no drift event (the trainer does): a sentinel bounds the topic, so
        # "nothing" is checked, not assumed.
        events = before_sentinel(bootstrap, settings.topics.drift.name, drift, sentinel_drift("halls"))
        metrics_text = httpx.get(f"{service.url}/metrics").text
        health = httpx.get(f"{service.url}/healthz")
        yield {
            "settings": settings,
            "service": service,
            "events": events,
            "metrics": metrics_text,
            "health": health,
            "control": control,
        }
    drift.close()
    control.close()


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def drift_counter(text: str, **labels: str) -> float:
    return exposed_total(text, "driftline_drift_detected_total", **labels)


def test_the_monitor_counts_the_trainers_detections_and_publishes_none(run: dict) -> None:
    assert run["events"] == []
    assert drift_counter(run["metrics"], stream="rooms", kind="concept") == 1
    assert exposed_total(run["metrics"], "driftline_drift_warnings_total", stream="rooms", kind="concept") == 1
    last = samples(run["metrics"], "driftline_drift_last_detected_timestamp_seconds")
    assert set(last) == {
        (("detector", "ADWIN"), ("feature", ""), ("kind", "concept"), ("model", "logistic"), ("stream", "rooms")),
        (("detector", "ADWIN"), ("feature", "humidity"), ("kind", "data"), ("model", "logistic"), ("stream", "lab")),
    }


def test_a_stationary_stream_counts_no_detection_and_duplicates_are_dropped(run: dict) -> None:
    # Exposed at 0 from the stream's first outcome, so increase() catches the first detection.
    assert samples(run["metrics"], "driftline_drift_detected_total")[
        (("detector", "ADWIN"), ("feature", ""), ("kind", "concept"), ("model", "logistic"), ("partition", "0"),
         ("stream", "halls"))
    ] == 0  # fmt: skip
    assert drift_counter(run["metrics"], stream="halls") == 0
    assert exposed_total(run["metrics"], "driftline_drift_warnings_total", stream="halls") == 0
    assert (
        samples(run["metrics"], "driftline_monitor_outcomes_dropped_total")[
            (("partition", "0"), ("reason", "duplicate"))
        ]
        == 201
    )


def test_a_shifting_sensor_counts_one_data_drift_naming_it(run: dict) -> None:
    assert drift_counter(run["metrics"], stream="lab", kind="data", feature="humidity") == 1
    assert drift_counter(run["metrics"], stream="lab", kind="data", feature="temperature") == 0
    assert drift_counter(run["metrics"], stream="lab", kind="concept") == 0


def test_metrics_carry_scores_per_stream_and_window(run: dict) -> None:
    accuracy = samples(run["metrics"], "driftline_accuracy")
    halls = dict(accuracy)[
        (("estimate", "prequential"), ("model", "logistic"), ("stream", "halls"), ("window", "cumulative"))
    ]
    assert 0.87 < halls < 0.93  # the synthetic model is right 90% of the time
    rooms_rolling = dict(accuracy)[
        (("estimate", "prequential"), ("model", "logistic"), ("stream", "rooms"), ("window", "rolling"))
    ]
    assert rooms_rolling < 0.6  # the last window is all after the change


def test_promtool_check_metrics_passes_on_the_scraped_metrics(run: dict) -> None:
    result = subprocess.run(
        [find_program("promtool"), "check", "metrics"], input=run["metrics"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def post(run: dict, name: str, token: str | None = "test-token-123") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = json.loads((FIXTURES / name).read_text())
    return httpx.post(f"{run['service'].url}/alerts", json=payload, headers=headers)


def test_healthz_is_ok_while_the_consumer_runs(run: dict) -> None:
    assert run["health"].status_code == 200 and run["service"].problem() is None


def test_the_webhook_turns_a_firing_alert_into_one_reset_command(run: dict, bootstrap: str) -> None:
    settings = run["settings"]
    control: TopicReader = run["control"]
    topic = settings.topics.control.name
    assert post(run, "alertmanager_concept_drift_firing.json", token=None).status_code == 401
    assert post(run, "alertmanager_concept_drift_firing.json", token="wrong").status_code == 401
    assert before_sentinel(bootstrap, topic, control, sentinel_command("rooms")) == []

    first = post(run, "alertmanager_concept_drift_firing.json")
    assert first.status_code == 200 and first.json()["results"] == {"command": 1}
    again = post(run, "alertmanager_concept_drift_firing.json")
    assert again.json() == {"commands": [], "results": {"duplicate": 1}}
    resolved = post(run, "alertmanager_concept_drift_resolved.json")
    assert resolved.json() == {"commands": [], "results": {"resolved": 1}}

    sent = before_sentinel(bootstrap, topic, control, sentinel_command("rooms"))
    assert len(sent) == 2 and sent[0].command_id.startswith("sentinel-")  # the first sentinel, then one command
    command = sent[1]
    # rooms keeps the default policy, cold_reset, and the alert names no model key: every key.
    assert (command.action, command.mode, command.stream, command.model_key) == ("reset", "cold", "rooms", None)
    assert command.command_id == first.json()["commands"][0]
    assert "DriftlineConceptDrift" in command.reason


def test_a_payload_that_is_not_alertmanager_v4_is_refused(run: dict) -> None:
    response = httpx.post(
        f"{run['service'].url}/alerts",
        json={"version": "3", "status": "firing", "alerts": []},
        headers={"Authorization": "Bearer test-token-123"},
    )
    assert response.status_code == 422
    assert "version" in response.text
    # Without the token nothing is validated: the caller learns nothing about the schema.
    garbage = httpx.post(f"{run['service'].url}/alerts", content=b"\x00garbage")
    assert garbage.status_code == 401


def test_fixture_payloads_are_real_shaped() -> None:
    payload = json.loads((FIXTURES / "alertmanager_concept_drift_firing.json").read_text())
    assert {"version", "groupKey", "truncatedAlerts", "status", "receiver", "alerts", "externalURL"} <= set(payload)
    assert Path(FIXTURES / "alertmanager_concept_drift_resolved.json").exists()
