"""The collector's commands end to end against the session broker: replay, simulate, archive, export."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from collector_fixtures import read_topic
from typer.testing import CliRunner

from conftest import unique_topics
from driftline.cli import app
from driftline.collector.app import create_app
from driftline.collector.auth import hash_token
from driftline.collector.intake import Ingestor
from driftline.collector.publisher import Publisher
from driftline.config import load_settings
from driftline.config.base import ConfigError
from driftline.httpserver import BackgroundServer
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
    export = ["export", "--stream", "rooms", "-c", str(config)]
    result = runner.invoke(app, [*export, "--out", str(tmp_path / "x"), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert sum(len(pd.read_csv(tmp_path / "x" / f"rooms-{n}.csv")) for n in ("train", "validation", "test")) == 100
    result = runner.invoke(app, [*export, "--split", "0.5,0.6,0"])
    assert result.exit_code != 0 and "sum to 1" in str(result.exception)


def test_replay_to_a_collector_needs_no_kafka_and_counts_a_422_as_rejected(
    make_settings, bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    streams = {"rooms": {"task": "binary", "target": "occupied", "features": {"temperature": {}, "note": {}}}}
    settings = make_settings(streams, devices={"dev-a": {"token_sha256": hash_token("token-a")}})
    # Rows 0-1 carry a note longer than a feature may be: with --batch 2 the first post is all rejected (422).
    rows = tmp_path / "rows.csv"
    pd.DataFrame(
        {"temperature": [20.0, 21.0, 22.0, 23.0], "note": ["x" * 300, "x" * 300, None, None], "occupied": [0, 1, 0, 1]}
    ).to_csv(rows, index=False)
    # The replaying side's config names no Kafka at all.
    config = tmp_path / "replay.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[streams.rooms]\ntask = "binary"\ntarget = "occupied"\n'
        "features = { temperature = {}, note = {} }\n"
    )
    runner = CliRunner()
    args = ["replay", str(rows), "--stream", "rooms", "-c", str(config), "--batch", "2"]

    result = runner.invoke(app, args)
    assert result.exit_code != 0
    message = str(result.exception)
    assert isinstance(result.exception, ConfigError) and "replay: no Kafka to reach: pass --bootstrap" in message
    assert "--collector" in message

    publisher = Publisher(bootstrap, send_timeout_s=10)
    try:
        with BackgroundServer(create_app(Ingestor(settings, publisher))) as server:
            result = runner.invoke(app, [*args, "--collector", server.url, "--device", "dev-a", "--token", "token-a"])
            assert result.exit_code == 0, result.output
            assert "2 accepted, 2 rejected" in result.output
            # Rows 0-1 only: nothing delivered is a failure, not a success with a count of rejects.
            result = runner.invoke(app, [*args, "--collector", server.url, "--device", "dev-a", "--token", "token-a",
                                         "--limit", "2"])  # fmt: skip
            assert result.exit_code == 1 and "0 accepted, 2 rejected" in result.output
            assert "replay delivered nothing: every row was rejected" in result.output
            result = runner.invoke(app, [*args, "--collector", server.url, "--device", "dev-a", "--token", "wrong"])
            assert isinstance(result.exception, ConfigError) and "collector answered 401" in str(result.exception)
    finally:
        publisher.close()
    assert len(read_topic(bootstrap, settings.topics.events.name, expected=2)) == 2
    assert len(read_topic(bootstrap, settings.topics.deadletter.name, expected=4)) == 4
