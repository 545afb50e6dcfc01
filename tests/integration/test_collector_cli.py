"""The collector's commands end to end against the session broker: replay, simulate, archive, export."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from collector_fixtures import read_topic
from typer.testing import CliRunner

from conftest import unique_topics
from driftline.cli import app
from driftline.config import load_settings
from driftline.kafkaio.topics import ensure_topics

CONFIG = """
state_dir = "{state}"
[kafka]
bootstrap_servers = "{bootstrap}"
[topics]
{topics}
[collector]
lake_batch_seconds = 1
[streams.phishing]
task = "binary"
features = {{ https = {{}} }}
[streams.rooms]
task = "binary"
target = "occupied"
features = {{ temperature = {{}}, humidity = {{}}, co2 = {{}}, light = {{}} }}
"""


def test_replay_simulate_archive_export(bootstrap: str, tmp_path: Path) -> None:
    topics = "\n".join(f'{role} = {{ name = "{t["name"]}", partitions = {t["partitions"]} }}'
                       for role, t in unique_topics("cli").items())  # fmt: skip
    config = tmp_path / "driftline.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state", bootstrap=bootstrap, topics=topics))
    settings = load_settings(config)
    ensure_topics(bootstrap, settings.topics)
    runner = CliRunner()

    result = runner.invoke(
        app, ["replay", "river:Phishing", "--stream", "phishing", "-c", str(config), "--limit", "120"]
    )
    assert result.exit_code == 0, result.output
    assert "120 accepted, 0 rejected" in result.output
    args = ["simulate", "-c", str(config), "--scenario", "rooms", "--events", "100", "--duplicates", "0"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "truth")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "truth" / "drift_points.json").read_text())["drift_points"]
    assert len(read_topic(bootstrap, settings.topics.events.name, expected=220)) == 220

    result = runner.invoke(app, ["archive", "-c", str(config), "--idle-exit", "2"])
    assert result.exit_code == 0 and "archived 220 events" in result.output, result.output
    result = runner.invoke(app, ["export", "rooms", "-c", str(config), "--out", str(tmp_path / "x"), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert sum(len(pd.read_csv(tmp_path / "x" / f"rooms-{n}.csv")) for n in ("train", "validation", "test")) == 100
    result = runner.invoke(app, ["export", "rooms", "-c", str(config), "--split", "0.5,0.6,0"])
    assert result.exit_code != 0 and "sum to 1" in str(result.exception)
