"""The stack's drift report: each true drift scored by detection, delay, reset and accuracy around it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from driftline.contracts import DriftEvent, Outcome
from driftline.drift_report import score_run

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run_outcomes() -> list[Outcome]:
    """3,000 labelled events a second apart; the concept flips at 1,000 and the model is reset at 1,300."""
    rng = random.Random(4)
    outcomes = []
    for i in range(3000):
        right = rng.random() < (0.5 if 1000 <= i < 1300 else 0.9)
        outcomes.append(
            Outcome(
                outcome_id=f"rooms/d/e{i}/l",
                event_id=f"e{i}",
                stream="rooms",
                device_id="d",
                model_key="rooms",
                model_name="logistic",
                model_version=1 if i < 1300 else 2,
                prediction=right,
                label=True,
                learned=True,
                features={},
                event_ts=T0 + timedelta(seconds=i),
                ts=T0,
            )
        )
    return outcomes


def detection(position: int) -> DriftEvent:
    return DriftEvent(
        drift_id=f"rooms:v1:{position}", drift_kind="concept", stream="rooms", model_key="rooms",
        model_name="logistic", model_version=1, detector="ADWIN", position=position,
    )  # fmt: skip


def truth(seq: int, kind: str) -> dict:
    start = T0 + timedelta(seconds=seq)
    return {"stream": "rooms", "kind": kind, "start_ts": start.isoformat(), "end_ts": start.isoformat()}


def test_each_true_drift_is_scored_and_alarms_before_the_first_are_false() -> None:
    report = score_run(
        run_outcomes(),
        [detection(500), detection(1100)],
        [truth(1000, "abrupt"), {**truth(2000, "gradual"), "from_concept": "B", "to_concept": "A"}],
    )
    abrupt, gradual = report.drifts
    assert (abrupt.detected, abrupt.alarms, abrupt.detection_delay_events, abrupt.detection_delay_s) == (
        True, 1, 99, 99.0,
    )  # fmt: skip
    assert (abrupt.reset_model_key, abrupt.reset_delay_events, abrupt.reset_delay_s) == ("rooms", 300, 300.0)
    assert abrupt.accuracy_before < 0.8 < abrupt.accuracy_after
    assert (gradual.detected, gradual.reset_model_key, gradual.detection_delay_events) == (False, None, None)
    assert report.false_alarms == {"rooms": 1}
    rows = report.rows()
    assert rows[0][:4] == ["rooms", "abrupt at 00:16:40", "yes (1 alarm)", "99 events / 99 s"]
    assert rows[1][1:5] == ["gradual B->A at 00:33:20", "no", "-", "no reset"]  # which concept it returns to
