"""The monitor with the real Prometheus and Alertmanager: dashboards' queries and the full alert path.

Prometheus scrapes a real monitor fed through the real broker; a concept drift the trainer
detected (carried on an outcome) makes the DriftlineConceptDrift rule fire and Alertmanager
deliver it to the webhook, which counts it as a notification and publishes no command (the trainer
reacts to the detection itself; the recorded payload test covers alerts that do reset). Then every
Grafana query on the monitor's metrics (panels, variables, annotations) is run against that
Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_queries import dashboard_queries, has_data
from kafka_helpers import TopicReader
from monitor_fixtures import BINARY, before_sentinel, monitor_settings, produce, sentinel_command, wait_for

from driftline import assets
from driftline.contracts import ControlCommand, DriftEvent, Outcome
from driftline.monitor.service import MonitorService
from driftline.monitor.synthetic import START, outcomes
from driftline.ops.alertmanager import alertmanager_process
from driftline.ops.prometheus import ScrapeTargets, prometheus_process, url_of

pytestmark = pytest.mark.kafka
#: Metrics of the services this test does not run.
OTHER_SERVICES = ("driftline_trainer_", "driftline_collector_")


def regression_outcomes(n: int, stream: str = "plant") -> Iterator[Outcome]:
    """Delayed labels: each event first as a prediction, then labelled; every tenth is a holdout.

    Halfway, the pressure sensor reads 5 higher: the trainer's data drift, carried on that event's
    prediction outcome, for the dashboards' annotation.
    """
    for i in range(n):
        ts = START + timedelta(seconds=i)
        common: dict[str, Any] = {
            "event_id": f"p{i}",
            "stream": stream,
            "device_id": "pump-1",
            "model_key": stream,
            "model_name": "linear",
            "model_version": 1,
            "prediction": 10.0 + (i % 7),
            "event_ts": ts,
            "ts": ts,
            "holdout": i % 10 == 0,
        }
        drift = [detection(stream, "data", i, "pressure")] if i == n // 2 + 40 else None
        yield Outcome(outcome_id=f"{stream}:p{i}:predicted", drift=drift, **common)
        yield Outcome(outcome_id=f"{stream}:p{i}:labelled", label=11.0 + (i % 5), label_delay_s=5.0 + i % 40, **common)


def detection(stream: str, kind: str, position: int, feature: str | None = None) -> DriftEvent:
    """A detection as the trainer carries it on the outcome it made it at."""
    return DriftEvent(
        drift_id=f"{stream}:v1:{kind}:{feature or '-'}:drift:{position}",
        drift_kind=kind,  # type: ignore[arg-type]
        stream=stream,
        model_key=stream,
        model_name="linear" if stream == "plant" else "logistic",
        model_version=1,
        detector="ADWIN",
        feature=feature,
        position=position,
    )


def query(prometheus: str, expr: str) -> dict[str, Any]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{expr}: {body}"
    return body["data"]


@pytest.fixture(scope="module")
def stack(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("monitor-stack")
    regression = {"task": "regression", "features": {"pressure": {}}}
    settings = monitor_settings(
        bootstrap, state, {"rooms": {**BINARY, "drift": {"on_alert": "cold_reset"}}, "plant": regression}
    )
    rooms = (
        o.model_copy(update={"drift": [detection("rooms", "concept", 1680)]}) if i == 1680 else o
        for i, o in enumerate(outcomes(3000, stream="rooms", error_before=0.1, error_after=0.5, change_at=1500, seed=1))
    )
    token_file = state / "webhook_token"
    token_file.write_text(settings.monitor.webhook_token.get_secret_value())
    with MonitorService(settings, bootstrap, port=0) as monitor:
        host = monitor.url.removeprefix("http://")
        alertmanager = alertmanager_process(
            state / "alertmanager", f"{monitor.url}/alerts", token_file, group_wait="1s", group_interval="1s"
        )
        with alertmanager:
            am_address = next(a for a in alertmanager.argv if a.startswith("--web.listen-address=")).split("=")[1]
            prometheus = prometheus_process(
                state / "prometheus", ScrapeTargets(monitor=host, alertmanager=am_address), scrape_interval="1s"
            )
            with prometheus:
                url = url_of(prometheus)
                # Before the change: Prometheus must see the drift counter at 0, so increase() sees it rise.
                produce(bootstrap, settings.topics.outcomes.name, islice(rooms, 1500))
                wait_for(lambda: sum(monitor.state.accepted.values()) == 1500, "the first outcomes")
                zero = 'driftline_drift_detected_total{stream="rooms",kind="concept"} == 0'
                wait_for(lambda: bool(query(url, zero)["result"]), "a scrape of the drift counter at 0")
                produce(bootstrap, settings.topics.outcomes.name, [*rooms, *regression_outcomes(300)])
                control = TopicReader(bootstrap, settings.topics.control.name, ControlCommand)
                wait_for(
                    lambda: (
                        bool(query(url, 'driftline_webhook_alerts_total{result="notify"} > 0')["result"])
                        and bool(query(url, "sum(driftline_monitor_outcomes_total) == 3600")["result"])
                    ),
                    "the alert at the webhook, and Prometheus to scrape the final state",
                    timeout=180,
                )
                # Up to a sentinel: the webhook published no command of its own.
                sent = before_sentinel(bootstrap, settings.topics.control.name, control, sentinel_command("rooms"))
                control.close()
                yield {"settings": settings, "prometheus": url, "commands": sent, "monitor": monitor}


def test_a_firing_drift_alert_travels_through_alertmanager_to_the_webhook_as_a_notification(
    stack: dict[str, Any],
) -> None:
    assert stack["commands"] == []
    alerts = query(stack["prometheus"], 'ALERTS{alertname="DriftlineConceptDrift",alertstate="firing"}')["result"]
    assert [a["metric"]["stream"] for a in alerts] == ["rooms"]


def test_dashboards_exist_with_provisioning() -> None:
    names = {q.dashboard for q in dashboard_queries()}
    assert {"driftline-accuracy.json", "driftline-drift.json", "driftline-data-drift.json"} <= names
    assert assets.path("grafana", "provisioning", "dashboards", "driftline.yml").exists()
    datasource = assets.path("grafana", "provisioning", "datasources", "driftline.yml").read_text()
    assert "uid: driftline-prometheus" in datasource


def test_every_dashboard_query_of_the_monitor_returns_data_from_a_real_prometheus(stack: dict[str, Any]) -> None:
    # This Prometheus scrapes only the monitor; test_stack.py runs the trainer's and the collector's
    # queries after a whole stack's run (whose fleet has no regression stream: those are covered here).
    queries = [q for q in dashboard_queries() if not any(m.startswith(OTHER_SERVICES) for m in q.metrics)]
    assert len(queries) > 30
    assert {q.where.split()[0] for q in queries} >= {"variable", "annotation"}
    empty = [str(q) for q in queries if not has_data(stack["prometheus"], q)]
    assert empty == []


def test_rendered_configs_point_at_this_run(stack: dict[str, Any], tmp_path: Path) -> None:
    targets = httpx.get(f"{stack['prometheus']}/api/v1/targets").json()["data"]["activeTargets"]
    monitor = [t for t in targets if t["labels"]["job"] == "driftline-monitor"]
    assert [t["health"] for t in monitor] == ["up"]
    assert monitor[0]["scrapeUrl"] == f"{stack['monitor'].url}/metrics"
