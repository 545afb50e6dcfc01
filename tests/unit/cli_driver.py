"""``driftline`` run in this process through ``driftline.cli.main``, the console script's entry point.

Each call costs milliseconds instead of a second's interpreter start. :func:`refuse_work` makes
starting Kafka or any process raise :class:`StartedWork`, for commands that must refuse their
input (or stop) before any work starts.
"""

from __future__ import annotations

import concurrent.futures
import functools
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from driftline.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "config" / "driftline.toml")


#: typer builds the click commands of the whole CLI on every call (a tenth of a second or more); built once here.
_get_command = functools.cache(typer.main.get_command)


class StartedWork(BaseException):
    """A command started Kafka or a process: a BaseException, so no handler of the CLI turns it into a line.

    :func:`driftline` gives it what the command printed before, as ``out`` and ``err``.
    """

    out = err = ""


def refuse_work(monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    """No Kafka (configured or started), broker, process or worker pool for the commands; state under
    ``state_dir``; no Kafka configured."""

    def refuse(what: str):
        def started(*args: object, **kwargs: object) -> None:
            raise StartedWork(f"the command went on to {what}")

        return started

    monkeypatch.setattr("driftline.runtime.kafka_for", refuse("reach or start Kafka"))
    monkeypatch.setattr("driftline.kafkaio.clients.require_reachable", refuse("reach Kafka"))
    monkeypatch.setattr("driftline.kafkaio.broker.LocalBroker.start", refuse("start a broker"))
    monkeypatch.setattr("driftline.kafkaio.cluster.LocalCluster.start", refuse("start a Kafka cluster"))
    monkeypatch.setattr("driftline.processes.ManagedProcess.start", refuse("start a process"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("run a program"))
    monkeypatch.setattr(concurrent.futures.ProcessPoolExecutor, "__init__", refuse("start worker processes"))
    monkeypatch.setenv("DRIFTLINE_STATE_DIR", str(state_dir))
    monkeypatch.delenv("DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("DRIFTLINE_CONFIG", raising=False)


def driftline(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``driftline *args`` to its end: its exit code, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["driftline", *args])
    monkeypatch.setattr(typer.main, "get_command", _get_command)
    try:
        with pytest.raises(SystemExit) as exited:
            main()
    except StartedWork as e:
        e.out, e.err = capsys.readouterr()  # what the command printed before
        raise
    finally:
        out, err = capsys.readouterr()  # read when the command raised too: nothing carries over to the next
    return exited.value.code, out, err


def one_line_error(code: int, out: str, err: str) -> str:
    """The problem a refused command named: its only line, on stderr, with exit code 2 and no traceback."""
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, out, err)
    assert "Traceback" not in err and out == "", out
    return lines[0].removeprefix("error: ")
