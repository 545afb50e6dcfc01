"""Replay sources become valid sensor events: River's bundled datasets and CSV files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from driftline.collector.ingest import Accepted, StreamRules, check_items
from driftline.collector.replay import rows_from_source, to_events
from driftline.config.base import ConfigError
from driftline.config.streams import StreamConfig
from driftline.contracts import SensorEvent


def test_river_phishing_replays_as_valid_events() -> None:
    events = list(to_events(rows_from_source("river:Phishing", "label"), "phishing", "dev", "label", limit=50))
    rules = StreamRules.of("phishing", StreamConfig(task="binary", features={"x": {}}))
    results = check_items(events, SensorEvent, "phishing", "dev", rules)
    assert len(results) == 50 and all(isinstance(r, Accepted) for r in results)
    assert {type(r.message.label) for r in results} == {bool}
    assert "empty_server_form_handler" in results[0].message.features


def test_csv_with_time_column_and_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    pd.DataFrame({"when": ["2025-01-01T00:00:00Z", "2025-01-01T00:00:05Z"], "t": [1.5, None], "y": [0, 1]}).to_csv(
        path, index=False
    )
    events = list(to_events(rows_from_source(str(path), "y"), "rooms", "d", "y", ts_column="when"))
    assert [e["features"] for e in events] == [{"t": 1.5}, {"t": None}]
    assert [e["label"] for e in events] == [0, 1]
    assert events[1]["ts"] == "2025-01-01T00:00:05+00:00"


def test_unknown_sources_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no dataset 'Nope'"):
        list(rows_from_source("river:Nope", "y"))
    with pytest.raises(ConfigError, match="no such file"):
        list(rows_from_source(str(tmp_path / "missing.csv"), "y"))


def test_river_columns_that_break_the_feature_pattern_get_a_prefix() -> None:
    events = list(to_events(rows_from_source("river:Bananas", "label"), "bananas", "dev", "label", limit=5))
    rules = StreamRules.of("bananas", StreamConfig(task="binary", features={"x_1": {}, "x_2": {}}))
    results = check_items(events, SensorEvent, "bananas", "dev", rules)
    assert all(isinstance(r, Accepted) for r in results) and len(results) == 5
    assert set(results[0].message.features) == {"x_1", "x_2"}


def test_columns_no_prefix_can_save_or_that_collide_are_refused() -> None:
    with pytest.raises(ConfigError, match="column 'a b' cannot name a feature"):
        list(to_events(iter([{"a b": 1.0, "y": 0}]), "s", "d", "y"))
    with pytest.raises(ConfigError, match="would both be the feature 'x_1'"):
        list(to_events(iter([{"1": 1.0, "x_1": 2.0, "y": 0}]), "s", "d", "y"))


def test_rows_without_times_end_now_so_none_is_from_the_future(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from driftline.collector.replay import replay_start, source_size

    assert source_size("river:Phishing") == 1250
    path = tmp_path / "rows.csv"
    path.write_text("a,y\n1,0\n2,1\n3,0\n")
    assert source_size(str(path)) == 3
    assert source_size("river:NoSuchSet") is None
    now = datetime(2026, 1, 1, tzinfo=UTC)
    start = replay_start(source_size("river:Phishing"), 1.0, now)
    events = list(to_events(rows_from_source("river:Phishing", "label"), "phishing", "dev", "label", start=start))
    stamps = [datetime.fromisoformat(e["ts"]) for e in events]
    assert len(stamps) == 1250 and stamps == sorted(stamps)
    assert stamps[-1] < now and now - stamps[0] == timedelta(seconds=1250)
