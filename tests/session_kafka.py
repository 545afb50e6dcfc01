"""The session's Kafka broker, one for the whole run however many pytest-xdist workers share it.

Each worker used to start a broker of its own: three JVMs, each formatting its storage, starting, and taking
CPU while idle, for tests that isolate themselves by topics and groups of their own anyway. Now the first worker
that needs the broker starts it, every worker using it writes itself into a small state file beside the workers'
temporary folders, and the last one to leave stops it. The file and its lock belong to one run
(``PYTEST_XDIST_TESTRUNUID``); without xdist the session starts and stops a broker of its own, as before.

A worker that leaves while others still use the broker does not take it down: brokers start in a session of
their own (:class:`driftline.processes.ManagedProcess`), so a worker's exit leaves it running.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftline.kafkaio.broker import LocalBroker


@dataclass(frozen=True)
class SessionKafka:
    """What the tests read of the session's broker."""

    bootstrap_servers: str
    pid: int


@contextmanager
def _locked(state: Path) -> Iterator[None]:
    with state.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); None when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _identity(pid: int) -> str | None:
    """The process's pid and start time, which a reused pid does not share; None when it is gone or a zombie."""
    fields = _stat(pid)
    return None if fields is None or fields[0] == "Z" else f"{pid}@{fields[19]}"


def _pid(identity: str) -> int:
    return int(identity.split("@")[0])


def _running(identity: str) -> bool:
    """Whether the process :func:`_identity` named is still the one running under its pid."""
    return _identity(_pid(identity)) == identity


def _stop(broker: str, timeout: float = 30.0) -> None:
    """SIGTERM (a clean shutdown), SIGKILL if ``broker`` (an :func:`_identity`) is still up after ``timeout``; a
    process that is no longer that one is left alone."""
    if not _running(broker):
        return
    pid = _pid(broker)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _running(broker):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # this worker's own child: reaped here, not left a zombie


def _read(state: Path) -> dict[str, Any] | None:
    return json.loads(state.read_text()) if state.exists() else None


@contextmanager
def shared_broker(root: Path, run: str) -> Iterator[SessionKafka]:
    """The run's broker, started if no live worker holds one, for as long as this worker's session lasts.

    The state file names the broker by :func:`_identity` and lists the workers using it by theirs: a worker that
    died without leaving is dropped at the next join or leave, and a broker that died is replaced with a member
    list of its own, so the workers of the dead one never count against the new one.
    """
    state = root / f"kafka-{run}.json"
    me = _identity(os.getpid())
    with _locked(state):
        held = _read(state)
        if held is None or not _running(held["broker"]):
            broker = LocalBroker(data_dir=root / f"kafka-{run}-{time.time_ns()}").start()
            assert broker.pid is not None
            identity = _identity(broker.pid)
            assert identity is not None
            held = {"bootstrap_servers": broker.bootstrap_servers, "broker": identity, "members": []}
        held["members"] = [m for m in held["members"] if _running(m)] + [me]
        state.write_text(json.dumps(held))
    mine = held["broker"]
    try:
        yield SessionKafka(held["bootstrap_servers"], _pid(mine))
    finally:
        with _locked(state):
            held = _read(state)
            if held is not None and held["broker"] == mine:
                held["members"] = [m for m in held["members"] if m != me and _running(m)]
                if held["members"]:
                    state.write_text(json.dumps(held))
                else:
                    _stop(mine)
                    state.unlink()
