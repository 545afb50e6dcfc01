"""The simulator into the real broker: the recorded drift points match the events read back from Kafka."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from collector_fixtures import headers_of, read_topic

from driftline.collector.app import create_app
from driftline.collector.auth import hash_token
from driftline.collector.client import CollectorError
from driftline.collector.intake import Ingestor
from driftline.collector.publisher import Publisher
from driftline.collector.simulator import SimOptions
from driftline.collector.simulator.generator import Emission
from driftline.collector.simulator.run import http_sink, run_simulation
from driftline.config.settings import Settings
from driftline.contracts import LabelEvent, SensorEvent, parse_any
from driftline.httpserver import BackgroundServer

STREAMS = {
    "rooms": {"task": "binary", "features": {f: {} for f in ("temperature", "humidity", "co2", "light")}},
    "machines": {
        "task": "binary",
        "scope": "device",
        "features": {f: {} for f in ("vibration", "temperature", "current")},
    },
}


def test_recorded_drift_points_match_the_events_in_kafka(make_settings, bootstrap: str, tmp_path: Path) -> None:
    settings: Settings = make_settings(STREAMS)
    options = SimOptions(events=300, devices=3, seed=11, duplicate_rate=0.02, out_of_order_rate=0.03)
    report = run_simulation(settings, bootstrap, options=options, out_dir=tmp_path / "truth")
    assert report.rejected == 0

    truth = json.loads((tmp_path / "truth" / "drift_points.json").read_text())
    events_read = read_topic(bootstrap, settings.topics.events.name, expected=report.events)
    labels_read = read_topic(bootstrap, settings.topics.labels.name, expected=report.labels)
    assert len(events_read) == report.events and len(labels_read) == report.labels == report.labels

    by_seq: dict[tuple[str, int], SensorEvent] = {}
    for record in events_read:
        event = parse_any(record.value)
        assert isinstance(event, SensorEvent)
        assert record.key.decode() == ("rooms" if event.stream == "rooms" else f"machines/{event.device_id}")
        by_seq[(event.stream, int(event.metadata["seq"]))] = event
    assert len(by_seq) == 600  # every event arrived (duplicates collapse on their seq)
    assert all(isinstance(parse_any(r.value), LabelEvent) for r in labels_read)

    points = truth["drift_points"]
    assert {(p["stream"], p["kind"]) for p in points} == {
        (s, k) for s in ("rooms", "machines") for k in ("abrupt", "gradual", "incremental", "recurring")
    }
    for p in points:
        first = by_seq[(p["stream"], p["start_seq"])]
        assert first.event_id == p["start_event_id"]
        assert first.ts.isoformat() == p["start_ts"]
        before = by_seq[(p["stream"], p["start_seq"] - 1)].metadata["concept"]
        after = by_seq[(p["stream"], p["end_seq"] - 1)].metadata["concept"]
        assert before == p["from_concept"]
        if p["kind"] != "gradual":  # a gradual window's last event may still be the old concept
            assert after == p["to_concept"]
    assert (tmp_path / "truth" / "drift_points.csv").read_text().count("\n") == len(points) + 1


def test_http_sink_counts_a_batch_the_collector_rejects_whole(make_settings, bootstrap: str) -> None:
    settings: Settings = make_settings(STREAMS, devices={"rooms-000": {"token_sha256": hash_token("token")}})
    # Built without validation, so the collector is the one to reject it: a feature name the contract forbids.
    bad = SensorEvent.model_construct(
        event_id="e-1", device_id="rooms-000", stream="rooms", ts=datetime(2025, 1, 1, tzinfo=UTC),
        features={"bad name!": 1.0},
    )  # fmt: skip
    publisher = Publisher(bootstrap, send_timeout_s=10)
    try:
        with BackgroundServer(create_app(Ingestor(settings, publisher))) as server:
            sink = http_sink(server.url, {"rooms-000": "token"})
            # 422 with per-item results: every item rejected, an answer rather than a failure.
            assert sink([Emission(bad, 0)]) == 1
            with pytest.raises(CollectorError, match="collector answered 401"):
                http_sink(server.url, {"rooms-000": "wrong"})([Emission(bad, 0)])
    finally:
        publisher.close()
    (dead,) = read_topic(bootstrap, settings.topics.deadletter.name, expected=1)
    assert headers_of(dead)["reason"] == "invalid" and headers_of(dead)["source"] == "http"
