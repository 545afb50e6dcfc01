"""The simulator into the real broker: the recorded drift points match the events read back from Kafka."""

from __future__ import annotations

import json
from pathlib import Path

from collector_fixtures import read_topic

from driftline.collector.simulator import SimOptions
from driftline.collector.simulator.run import run_simulation
from driftline.config import Settings
from driftline.contracts import LabelEvent, SensorEvent, parse_any

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
