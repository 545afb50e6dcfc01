"""docker-compose.yml and the Dockerfile: valid Compose, and the choices that make them run."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "tests" / "fixtures" / "compose-spec.json"  # source: tests/fixtures/compose-spec.md


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_the_compose_file_validates_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []
    # The schema is not a formality: it refuses what Compose refuses.
    assert not validator.is_valid({"services": {"x": {"restart": "no", "healthcheck": {"tests": []}}}})


def test_the_compose_file_would_run(compose: dict[str, Any]) -> None:
    services = compose["services"]
    kafka = services["kafka"]["environment"]
    # Kafka's data on its volume, and its controller port not also Alertmanager's gossip port.
    assert kafka["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert any(v.endswith(":/var/lib/kafka/data") for v in services["kafka"]["volumes"])
    controller = re.search(r"CONTROLLER://[\d.]+:(\d+)", kafka["KAFKA_LISTENERS"])
    assert controller and "--cluster.listen-address=" in services["alertmanager"]["command"]
    assert services["simulator"]["restart"] == "no" and services["topics"]["restart"] == "no"
    for name in ("kafka", "collector", "trainer", "monitor", "prometheus", "alertmanager", "grafana"):
        assert services[name].get("healthcheck", {}).get("test"), name
    for name, port in (("collector", 8000), ("trainer", 8001), ("monitor", 8002)):
        assert f"127.0.0.1:{port}/healthz" in " ".join(services[name]["healthcheck"]["test"]), name


def test_the_image_runs_as_a_user_with_pinned_dependencies() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "-c constraints.txt" in dockerfile
    pinned = {
        re.sub(r"[-_.]+", "-", line.split("==")[0]).lower()
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in dependencies:
        name = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group()).lower()
        assert name in pinned, f"{name} is not pinned in constraints.txt"
