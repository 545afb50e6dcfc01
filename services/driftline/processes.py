"""Start and stop the real programs driftline runs beside itself (Kafka, Prometheus, Mosquitto...).

One mechanism for all of them: launch with output to a log file, poll a readiness probe, and on
stop send SIGTERM, killing only a process that hangs. Used by the local stack and the tests.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class ProcessError(RuntimeError):
    """A managed program is missing, exited early, or never became ready."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: held open together while drawn (free_port twice can repeat one)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def refuse_taken_port(name: str, port: int) -> None:
    """Fail at once when another program holds ``port``: it, not ours, would answer readiness probes."""
    if port_open(port):
        raise ProcessError(f"{name}: port {port} is already in use by another program")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except OSError:
        return False


def wait_until(done: Callable[[], bool], timeout: float, step: float = 0.5) -> float | None:
    """Seconds until ``done()``, or None after ``timeout``."""
    began = time.monotonic()
    while not done():
        if time.monotonic() - began > timeout:
            return None
        time.sleep(step)
    return time.monotonic() - began


def find_program(name: str, *also: str) -> str:
    """The path of an installed program, looking in sbin folders too (Debian puts daemons there)."""
    for candidate in (name, *also):
        for folder in (None, "/usr/sbin", "/usr/local/sbin", "/sbin"):
            found = shutil.which(candidate, path=folder)
            if found:
                return found
    raise ProcessError(f"{name} is not installed; `./run test` or `./run stack` installs it as root")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class ManagedProcess:
    """A program run in the background with its output in ``log_file``."""

    name: str
    argv: list[str]
    log_file: Path
    ready: Callable[[], bool]
    cwd: Path | None = None
    env: dict[str, str] | None = None
    #: The port it listens on: taken already, the start fails at once (else another program would answer).
    port: int | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 60.0) -> ManagedProcess:
        if self.running:
            return self
        if self.port:
            refuse_taken_port(self.name, self.port)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            self._process = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,  # Ctrl-C reaches driftline, which then stops its children in order.
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise ProcessError(f"{self.name} exited with {code}; {self.log_file} ends with:\n{tail(self.log_file)}")
            if self.ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise ProcessError(f"{self.name} was not ready within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 30.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
