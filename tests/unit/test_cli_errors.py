"""Bad input to the `driftline` command is one line on stderr naming the problem, and exit code 2.

The commands run in this process (cli_driver.py); Kafka, the services and every other program are
refused to them, since a bad value must be refused before any work starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_driver import CONFIG, driftline, one_line_error, refuse_work

COLLECTOR = "http://127.0.0.1:9"  # never reached: each command here fails before it sends anything


@pytest.fixture(autouse=True)
def no_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    refuse_work(monkeypatch, tmp_path / "state")


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``run(*args)``: the one-line error of a refused ``driftline *args``, without its ``error: ``."""
    return lambda *args: one_line_error(*driftline(monkeypatch, capsys, *args))


def test_a_principal_without_a_user(run) -> None:
    assert run("acls", "-c", CONFIG, "--principal", "bad") == (
        "--principal 'bad': expected ROLE=USER, e.g. trainer=svc-trainer"
    )
    assert run("acls", "-c", CONFIG, "--principal", "trainer=").startswith("--principal 'trainer=': expected ROLE=USER")
    assert run("acls", "-c", CONFIG, "--principal", "pilot=x").startswith("--principal: no role pilot")


def test_a_tokens_file_that_is_missing_or_not_json(run, tmp_path: Path) -> None:
    simulate = ("simulate", "-c", CONFIG, "--url", COLLECTOR, "--tokens")
    assert run(*simulate, "/nonexistent.json") == "--tokens /nonexistent.json: No such file or directory"
    assert run("simulate", "-c", CONFIG, "--tokens", "/nonexistent.json").startswith("--tokens /nonexistent.json: ")
    bad = tmp_path / "tokens.json"
    bad.write_text("{nope")
    assert run(*simulate, str(bad)).startswith(f"--tokens {bad}: not JSON (Expecting property name")
    bad.write_bytes(b"\xff\xfe")
    assert run(*simulate, str(bad)).startswith(f"--tokens {bad}: not JSON")
    bad.write_text('["rooms-000"]')
    assert run(*simulate, str(bad)) == (
        f'--tokens {bad}: expected a JSON object of device id -> token, e.g. {{"rooms-000": "..."}}'
    )
    assert "is a directory" in run(*simulate, str(tmp_path))
    good = tmp_path / "good.json"
    good.write_text('{"rooms-000": "t"}')
    assert run("simulate", "-c", CONFIG, "--tokens", str(good)) == (
        "simulate --tokens: the tokens are for a collector; pass its --url too"
    )


@pytest.mark.parametrize("command", ["simulate", "stack"])
def test_too_few_events_for_the_drift_schedule(run, command: str, tmp_path: Path) -> None:
    line = run(command, "-c", CONFIG, "--events", "10")
    assert "'--events'" in line and "17" in line, line
    assert not (tmp_path / "state").exists()  # refused before anything was written


@pytest.mark.parametrize("command", ["simulate", "stack"])
def test_a_scenario_without_its_stream_fails_before_kafka(run, command: str, tmp_path: Path) -> None:
    config = tmp_path / "rooms-only.toml"
    config.write_text('[streams.rooms]\ntask = "binary"\ntarget = "occupied"\n[streams.rooms.features.t]\n')
    assert run(command, "-c", str(config)) == "streams.machines: no such stream (configured: rooms)"
    assert not (tmp_path / "state").exists()
