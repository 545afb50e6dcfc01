"""The trainer's and the monitor's HTTP endpoints: bearer tokens, body limits, no unguarded exposure.

Real uvicorn servers on loopback (no Kafka needed: the apps are served without their loops), and
real `driftline trainer` / `driftline monitor` processes for the refusal to listen beyond loopback
without a token, which comes before any Kafka is looked for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from driftline.config import settings_from_dict
from driftline.config.base import ConfigError
from driftline.config.settings import Settings
from driftline.contracts import SensorEvent
from driftline.httpserver import BackgroundServer
from driftline.monitor.app import create_app as monitor_app
from driftline.monitor.service import webhook_token
from driftline.monitor.webhook import AlertPolicy
from driftline.trainer.api import api_token
from driftline.trainer.api import create_app as trainer_app
from driftline.trainer.core import TrainerCore

REPO = Path(__file__).resolve().parents[2]
ROOMS = {"task": "binary", "features": {"temperature": {}, "humidity": {}}}
TOKEN = "a-long-random-token"


def settings(tmp_path: Path, **extra: Any) -> Settings:
    return settings_from_dict({"state_dir": str(tmp_path / "state"), "streams": {"rooms": ROOMS}, **extra}, "test")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_trainer_endpoints_demand_the_token_but_health_and_metrics_stay_open(tmp_path: Path) -> None:
    token_file = tmp_path / "api.token"
    token_file.write_text(TOKEN + "\n")
    config = settings(tmp_path, trainer={"api_token_file": str(token_file), "max_body_bytes": 2048})
    core = TrainerCore(config)
    event = {"event_id": "e1", "device_id": "d", "stream": "rooms", "ts": datetime(2026, 3, 1, tzinfo=UTC)}
    core.on_event(SensorEvent(**event, features={"temperature": 20.0, "humidity": 40.0}, label=True))
    app = trainer_app(core, token=api_token(config), max_body_bytes=config.trainer.max_body_bytes)
    predict = {"model_key": "rooms", "features": {"temperature": 21.0, "humidity": 41.0}}
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        for headers in ({}, bearer("wrong"), {"Authorization": f"Basic {TOKEN}"}):
            assert client.post("/predict", json=predict, headers=headers).status_code == 401
            assert client.get("/models", headers=headers).status_code == 401
            assert client.get("/label-requests?stream=rooms", headers=headers).status_code == 401
            assert client.get("/openapi.json", headers=headers).status_code == 401
        refused = client.get("/models")
        assert refused.headers["WWW-Authenticate"] == "Bearer" and TOKEN not in refused.text
        answer = client.post("/predict", json=predict, headers=bearer(TOKEN))
        assert answer.status_code == 200 and answer.json()["model_key"] == "rooms"
        assert client.get("/models", headers=bearer(TOKEN)).json()[0]["model_key"] == "rooms"
        assert client.get("/label-requests?stream=rooms", headers=bearer(TOKEN)).json() == []
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200

        big = {"model_key": "rooms", "features": {f"f{i}": 1.0 for i in range(400)}}
        too_large = client.post("/predict", json=big, headers=bearer(TOKEN))
        assert too_large.status_code == 413 and "2048" in too_large.json()["detail"]

        def chunks() -> Any:  # no Content-Length: the limit is counted, not just declared
            yield b'{"model_key": "rooms", "features": {'
            for i in range(200):
                yield f'"f{i}": 1.0, '.encode()
            yield b'"g": 1}}'

        streamed = client.post("/predict", content=chunks(), headers=bearer(TOKEN))
        assert streamed.status_code == 413


def test_a_trainer_without_a_token_is_open_on_loopback(tmp_path: Path) -> None:
    config = settings(tmp_path)
    assert api_token(config) == ""
    with BackgroundServer(trainer_app(TrainerCore(config))) as server:
        assert httpx.get(f"{server.url}/models").json() == []
        assert httpx.post(f"{server.url}/predict", content=b"x" * (2 << 20)).status_code == 413


def test_monitor_webhook_demands_the_token_and_limits_the_body(tmp_path: Path) -> None:
    config = settings(tmp_path, monitor={"port": 0, "webhook_token": TOKEN, "max_body_bytes": 4096})
    assert webhook_token(config) == TOKEN
    sent: list[Any] = []
    app = monitor_app(CollectorRegistry(), AlertPolicy(config.streams), sent.extend, TOKEN, max_body_bytes=4096)
    empty = {"version": "4", "status": "firing", "alerts": [], "receiver": "r", "groupKey": "g"}
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/alerts", json=empty).status_code == 401
        assert client.post("/alerts", json=empty, headers=bearer("wrong")).status_code == 401
        assert client.post("/alerts", json=empty, headers=bearer(TOKEN)).status_code == 200
        assert client.post("/alerts", content=b" " * 5000, headers=bearer(TOKEN)).status_code == 413
        assert client.get("/metrics").status_code == 200 and client.get("/healthz").status_code == 200
    assert sent == []


def test_a_token_beyond_loopback_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^trainer\.api_token: required when listening on 0\.0\.0\.0"):
        api_token(settings(tmp_path, trainer={"host": "0.0.0.0"}))
    with pytest.raises(ConfigError, match=r"^monitor\.webhook_token: required when listening on 10\.1\.2\.3"):
        webhook_token(settings(tmp_path, monitor={"port": 0, "host": "10.1.2.3"}))
    # Given one, either may listen anywhere; a loopback address of any spelling needs none.
    assert api_token(settings(tmp_path, trainer={"host": "0.0.0.0", "api_token": TOKEN})) == TOKEN
    assert api_token(settings(tmp_path, trainer={"host": "::1"})) == ""
    with pytest.raises(ConfigError, match=r"trainer\.api_token_file: .* is empty"):
        empty = tmp_path / "empty"
        empty.write_text("\n")
        api_token(settings(tmp_path, trainer={"api_token_file": str(empty)}))


@pytest.mark.parametrize(
    ("service", "setting"), [("trainer", "trainer.api_token"), ("monitor", "monitor.webhook_token")]
)
def test_a_service_on_all_interfaces_without_a_token_refuses_to_start(
    service: str, setting: str, tmp_path: Path
) -> None:
    config = tmp_path / "driftline.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        '[kafka]\nbootstrap_servers = "127.0.0.1:9"\n'  # never reached: refused before Kafka
        f'[{service}]\nhost = "0.0.0.0"\nport = 0\n'
        '[streams.rooms]\ntask = "binary"\nfeatures = { temperature = {} }\n'
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "services")}
    done = subprocess.run(
        [sys.executable, "-m", "driftline.cli", service, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{setting}: required when listening on 0.0.0.0" in lines[0], done.stderr
