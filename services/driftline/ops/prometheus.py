"""Run the real Prometheus on driftline's own config (driftline/assets/prometheus), rendered with actual ports.

The shipped prometheus.yml is valid for the default ports; lines marked
``# driftline:<name>`` are rewritten for the ports of this run and the result is written to
the state folder, so one file stays the source of truth.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from driftline import assets
from driftline.processes import ManagedProcess, ProcessError, find_program, free_port, http_ok

PROMETHEUS_DIR = assets.path("prometheus")
_MARK = re.compile(r"^(?P<indent>\s*)(?P<body>.*?)\s*# driftline:(?P<name>[a-z_]+)\s*$")


def render_marked(template: str, values: dict[str, str]) -> str:
    """Rewrite each line marked ``# driftline:<name>`` whose name is in ``values``.

    The value replaces what follows the line's key (``key: value``) or list dash (``- value``);
    an unmarked line, or a mark without a value, is kept as it is.
    """
    out = []
    for line in template.splitlines():
        match = _MARK.match(line)
        if match and match["name"] in values:
            body = match["body"]
            head = re.match(r"^(-\s+)?([A-Za-z_]+:\s*)?", body)
            prefix = head.group(0) if head else ""
            line = f"{match['indent']}{prefix}{values[match['name']]}"
        out.append(line)
    return "\n".join(out) + "\n"


def targets(*addresses: str | None) -> str:
    """A YAML flow list (JSON is YAML) of the addresses given, leaving out missing ones."""
    return json.dumps([a for a in addresses if a])


@dataclass(frozen=True)
class ScrapeTargets:
    """Where Prometheus finds each service (``host:port``); None leaves that job without targets."""

    monitor: str
    trainer: str | None = None
    collector: str | None = None
    alertmanager: str | None = None


def render_config(
    scrape: ScrapeTargets,
    scrape_interval: str = "15s",
    evaluation_interval: str | None = None,
    rules_dir: Path = PROMETHEUS_DIR / "rules",
    template: Path = PROMETHEUS_DIR / "prometheus.yml",
) -> str:
    return render_marked(
        template.read_text(),
        {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval or scrape_interval,
            "rule_files": json.dumps(str(rules_dir.resolve() / "*.yml")),
            "alertmanager": targets(scrape.alertmanager),
            "monitor": targets(scrape.monitor),
            "trainer": targets(scrape.trainer),
            "collector": targets(scrape.collector),
        },
    )


def prometheus_process(
    state_dir: Path,
    scrape: ScrapeTargets,
    port: int = 0,
    scrape_interval: str = "15s",
    evaluation_interval: str | None = None,
) -> ManagedProcess:
    """A :class:`ManagedProcess` for Prometheus with its config and data under ``state_dir``.

    ``port`` 0 picks a free one; the URL is ``http://127.0.0.1:<port>`` (see :func:`url_of`).
    """
    binary = find_program("prometheus")
    port = port or free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "prometheus.yml"
    config.write_text(render_config(scrape, scrape_interval, evaluation_interval))
    check_config(config)
    url = f"http://127.0.0.1:{port}"
    return ManagedProcess(
        name="prometheus",
        argv=[
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={state_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        log_file=state_dir / "prometheus.log",
        ready=lambda: http_ok(f"{url}/-/ready"),
        port=port,
    )


def url_of(process: ManagedProcess) -> str:
    """The base URL of a process made by :func:`prometheus_process`."""
    address = next(a for a in process.argv if a.startswith("--web.listen-address="))
    return "http://" + address.split("=", 1)[1]


def check_config(path: Path) -> None:
    """Run ``promtool check config`` on a rendered file; raise with promtool's words if it fails."""
    import subprocess

    promtool = find_program("promtool")
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ProcessError(f"promtool rejects {path}: {(result.stdout + result.stderr).strip()}")
