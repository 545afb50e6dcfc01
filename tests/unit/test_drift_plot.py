"""The run picture's pure parts: rolling accuracy and where detections land in event time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from driftline.contracts import DriftEvent, Outcome
from driftline.drift_plot import detection_times, model_resets, plot_run, rolling_accuracy

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def outcome(i: int, right: bool, stream: str = "rooms", key: str = "rooms", version: int = 1, **extra) -> Outcome:
    return Outcome(
        outcome_id=f"{key}/d/e{i}/l", event_id=f"e{i}", stream=stream, device_id="d", model_key=key,
        model_name="logistic", model_version=version, prediction=True, label=right, features={},
        event_ts=T0 + timedelta(seconds=i), ts=T0, **extra,
    )  # fmt: skip


def test_rolling_accuracy_follows_event_time_and_skips_holdout_and_unlabelled() -> None:
    outcomes = [outcome(i, right=i < 4) for i in range(8)][::-1]  # arrive out of order
    outcomes.append(outcome(99, right=False, holdout=True))
    outcomes.append(Outcome(**{**outcome(98, True).model_dump(), "label": None}))
    # A model that has learned nothing answers nothing: not a wrong answer, no answer.
    outcomes.append(Outcome(**{**outcome(97, False).model_dump(), "prediction": None}))
    series = rolling_accuracy(outcomes, window=4)["rooms"]
    assert [t for t, _ in series] == [T0 + timedelta(seconds=i) for i in range(8)]
    assert [v for _, v in series] == [1, 1, 1, 1, 0.75, 0.5, 0.25, 0]


def test_a_detection_lands_at_the_stream_time_its_outcome_was_emitted_at() -> None:
    outcomes = [outcome(i, True) for i in range(10)] + [outcome(i, True, version=2) for i in range(10, 20)]
    # A late label of event 5, arriving after event 10: judged too, at the time it arrived.
    outcomes.insert(11, outcome(5, True, version=2, holdout=True))
    outcomes.insert(12, Outcome(**{**outcome(6, True, version=2).model_dump(), "model_name": "hoeffding"}))
    drift = DriftEvent(
        drift_id="x", drift_kind="concept", stream="rooms", model_key="rooms", model_name="logistic",
        model_version=2, detector="ADWIN", position=3,
    )  # fmt: skip
    warning = drift.model_copy(update={"level": "warning"})
    assert detection_times(outcomes, [drift, warning]) == {"rooms": [T0 + timedelta(seconds=11)]}
    on_the_late_label = drift.model_copy(update={"position": 2})
    assert detection_times(outcomes, [on_the_late_label]) == {"rooms": [T0 + timedelta(seconds=10)]}


def test_the_picture_is_a_png(tmp_path: Path) -> None:
    truth = [{"stream": "rooms", "kind": "abrupt", "start_ts": (T0 + timedelta(seconds=5)).isoformat(),
              "end_ts": (T0 + timedelta(seconds=5)).isoformat()}]  # fmt: skip
    path = plot_run([outcome(i, i % 3 > 0) for i in range(30)], [], truth, tmp_path / "run.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resets_are_the_first_outcomes_of_each_new_version_per_model_key() -> None:
    outcomes = [outcome(i, True, version=1 + (i >= 5) + (i >= 8)) for i in range(10)]
    outcomes += [outcome(i, True, key="rooms/x", version=1) for i in range(10)]
    outcomes.append(outcome(3, True, version=1))  # a late label of the replaced model: no new reset
    # The first outcome of version 2 is an event that came late (time 1, after event 4): the reset
    # is where the key's stream had got to, not an hour back at that event's own time.
    outcomes.insert(5, outcome(1, True, version=2))
    assert model_resets(outcomes) == {
        "rooms": [(T0 + timedelta(seconds=4), "rooms", 2), (T0 + timedelta(seconds=8), "rooms", 3)]
    }
