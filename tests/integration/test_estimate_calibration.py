"""The accuracy estimate against the accuracy realised, through the real broker, trainer and monitor.

Issue 22, item 5: on a stationary River Hyperplane stream with the default ``logistic`` preset, 3,000
events come with their labels, then 1,000 without. Before their labels come, the monitor estimates
the accuracy of those 1,000 predictions (its window) from their confidence, calibrated on the
labelled outcomes before; then their labels come late, on the labels topic, and the monitor's
rolling accuracy (its window: those same 1,000 predictions) is what they realised. The calibrated
estimate must be within 0.03 of it; the raw confidence was 11 points off on such a stream.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import httpx
from kafka_helpers import produce
from monitor_fixtures import monitor_settings, wait_for
from prometheus_client.parser import text_string_to_metric_families
from river.datasets import synth

from driftline.contracts import LabelEvent, SensorEvent
from driftline.httpserver import exposed_total
from driftline.monitor.service import MonitorService
from driftline.rules.keys import model_key
from driftline.trainer.runner import TrainerRunner

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LABELLED, LATE = 3000, 1000
FEATURES = [f"x{i}" for i in range(10)]


def hyperplane() -> list[tuple[dict[str, float], bool]]:
    return [
        ({f"x{k}": v for k, v in x.items()}, bool(y)) for x, y in islice(synth.Hyperplane(seed=11), LABELLED + LATE)
    ]


def estimates(text: str) -> dict[str, float]:
    return {
        sample.labels["method"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "driftline_accuracy_estimated" and sample.labels["stream"] == "plane"
    }


def test_the_calibrated_estimate_is_within_3_points_of_the_accuracy_late_labels_realise(
    bootstrap: str, tmp_path: Path
) -> None:
    stream = {"task": "binary", "features": {name: {} for name in FEATURES}, "drift": {"data": None}}
    settings = monitor_settings(bootstrap, tmp_path, {"plane": stream}, monitor={"window": LATE})
    rows = hyperplane()
    events = [
        SensorEvent(event_id=f"e{i}", device_id="d1", stream="plane", ts=T0 + timedelta(seconds=i), features=x,
                    label=y if i < LABELLED else None)
        for i, (x, y) in enumerate(rows)
    ]  # fmt: skip
    key = model_key("plane", "d1", "stream")
    with MonitorService(settings, bootstrap, port=0) as monitor, TrainerRunner(settings, bootstrap, port=0):
        produce(bootstrap, settings.topics.events.name, ((key, e) for e in events))
        wait_for(lambda: sum(monitor.state.accepted.values()) == len(events), "every prediction", timeout=180)
        text = httpx.get(f"{monitor.url}/metrics").text
        before = estimates(text)
        assert exposed_total(text, "driftline_accuracy_estimate_calibration_labels", stream="plane") == 2 * LATE
        [row] = httpx.get(f"{monitor.url}/ui/data").json()["streams"][0]["models"]
        assert (row["estimate_method"], row["calibration_labels"], row["estimated_over"]) == ("calibrated", 2000, LATE)
        assert row["estimate"] == before["calibrated"]

        # The labels of the last 1,000 predictions come a minute late.
        labels = [
            LabelEvent(stream="plane", device_id="d1", event_id=f"e{i}", label=y, ts=T0 + timedelta(seconds=i + 60))
            for i, (_, y) in enumerate(rows)
            if i >= LABELLED
        ]
        produce(bootstrap, settings.topics.labels.name, ((key, label) for label in labels))
        wait_for(lambda: sum(monitor.state.accepted.values()) == len(events) + LATE, "every late label", timeout=120)
        text = httpx.get(f"{monitor.url}/metrics").text
    # The rolling window holds the last 1,000 labelled outcomes: the late ones.
    assert (
        exposed_total(text, "driftline_scored_outcomes", stream="plane", estimate="prequential", window="rolling")
        == LATE
    )
    realised = exposed_total(text, "driftline_accuracy", stream="plane", estimate="prequential", window="rolling")
    assert abs(before["calibrated"] - realised) <= 0.03, (before, realised)
    assert abs(before["confidence"] - realised) > 0.05, (before, realised)  # what the calibration fixes
