"""The session's Kafka broker, one for the whole run however many pytest-xdist workers share it.

Each worker used to start a broker of its own: three JVMs, each formatting its storage, starting, and taking
CPU while idle, for tests that isolate themselves by topics and groups of their own anyway. Now the first worker
that needs the broker starts it, every worker using it counts itself in a small state file beside the workers'
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


def _alive(pid: int) -> bool:
    """Running, not only unreaped: a zombie's stat says ``Z``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _stop(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM (a clean shutdown), SIGKILL if the broker is still up after ``timeout``."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # this worker's own child: reaped here, not left a zombie


@contextmanager
def shared_broker(root: Path, run: str) -> Iterator[SessionKafka]:
    """The run's broker, started if no worker has, for as long as this worker's session lasts."""
    state = root / f"kafka-{run}.json"
    with _locked(state):
        held = json.loads(state.read_text()) if state.exists() else None
        if held is None or not _alive(held["pid"]):
            broker = LocalBroker(data_dir=root / f"kafka-{run}-{time.time_ns()}").start()
            assert broker.pid is not None
            held = {"bootstrap_servers": broker.bootstrap_servers, "pid": broker.pid, "users": 0}
        held["users"] += 1
        state.write_text(json.dumps(held))
    try:
        yield SessionKafka(held["bootstrap_servers"], held["pid"])
    finally:
        with _locked(state):
            held = json.loads(state.read_text())
            held["users"] -= 1
            if held["users"] > 0:
                state.write_text(json.dumps(held))
            else:
                _stop(held["pid"])
                state.unlink()
