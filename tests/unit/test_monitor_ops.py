"""The Prometheus and Alertmanager launchers render the project's configs, which the real tools accept."""

from __future__ import annotations

import subprocess
from pathlib import Path

from driftline import assets
from driftline.ops.alertmanager import check_config as check_alertmanager
from driftline.ops.alertmanager import render_config as render_alertmanager
from driftline.ops.prometheus import ScrapeTargets, check_config, render_config, render_marked
from driftline.processes import find_program


def test_render_marked_rewrites_only_marked_lines() -> None:
    text = "a: 1 # driftline:a\n- targets: [x] # driftline:t\nb: 2 # driftline:unknown\n"
    assert render_marked(text, {"a": "5", "t": '["y"]'}) == 'a: 5\n- targets: ["y"]\nb: 2 # driftline:unknown\n'


def test_rendered_prometheus_config_is_valid(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(render_config(ScrapeTargets("127.0.0.1:9", alertmanager="127.0.0.1:10"), "1s"))
    check_config(config)
    assert '["127.0.0.1:9"]' in config.read_text() and "scrape_interval: 1s" in config.read_text()


def test_rendered_alertmanager_config_is_valid(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    config = tmp_path / "alertmanager.yml"
    config.write_text(render_alertmanager("http://127.0.0.1:9/alerts", token, "1s", "1s"))
    check_alertmanager(config)
    assert str(token) in config.read_text()


def test_project_rules_pass_promtool_check_and_unit_tests() -> None:
    promtool = find_program("promtool")
    for argv in (
        ["check", "rules", str(assets.path("prometheus", "rules", "driftline.yml"))],
        ["test", "rules", str(assets.path("prometheus", "tests", "driftline_test.yml"))],
    ):
        result = subprocess.run([promtool, *argv], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    amtool = find_program("amtool")
    result = subprocess.run(
        [amtool, "check-config", str(assets.path("alertmanager", "alertmanager.yml"))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
