"""The `driftline` command as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def driftline(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("driftline")), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def test_help_lists_every_subcommand() -> None:
    done = driftline("--help")
    assert done.returncode == 0
    for command in ("collector", "trainer", "monitor", "stack", "broker", "smoke", "schemas", "config", "topics"):
        assert f" {command} " in done.stdout, command


def test_version_is_the_packages() -> None:
    from importlib.metadata import version

    done = driftline("--version")
    assert done.returncode == 0 and done.stdout == f"driftline {version('driftline')}\n"


def test_each_subcommand_explains_its_options() -> None:
    for command in ("broker", "smoke", "stack", "config"):
        done = driftline(command, "--help")
        assert done.returncode == 0, done.stderr
        assert "--" in done.stdout and "Usage: driftline " + command in " ".join(done.stdout.split())


def test_a_cluster_takes_no_port_of_one_node(tmp_path: Path) -> None:
    done = driftline("broker", "--nodes", "3", "--port", "9092", "--data-dir", str(tmp_path))
    assert done.returncode == 2 and "--port is for one node" in done.stderr
    assert not any(tmp_path.iterdir()), "nothing started"


def test_smoke_against_a_configured_broker(bootstrap: str, tmp_path: Path) -> None:
    done = driftline(
        "smoke",
        "--count",
        "200",
        env={"DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": bootstrap, "DRIFTLINE_STATE_DIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert "smoke ok: 200 events" in done.stdout


def test_reset_sends_each_action_and_refuses_an_unknown_one(make_settings, bootstrap: str, tmp_path: Path) -> None:
    import json

    from kafka_helpers import TopicReader

    from driftline.contracts import ControlCommand

    settings = make_settings({"rooms": {"task": "binary", "features": {"t": {}}}})
    env = {
        "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "DRIFTLINE_STATE_DIR": str(tmp_path),
        "DRIFTLINE_TOPICS": json.dumps(settings.topics.model_dump(mode="json")),
        "DRIFTLINE_STREAMS": json.dumps({"rooms": {"task": "binary", "features": {"t": {}}}}),
    }
    for args in (["--mode", "warm"], ["--action", "rollback", "--model-key", "rooms"], ["--action", "snapshot"]):
        done = driftline("reset", "--stream", "rooms", *args, env=env)
        assert done.returncode == 0 and done.stdout.startswith("sent manual-"), done.stderr
    commands = TopicReader(bootstrap, settings.topics.control.name, ControlCommand).count(3)
    assert [(c.action, c.mode, c.model_key) for c in commands] == [
        ("reset", "warm", None), ("rollback", "cold", "rooms"), ("snapshot", "cold", None),
    ]  # fmt: skip
    refused = driftline("reset", "--stream", "rooms", "--action", "delete", env=env)
    assert refused.returncode == 2 and refused.stderr.strip().endswith(
        "--action: expected reset, rollback or snapshot, got 'delete'"
    )
