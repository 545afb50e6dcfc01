"""Process supervision: a started program must be the one that answers on its port."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from driftline.processes import ManagedProcess, ProcessError


def test_a_taken_port_fails_the_start_at_once_naming_program_and_port(tmp_path: Path) -> None:
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
        # Readiness alone would pass: the foreign server answers on the port.
        process = ManagedProcess("prometheus", argv, tmp_path / "p.log", ready=lambda: True, port=port)
        began = time.monotonic()
        with pytest.raises(ProcessError, match=rf"^prometheus: port {port} is already in use by another program$"):
            process.start()
        assert time.monotonic() - began < 2 and not process.running and process.pid is None


def test_start_is_idempotent(tmp_path: Path) -> None:
    process = ManagedProcess(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "s.log", ready=lambda: True
    )
    try:
        first = process.start().pid
        assert process.start().pid == first and process.running
    finally:
        process.stop()
    assert not process.running


def test_ports_drawn_together_are_distinct() -> None:
    from driftline.kafkaio.cluster import LocalCluster
    from driftline.processes import free_ports

    assert len(set(free_ports(50))) == 50
    nodes = LocalCluster(Path("/nonexistent")).nodes  # nothing starts before start()
    ports = [n.port for n in nodes] + [n.controller_port for n in nodes]
    assert len(set(ports)) == 6
