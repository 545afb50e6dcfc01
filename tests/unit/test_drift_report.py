"""The stack's drift report: each true drift scored by the accuracy change at it, detection, delay, reset and accuracy
around the reset; false concept alarms; data drifts classed against the true drifts and the injected faults."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from driftline.contracts import DriftEvent, Outcome
from driftline.drift_plot import plot_run
from driftline.drift_report import (
    AT_DRIFT,
    AT_FAULT,
    DETECTION_HORIZON,
    FALSE,
    FAULT_HORIZON,
    NO,
    NO_CHANGE,
    PARTLY,
    UNTOLD,
    VERDICTS,
    YES,
    score_run,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


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


def detection(position: int, key: str = "rooms", version: int = 1, stream: str = "rooms") -> DriftEvent:
    return DriftEvent(
        drift_id=f"{key}:v{version}:{position}", drift_kind="concept", stream=stream, model_key=key,
        model_name="logistic", model_version=version, detector="ADWIN", position=position,
    )  # fmt: skip


def truth(seq: int, kind: str, stream: str = "rooms", width: int = 0) -> dict:
    return {"stream": stream, "kind": kind, "start_ts": at(seq), "end_ts": at(seq + width)}


def fleet(
    events: int, right: Callable[[int], bool], keys: int = 1, version: Callable[[int], int] = lambda i: 1
) -> list[Outcome]:
    """``events`` labelled events of stream ``machines`` a second apart, dealt in turn to devices m0, m1, ... each its
    own model key; ``right(i)`` says whether event ``i``'s prediction was right, ``version(i)`` which model made it."""
    outcomes = []
    for i in range(events):
        device = f"m{i % keys}"
        outcome = Outcome(
            outcome_id=f"machines/{device}/e{i}/l", event_id=f"e{i}", stream="machines", device_id=device,
            model_key=f"machines/{device}", model_name="logistic", model_version=version(i),
            prediction=right(i), label=True, learned=True, event_ts=T0 + timedelta(seconds=i), ts=T0,
        )  # fmt: skip
        outcomes.append(outcome)
    return outcomes


def test_each_true_drift_is_scored_and_alarms_in_no_drifts_horizon_are_false() -> None:
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
    assert rows[0][:2] == ["rooms", "abrupt at 00:16:40"]
    assert rows[0][3:5] == ["yes (1 alarm)", "99 / 300 events"]
    assert rows[1][1] == "gradual B->A at 00:33:20"  # which concept it returns to
    assert rows[1][4:6] == ["-", "-"]


def test_a_drift_reads_yes_no_or_no_change_to_detect_by_what_it_did_to_the_keys_accuracy() -> None:
    def right(i: int) -> bool:
        if 1000 <= i < 1200:  # the first drift, until the model is reset
            return i % 10 < 6
        if 3000 <= i < 4000:  # the second drift: the model learns it slowly, and nobody notices
            return i % 10 < 8
        return i % 20 != 0

    outcomes = fleet(8000, right, version=lambda i: 1 if i < 1200 else 2)
    drift_points = [truth(1000, "abrupt", "machines"), truth(3000, "abrupt", "machines"),
                    truth(6000, "recurring", "machines")]  # fmt: skip
    report = score_run(outcomes, [detection(1100, "machines/m0", stream="machines")], drift_points)
    hurt, missed, harmless = report.drifts
    # The model serving at the first drift is scored on its own labels: not on those of the model reset to.
    (first,) = hurt.keys
    assert (first.labels_before, first.labels_after, round(first.before, 3), first.after) == (1000, 200, 0.95, 0.6)
    assert [d.verdict for d in report.drifts] == [YES, NO, NO_CHANGE]
    assert round(missed.keys[0].points, 1) == -15.0 and harmless.keys[0].points == pytest.approx(0)
    rows = report.rows()
    assert [row[3] for row in rows] == ["yes (1 alarm)", "no", "no change to detect"]
    assert rows[1][2] == "0.950 -> 0.800 (-15.0)"
    assert not report.target_met
    assert report.summary()[-1] == (
        "true drifts that lowered a key's accuracy by 2 points or more: 2, detected on every key they lowered: 1; "
        "missed: machines abrupt at 00:50:00"
    )


