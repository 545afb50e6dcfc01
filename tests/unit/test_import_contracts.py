"""The boundaries of the code (pyproject.toml's [tool.importlinter] contracts), and what a start imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    # This checkout's code, whatever the venv's editable install points at.
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "services"), str(REPO / "benchmarks")])}


def test_the_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_the_cli_that_starts_every_service_does_not_import_the_kafka_launcher() -> None:
    # What `driftline trainer` (or any service's command) loads before it runs: no local-broker launcher.
    probe = "import sys, driftline.cli; print(sorted(m for m in sys.modules if m == 'driftline.kafkaio.broker'))"
    out = subprocess.run([sys.executable, "-c", probe], env=_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
