"""Run the real Alertmanager on driftline's own config (driftline/assets/alertmanager), rendered with actual ports.

Drift and accuracy alerts are routed to the monitor's webhook, authenticated with the bearer
token read from a file (the monitor's generated ``webhook_token`` or one written from the config).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from driftline import assets
from driftline.ops.prometheus import render_marked
from driftline.processes import ManagedProcess, ProcessError, find_program, free_port, http_ok

TEMPLATE = assets.path("alertmanager", "alertmanager.yml")


def render_config(
    webhook_url: str,
    token_file: Path,
    group_wait: str = "10s",
    group_interval: str = "1m",
    template: Path = TEMPLATE,
) -> str:
    return render_marked(
        template.read_text(),
        {
            "webhook_url": json.dumps(webhook_url),
            "credentials_file": json.dumps(str(token_file.resolve())),
            "group_wait": group_wait,
            "group_interval": group_interval,
        },
    )


def alertmanager_process(
    state_dir: Path,
    webhook_url: str,
    token_file: Path,
    port: int = 0,
    group_wait: str = "10s",
    group_interval: str = "1m",
) -> ManagedProcess:
    """A :class:`ManagedProcess` for Alertmanager (clustering off) with its files under ``state_dir``."""
    binary = find_program("prometheus-alertmanager", "alertmanager")
    if not token_file.exists():
        raise ProcessError(f"{token_file}: no webhook token file; start the monitor first or write the token there")
    port = port or free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "alertmanager.yml"
    config.write_text(render_config(webhook_url, token_file, group_wait, group_interval))
    check_config(config)
    url = f"http://127.0.0.1:{port}"
    return ManagedProcess(
        name="alertmanager",
        argv=[
            binary,
            f"--config.file={config}",
            f"--storage.path={state_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # a single instance: no gossip port to collide with
        ],
        log_file=state_dir / "alertmanager.log",
        ready=lambda: http_ok(f"{url}/-/ready"),
        port=port,
    )


def check_config(path: Path) -> None:
    amtool = find_program("amtool")
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ProcessError(f"amtool rejects {path}: {(result.stdout + result.stderr).strip()}")