def test_a_drift_too_near_the_end_to_measure_reads_too_few_labels_to_tell() -> None:
    report = score_run(fleet(2010, lambda i: i % 20 != 0), [], [truth(2000, "abrupt", "machines")])
    (drift,) = report.drifts
    assert (drift.keys[0].labels_after, drift.keys[0].points, drift.hurt) == (10, None, [])
    assert drift.verdict == UNTOLD and report.rows()[0][2:4] == ["-", "too few labels to tell"]


def test_a_drift_detected_on_some_of_the_keys_it_hurt_reads_partly() -> None:
    # Two machines, each its own model key; both fall at the drift, only m0's is detected.
    outcomes = fleet(4000, lambda i: (i // 2) % 20 != 0 if i < 2000 else (i // 2) % 10 < 7, keys=2)
    report = score_run(
        outcomes, [detection(1100, "machines/m0", stream="machines")], [truth(2000, "abrupt", "machines")]
    )
    (drift,) = report.drifts
    assert [(k.model_key, k.hurt, k.detected) for k in drift.keys] == [
        ("machines/m0", True, True), ("machines/m1", True, False),
    ]  # fmt: skip
    assert drift.verdict == PARTLY and drift.missed
    row = report.rows()[0]
    assert row[2] == "hurt 2/2 keys, worst 0.950 -> 0.700 (-25.0)"
    assert row[3] == "partly (1 alarm; on 1 of the 2 keys it hurt)"


def test_an_alarm_past_a_drifts_horizon_is_false_and_every_verdict_is_one_of_the_allowed() -> None:
    late = 1000 + DETECTION_HORIZON + 50
    alarms = [detection(1010, "machines/m0", stream="machines"), detection(late, "machines/m0", stream="machines")]
    report = score_run(fleet(10_000, lambda i: i % 20 != 0), alarms, [truth(1000, "abrupt", "machines")])
    (drift,) = report.drifts
    assert (drift.alarms, report.false_alarms) == (1, {"machines": 1})
    assert report.false_alarm_times["machines"] == [T0 + timedelta(seconds=late - 1)]
    assert report.summary()[1].endswith("after its end): machines 1")
    assert all(any(row[3].startswith(v) for v in VERDICTS) for row in report.rows())
    assert not report.target_met


def with_data_drift(outcome: Outcome, feature: str) -> Outcome:
    found = DriftEvent(
        drift_id=f"data:{outcome.event_id}", drift_kind="data", stream=outcome.stream, model_key=outcome.model_key,
        model_name="logistic", model_version=1, detector="ADWIN", feature=feature, position=1,
    )  # fmt: skip
    return outcome.model_copy(update={"drift": [found]})


def test_data_drifts_are_scored_at_a_true_drift_at_a_sensor_fault_or_false() -> None:
    outcomes = fleet(12_000, lambda i: True, keys=2)
    drift_end = 1000 + 100
    fault_at = drift_end + DETECTION_HORIZON + 1000  # well past the drift's horizon
    found = {
        1050: "vibration",  # in the drift's window: at the drift
        fault_at + 20: "current",  # m0's current was stuck then: at the fault (event fault_at + 20 is m0's)
        fault_at + 21: "current",  # m1 learns from no device the fault hit: false
        fault_at + 22: "vibration",  # another feature than the fault's: false
        fault_at + FAULT_HORIZON + 120: "current",  # long after the fault: false
        10_000: "temperature",  # m0's unit change: declared and converted, no fault a model sees: false
    }
    outcomes = [with_data_drift(o, found[i]) if i in found else o for i, o in enumerate(outcomes)]
    faults = [
        {"stream": "machines", "kind": "stuck", "device_id": "m0", "feature": "current",
         "start_ts": at(fault_at), "end_ts": at(fault_at + 40)},
        {"stream": "machines", "kind": "unit_change", "device_id": "m0", "feature": "temperature",
         "start_ts": at(9000), "end_ts": at(12_000)},
    ]  # fmt: skip
    report = score_run(outcomes, [], [truth(1000, "gradual", "machines", width=100)], faults)
    assert [kind for _, _, kind in report.data_drifts["machines"]] == [AT_DRIFT, AT_FAULT, FALSE, FALSE, FALSE, FALSE]
    assert report.data_drift_classes()["machines"] == {AT_DRIFT: 1, AT_FAULT: 1, FALSE: 4}
    assert report.drifts[0].data_drifts == 1
    assert report.summary()[2] == "data drifts detected: machines 6 (at a true drift 1, at a sensor fault 1, false 4)"


def test_injected_sensor_faults_are_recognised_on_their_device_and_feature_or_not() -> None:
    outcomes = fleet(3000, lambda i: True, keys=2)
    steps = {
        500: ["stuck:current"],
        1001: ["clipped:vibration", "converted:temperature"],
        2000: ["imputed:temperature"],
    }
    outcomes = [o.model_copy(update={"cleaning": steps[i]}) if i in steps else o for i, o in enumerate(outcomes)]
    faults = [
        {"stream": "machines", "kind": "stuck", "device_id": "m0", "feature": "current",
         "start_ts": at(460), "end_ts": at(540)},  # m0's current repeating; recognised at its 20th event
        {"stream": "machines", "kind": "spike", "device_id": "m1", "feature": "vibration",
         "start_ts": at(1001), "end_ts": at(1002)},
        {"stream": "machines", "kind": "dropout", "device_id": "m1", "feature": "temperature",
         "start_ts": at(2001), "end_ts": at(2002)},  # m1's reading went missing: nothing shows it
    ]  # fmt: skip
    report = score_run(outcomes, [], [], faults)
    # m0's missing temperature at 2000 was no injected fault: recognised beside them.
    assert report.faults == {"machines": {"stuck": (1, 1, 0), "spike": (1, 1, 0), "dropout": (0, 1, 1)}}
    assert report.summary()[3].endswith("machines stuck 1/1 (+0), spike 1/1 (+0), dropout 0/1 (+1)")


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ({"stream": "rooms", "kind": "abrupt", "start_ts": at(5)}, "drift point 0: missing 'end_ts'"),
        ({**truth(5, "abrupt"), "start_ts": "yesterday"}, "drift point 0: start_ts and end_ts must be ISO 8601 times"),
        ({**truth(5, "abrupt"), "start_ts": "2026-01-01T00:00:05"}, "drift point 0: start_ts and end_ts need a time"),
        ({**truth(5, "abrupt"), "end_ts": at(1)}, "drift point 0: end_ts is before start_ts"),
        ("abrupt at 5", "drift point 0: expected an object, got str"),
    ],
)
def test_a_malformed_drift_point_is_refused_with_what_is_wrong(point: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score_run([], [], [point])  # type: ignore[list-item]


def test_a_fault_without_its_times_is_refused_with_what_is_missing() -> None:
    fault = {"stream": "rooms", "kind": "spike", "device_id": "d", "feature": "co2", "start_seq": 5, "end_seq": 6}
    with pytest.raises(ValueError, match="fault 0: missing 'start_ts', 'end_ts'"):
        score_run([], [], [], [fault])


def test_the_scored_picture_is_a_png(tmp_path: Path) -> None:
    outcomes = [with_data_drift(o, "co2") if i == 1500 else o for i, o in enumerate(run_outcomes())]
    drift_points = [truth(1000, "abrupt")]
    report = score_run(outcomes, [detection(500), detection(1100)], drift_points)
    path = plot_run(outcomes, [detection(500), detection(1100)], drift_points, tmp_path / "run.png", 100, report)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
