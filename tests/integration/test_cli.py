"""The `driftline` command as a user runs it."""

from __future__ import annotations

import json
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
    assert refused.returncode == 2 and refused.stderr.strip().startswith(
        "error: Invalid value for '--action': 'delete' is not one of 'reset', 'rollback', 'snapshot'."
    )


def _one_line_error(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The single stderr line of a refused command (nothing on stdout, no traceback)."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_an_unreachable_broker_is_one_line_and_quick(tmp_path: Path) -> None:
    import time

    from driftline.processes import free_port

    env = {**os.environ, "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
           "DRIFTLINE_STATE_DIR": str(tmp_path)}  # fmt: skip
    commands = [["smoke", "--count", "10"], ["topics"], ["reset", "--stream", "rooms"], ["checkpoints", "list"]]
    began = time.monotonic()
    # Side by side: each waits a few seconds for the broker to appear before giving up.
    running = [
        subprocess.Popen([str(Path(sys.executable).with_name("driftline")), *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
        for args in commands
    ]  # fmt: skip
    for args, process in zip(commands, running, strict=True):
        stdout, stderr = process.communicate(timeout=60)
        line = _one_line_error(subprocess.CompletedProcess(args, process.returncode, stdout, stderr))
        assert "no broker reachable at 127.0.0.1:" in line, args
    assert time.monotonic() - began < 60  # a 5 s probe each, side by side, on a busy machine


def test_bad_arguments_are_one_line_errors() -> None:
    assert "'--events'" in _one_line_error(driftline("stack", "--events", "-5"))
    assert "'--rate'" in _one_line_error(driftline("simulate", "--rate", "0"))
    assert "No such command 'stak'" in _one_line_error(driftline("stak"))
    split = _one_line_error(driftline("export", "--stream", "rooms", "--split", "0.5,0.5"))
    assert "three fractions" in split and "'0.5,0.5'" in split


def test_environment_errors_name_the_variable() -> None:
    line = _one_line_error(driftline("config", env={"DRIFTLINE_KAFKA__NOPE": "1"}))
    assert line == "error: environment variable DRIFTLINE_KAFKA__NOPE: kafka.nope: unknown key"
    line = _one_line_error(driftline("config", env={"DRIFTLINE_COLLECTOR__PORT": "many"}))
    assert line.startswith("error: environment variable DRIFTLINE_COLLECTOR__PORT: collector.port:")
    bad_name = json.dumps({"Bad Name": {"task": "binary", "features": {"t": {}}}})
    line = _one_line_error(driftline("config", env={"DRIFTLINE_STREAMS": bad_name}))
    assert line.startswith("error: environment variable DRIFTLINE_STREAMS: streams.Bad Name.[key]:")  # not markup
    line = _one_line_error(driftline("config", env={"DRIFTLINE_KAFKA_BOOTSTRAP_SERVERS": "x:1"}))
    assert line.startswith("error: environment variable DRIFTLINE_KAFKA_BOOTSTRAP_SERVERS: no such setting")


def test_plain_flags_show_no_value_type() -> None:
    for command in ("stack", "checkpoints verify", "config"):
        done = driftline(*command.split(), "--help")
        assert done.returncode == 0 and "--help" in done.stdout
        assert "<bool>" not in done.stdout, command
    assert "<int>" in driftline("stack", "--help").stdout  # options that take a value keep their type
