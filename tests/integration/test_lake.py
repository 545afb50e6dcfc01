"""The archiver writes every event of the events topic into the Parquet lake; export splits by time."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
from collector_fixtures import read_topic
from kafka import KafkaAdminClient
from test_simulator_kafka import STREAMS

from driftline.collector.archiver import Archiver
from driftline.collector.simulator import SimOptions
from driftline.collector.simulator.run import run_simulation
from driftline.config.settings import Settings
from driftline.contracts import SensorEvent, parse
from driftline.lake import export, read_lake


def test_lake_holds_every_event_sent_and_exports_by_time(make_settings, bootstrap: str, tmp_path: Path) -> None:
    settings: Settings = make_settings(STREAMS, collector={"lake_batch_events": 150})
    options = SimOptions(events=200, devices=2, seed=3, start=pd.Timestamp("2025-03-01T23:58:00Z").to_pydatetime())
    report = run_simulation(settings, bootstrap, options=options, out_dir=tmp_path / "truth")
    sent = {(parse(SensorEvent, r.value).device_id, parse(SensorEvent, r.value).event_id)
            for r in read_topic(bootstrap, settings.topics.events.name, expected=report.events)}  # fmt: skip

    lake = tmp_path / "lake"
    archived = Archiver(settings, bootstrap, lake, group=f"lake-{uuid.uuid4().hex[:8]}").run(idle_exit_s=3)
    assert archived == report.events

    frame = read_lake(lake)
    assert set(zip(frame["device_id"], frame["event_id"], strict=True)) == sent
    assert len(frame) == report.events  # duplicates sent by the simulator are archived raw
    # 200 events a second apart from 23:58 cross midnight: two date partitions per stream.
    folders = sorted(str(p.relative_to(lake)) for p in lake.glob("stream=*/date=*"))
    assert folders == [f"stream={s}/date={d}" for s in ("machines", "rooms") for d in ("2025-03-01", "2025-03-02")]
    assert len(list(lake.glob("stream=rooms/date=*/*.parquet"))) >= 2  # written in batches

    paths = export(lake, "rooms", tmp_path / "export", target="occupied")
    train, validation, test = (pd.read_parquet(paths[name]) for name in ("train", "validation", "test"))
    assert len(train) + len(validation) + len(test) == 200  # one row per event, duplicates dropped
    assert train["ts"].max() <= validation["ts"].min() and validation["ts"].max() <= test["ts"].min()
    assert {"temperature", "humidity", "co2", "light", "occupied"} <= set(train.columns)
    assert len(train) == 140


def test_a_second_archiver_run_resumes_where_the_first_committed(make_settings, bootstrap: str, tmp_path: Path) -> None:
    settings: Settings = make_settings(STREAMS)
    run_simulation(settings, bootstrap, scenarios=["machines"], options=SimOptions(events=50, duplicate_rate=0))
    lake = tmp_path / "lake"
    # A group of the test's own: the session broker is shared with the stack's archiver (driftline-lake).
    group = f"lake-{uuid.uuid4().hex[:8]}"
    assert Archiver(settings, bootstrap, lake, group=group).run(idle_exit_s=2) == 50
    run_simulation(settings, bootstrap, scenarios=["machines"], options=SimOptions(events=30, seed=9, duplicate_rate=0))
    assert Archiver(settings, bootstrap, lake, group=group).run(idle_exit_s=2) == 30
    assert len(read_lake(lake, "machines")) == 80


def test_a_failed_write_still_closes_the_consumer(make_settings, bootstrap: str, tmp_path: Path) -> None:
    settings: Settings = make_settings(STREAMS, collector={"lake_batch_events": 10})
    run_simulation(settings, bootstrap, scenarios=["machines"], options=SimOptions(events=20, duplicate_rate=0))
    lake = tmp_path / "lake"
    lake.write_text("a file where the lake folder should be")  # every write fails
    group = f"lake-{uuid.uuid4().hex[:8]}"
    archiver = Archiver(settings, bootstrap, lake, group=group)
    with pytest.raises(OSError):
        archiver.run(idle_exit_s=2)
    # Closed, the consumer left its group; a leaked one would still be a member, holding the partitions.
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        description = admin.describe_groups([group])[group]
    finally:
        admin.close()
    assert description["members"] == [] and description["group_state"] == "Empty"
