"""Bad input to the `driftline` command is one line on stderr naming the problem, and exit code 2.

The commands run in this process through ``driftline.cli.main`` (the console script's entry point),
so each costs milliseconds; Kafka, the services and every other program are refused to them
(``no_work``), since a bad value must be refused before any work starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from driftline.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "config" / "driftline.toml")
COLLECTOR = "http://127.0.0.1:9"  # never reached: each command here fails before it sends anything


class StartedWork(BaseException):
    """A command started Kafka or a process: a BaseException, so no handler of the CLI turns it into a line."""


@pytest.fixture(autouse=True)
def no_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(what: str):
        def started(*args: object, **kwargs: object) -> None:
            raise StartedWork(f"the command went on to {what} instead of refusing its input")

        return started

    monkeypatch.setattr("driftline.runtime.kafka_for", refuse("reach or start Kafka"))
    monkeypatch.setattr("driftline.kafkaio.broker.LocalBroker.start", refuse("start a broker"))
    monkeypatch.setattr("driftline.processes.ManagedProcess.start", refuse("start a process"))
    monkeypatch.setenv("DRIFTLINE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("DRIFTLINE_CONFIG", raising=False)


def driftline(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run ``driftline *args``; its exit code and its stderr (stdout must stay empty)."""
    monkeypatch.setattr(sys, "argv", ["driftline", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert out == "", out
    return exited.value.code, err


def one_line_error(code: int, err: str) -> str:
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    assert "Traceback" not in err
    return lines[0].removeprefix("error: ")


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
