"""``driftline status`` as a user runs it, against a real trainer and monitor on the real broker.

The trainer (its /models behind an api token) learns two machines of a per-device stream; one
machine's concept flips, the monitor detects it and the trainer resets that machine's model. Then
``driftline status --json`` must report what the services really hold, cross-checked with the
trainer's own /models; and against ports nobody listens on it must say so in one line, exit 2.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from monitor_fixtures import wait_for
from rich.console import Console
from test_drift_reaction import machine_events, send_paced

from conftest import REPO, unique_topics
from driftline.config import settings_from_dict
from driftline.httpserver import BackgroundServer
from driftline.kafkaio.topics import ensure_topics
from driftline.monitor.service import MonitorService
from driftline.processes import free_ports
from driftline.status.fetching import Sources, fetch, samples
from driftline.status.live import live_view
from driftline.trainer.runner import TrainerRunner

pytestmark = pytest.mark.kafka
TOKEN = "status-test-api-token"
N, FLIP = 3000, 1500  # events per machine; m2's concept flips at FLIP


def driftline_status(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DRIFTLINE_TRAINER__API_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "driftline.cli", "status", *args],
        capture_output=True, text=True, cwd=REPO, env={**environment, **(env or {})}, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def services(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    stream = {"task": "binary", "scope": "device", "features": {"x1": {}, "x2": {}}, "drift": {"data": None}}
    state = tmp_path_factory.mktemp("status-cli")
    settings = settings_from_dict(
        {
            "kafka": {"bootstrap_servers": bootstrap},
            "topics": unique_topics("status"),
            "trainer": {"group_id": f"trainer-{state.name}", "port": 0, "api_token": TOKEN},
            "monitor": {"group_id": f"monitor-{state.name}", "port": 0},
            "state_dir": str(state),
            "streams": {"machines": stream},
        },
        "test",
    )
    ensure_topics(bootstrap, settings.topics)
    m1, m2 = machine_events("m1", N, None, seed=1), machine_events("m2", N, FLIP, seed=2)
    with MonitorService(settings, bootstrap, port=0) as monitor, TrainerRunner(settings, bootstrap, port=0) as trainer:
        send_paced(bootstrap, settings.topics.events.name, m1, m2, 500)
        wait_for(lambda: sum(monitor.state.accepted.values()) == 2 * N, "every outcome judged", timeout=180)
        yield {"trainer": trainer.url, "monitor": monitor.url, "topics": settings.topics}


def models(trainer: str) -> dict[str, dict[str, Any]]:
    answer = httpx.get(f"{trainer}/models", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    return {m["model_key"]: m for m in answer.json()}


def test_status_json_reports_the_model_keys_versions_and_counts_the_services_hold(services: dict[str, Any]) -> None:
    [nobody] = free_ports(1)
    collector = f"http://127.0.0.1:{nobody}"
    urls = ("--trainer", services["trainer"], "--monitor", services["monitor"], "--collector", collector)
    done = driftline_status(*urls, "--json", env={"DRIFTLINE_TRAINER__API_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    held = models(services["trainer"])
    [machines] = status["streams"]
    reported = {k["model_key"]: (k["model"], k["version"], k["learned"]) for k in machines["model_keys"]}
    assert reported == {key: (m["model_name"], m["model_version"], m["learned"]) for key, m in held.items()}
    assert {key: version for key, (_, version, _) in reported.items()} == {"machines/m1": 1, "machines/m2": 2}
    assert machines["predicted"] == machines["judged"] == 2 * N
    assert machines["resets"] == 1 and machines["concept_drifts"] == 1
    assert machines["last_drift"]["kind"] == "concept" and machines["versions"] == [1, 2]
    assert 0.5 < machines["scores"]["logistic"]["cumulative"] <= 1.0
    # The lag is the trainer's, per topic it consumes (a topic it read nothing from may be missing).
    exposed = samples(httpx.get(f"{services['trainer']}/metrics", timeout=10).text)
    lagging = {s.labels["topic"] for s in exposed if s.name == "driftline_trainer_consumer_lag_records"}
    assert set(status["lag"]) == lagging and services["topics"].events.name in lagging
    # The collector was not there: named, and the rest still reported.
    assert status["answered"] == ["monitor", "trainer"]
    assert [(f["service"], f["url"]) for f in status["failures"]] == [("collector", collector)]


def test_without_the_trainers_token_status_says_so_and_shows_the_rest(services: dict[str, Any]) -> None:
    [nobody] = free_ports(1)
    urls = (
        "--trainer",
        services["trainer"],
        "--monitor",
        services["monitor"],
        "--collector",
        f"http://127.0.0.1:{nobody}",
    )
    done = driftline_status(*urls)
    assert done.returncode == 0, done.stderr
    assert f"trainer {services['trainer']}/models answered 401" in " ".join(done.stdout.split())
    # The monitor's view still names both keys, with their versions.
    assert "machines/m1" in done.stdout and "machines/m2" in done.stdout


def test_status_against_ports_nobody_listens_on_is_one_line_and_exit_2(tmp_path: Path) -> None:
    ports = free_ports(3)
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    done = driftline_status("--trainer", urls[0], "--monitor", urls[1], "--collector", urls[2])
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("error: no service answered: ")
    assert all(url in line for url in urls), line


def test_the_stacks_live_view_in_a_log_is_drawn_once_at_the_end(services: dict[str, Any]) -> None:
    from rich.progress import Progress

    out = io.StringIO()
    console = Console(file=out, width=100)  # not a terminal: as in CI logs
    assert not console.is_terminal
    bar = Progress(console=console)
    [nobody] = free_ports(1)
    sources = Sources(services["trainer"], services["monitor"], f"http://127.0.0.1:{nobody}", TOKEN)
    with live_view(sources, console, bar, every=0.2):
        task = bar.add_task("simulating", total=None)
        bar.update(task, advance=10)
        time.sleep(2)  # about ten looks
        console.print("a line printed meanwhile")
    text = out.getvalue()
    assert text.count("streams") == 1 and text.count("a line printed meanwhile") == 1, text
    assert len(text.splitlines()) < 30, text
    assert "machines" in text and "1-2" in text  # the run's stream and its model versions
    assert text.endswith("\n")


def test_another_program_on_a_services_port_is_named_not_a_traceback() -> None:
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    other = FastAPI()  # someone else's web server on the port status was pointed at
    for path in ("/models", "/metrics"):
        other.add_api_route(path, lambda: HTMLResponse("<html>hello</html>"), methods=["GET"])
    [nobody] = free_ports(1)
    with BackgroundServer(other) as server:
        snapshot = fetch(Sources(server.url, f"http://127.0.0.1:{nobody}", f"http://127.0.0.1:{nobody}"))
    assert snapshot.answers == {}
    assert snapshot.failures[("trainer", f"{server.url}/models")] == "answered, but not with JSON: is it the trainer?"
    assert snapshot.failures[("trainer", f"{server.url}/metrics")].startswith("answered, but not with Prometheus text")
    assert snapshot.failures[("monitor", f"http://127.0.0.1:{nobody}")] == "did not answer (connection refused)"
