"""The trainer's drift judges on the monitor's synthetic streams: what the monitor judged before it only counted.

The monitor's state once ran these judges on every outcome; the trainer runs them now
(:class:`~driftline.rules.concept.ConceptWatch` per model key, :class:`~driftline.rules.datadrift.DataWatch`
on its cleaned features) and the monitor counts the detections the outcomes carry. These are the
monitor's former judging tests, fed the same streams, so what it promised still holds where it
is done.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta

from driftline.config import settings_from_dict
from driftline.contracts import Outcome
from driftline.monitor.synthetic import START, outcomes
from driftline.rules.concept import ConceptWatch
from driftline.rules.datadrift import DataWatch
from driftline.rules.scores import outcome_error

ROOMS = {"task": "binary", "features": {"temperature": {}, "humidity": {}}}


def concept_watch(**drift: int) -> ConceptWatch:
    stream = settings_from_dict({"streams": {"rooms": {**ROOMS, "drift": {"data": None, **drift}}}}).streams["rooms"]
    return ConceptWatch(stream.drift, stream.task)


def concept_drifts(watch: ConceptWatch, batch: Iterable[Outcome]) -> list[tuple[int, str, int]]:
    """(model version, level, position) of every concept alarm ``batch`` raised, fed as the trainer feeds it."""
    found = []
    for o in batch:
        watch.see(o.model_name, o.model_version, o.event_ts.timestamp())
        if o.label is not None and o.prediction is not None:
            error = outcome_error("binary", None, o.label, o.prediction)
            alarm = watch.judge(o.model_name, o.model_version, error)
            if alarm is not None:
                found.append((o.model_version, alarm.level, alarm.position))
    return found


def test_a_new_model_version_restarts_its_detector() -> None:
    watch = concept_watch()
    concept_drifts(watch, outcomes(300))
    assert watch.detector.position == 300
    concept_drifts(watch, outcomes(10, model_version=2, prefix="v2-", start=START + timedelta(seconds=300)))
    assert watch.model_version == 2 and watch.detector.position == 10


def test_a_restarted_trainer_starting_at_version_one_again_is_judged_afresh() -> None:
    watch = concept_watch()
    concept_drifts(watch, outcomes(300, model_version=7))
    # The restarted trainer's model: version 1, newer events, and a concept change within them.
    restarted = START + timedelta(seconds=1000)
    found = concept_drifts(
        watch, outcomes(3000, model_version=1, prefix="r", start=restarted, error_after=0.5, change_at=1500)
    )
    assert watch.model_version == 1 and watch.detector.position == 3000
    drifts = [(version, position) for version, level, position in found if level == "drift"]
    assert [version for version, _ in drifts] == [1] and drifts[0][1] > 1500
    # A late outcome of the replaced version 7 (an older event) starts no new life and is not judged.
    late = outcomes(1, model_version=7, prefix="late", start=START + timedelta(seconds=300))
    assert concept_drifts(watch, late) == []
    assert watch.model_version == 1 and watch.detector.position == 3000


def test_a_model_whose_error_only_falls_raises_no_concept_alarm() -> None:
    watch = concept_watch(warmup=0)
    learning = outcomes(4000, error_before=0.5, error_after=0.05, change_at=1000, seed=5)
    assert concept_drifts(watch, learning) == []
    assert watch.detector.falls >= 1  # the fall was seen, and kept quiet


def test_a_new_version_warms_up_before_it_may_alarm() -> None:
    watch = concept_watch(warmup=500)
    concept_drifts(watch, outcomes(1000, seed=6))
    # Version 2 meets a rise 100 outcomes in: inside its warm-up, so nothing is said of it.
    later = START + timedelta(seconds=1000)
    v2 = outcomes(1500, error_before=0.05, error_after=0.6, change_at=100, model_version=2, prefix="v2-", start=later)
    assert concept_drifts(watch, v2) == []


def test_the_cool_down_of_a_drift_outlives_the_reset_it_caused() -> None:
    watch = concept_watch(warmup=0, debounce=2000)
    v1 = outcomes(2000, error_before=0.05, error_after=0.6, change_at=1000, seed=7)
    assert [level for _, level, _ in concept_drifts(watch, v1) if level == "drift"] == ["drift"]
    # The reset model does well at first, then fails on the same change: no second reset (no loop).
    later = START + timedelta(seconds=2000)
    v2 = outcomes(900, error_before=0.05, error_after=0.6, change_at=300, model_version=2, prefix="v2-", start=later)
    assert [a for a in concept_drifts(watch, v2) if a[1] == "drift"] == []
    # Past the cool-down, a new rise is a new change, and alarms again.
    later += timedelta(seconds=900)
    v3 = outcomes(2500, error_before=0.05, error_after=0.6, change_at=1500, model_version=3, prefix="v3-", start=later)
    assert [a[:2] for a in concept_drifts(watch, v3) if a[1] == "drift"] == [(3, "drift")]


def data_drifts(watch: DataWatch, rows: Iterable[tuple[dict, float]]) -> list[tuple[str, int]]:
    return [(feature, alarm.position) for x, ts in rows for feature, _, alarm in watch.see(x, ts)]


def test_a_category_whose_mix_changes_is_a_data_drift_naming_it() -> None:
    rng = random.Random(11)
    stream = settings_from_dict(
        {"streams": {"rooms": {"task": "binary", "features": {"mode": {"type": "category"}}}}}
    ).streams["rooms"]
    before, after = ["eco"] * 6 + ["comfort"] * 3 + ["boost"], ["eco"] + ["comfort"] * 3 + ["boost"] * 6
    stationary = [({"mode": rng.choice(before)}, float(i)) for i in range(4000)]
    assert data_drifts(DataWatch(stream.drift, stream.features), stationary) == []
    shifted = [({"mode": rng.choice(before if i < 2000 else after)}, float(i)) for i in range(4000)]
    [(feature, position)] = data_drifts(DataWatch(stream.drift, stream.features), shifted)
    assert feature == "mode" and 2000 < position < 2600


def test_a_feature_marked_cyclical_is_not_judged_and_the_cool_down_counts_event_time() -> None:
    streams = {
        "rooms": {
            "task": "binary",
            "features": {"temperature": {}, "hour": {"drift": False}},
            "drift": {"data_debounce": 0, "data_cooldown_s": 3600},
        }
    }
    rng = random.Random(14)
    # Two shifts of temperature ten minutes of event time apart (an event a second), and an hour
    # of day that wraps: one alarm, for temperature, none for the hour.
    rows = [
        ({"temperature": 20.0 + 5 * (i >= 1000) - 5 * (i >= 1600) + rng.gauss(0, 1), "hour": i % 24}, float(i))
        for i in range(3000)
    ]
    stream = settings_from_dict({"streams": streams}).streams["rooms"]
    watch = DataWatch(stream.drift, stream.features)
    assert [feature for feature, _ in data_drifts(watch, rows)] == ["temperature"]
    assert watch.names == ["temperature"]  # the hour is not judged
    # Without the cool-down, the second shift alarms too.
    streams["rooms"]["drift"]["data_cooldown_s"] = 0
    stream = settings_from_dict({"streams": streams}).streams["rooms"]
    assert [f for f, _ in data_drifts(DataWatch(stream.drift, stream.features), rows)] == ["temperature"] * 2


def test_a_young_models_brief_rise_is_confirmed_before_it_alarms() -> None:
    def judged(watch: ConceptWatch, errors: list[float]) -> list[tuple[str, int]]:
        watch.see("logistic", 1, 0.0)
        return [(a.level, a.position) for e in errors if (a := watch.judge("logistic", 1, e)) and a.level == "drift"]

    rng = random.Random(3)
    bump = [float(rng.random() < (0.8 if 1000 <= i < 1060 else 0.05)) for i in range(3000)]
    change = [float(rng.random() < (0.5 if i >= 1000 else 0.05)) for i in range(3000)]
    assert len(judged(concept_watch(warmup=0, confirm=0), bump)) == 1  # the bump alarms at once
    held = concept_watch(warmup=0, confirm=500, young=5000)
    assert judged(held, bump) == [] and held.detector.unconfirmed == 1
    (at_once,) = judged(concept_watch(warmup=0, confirm=0), change)
    assert judged(concept_watch(warmup=0, confirm=500, young=5000), change) == [("drift", at_once[1] + 500)]
    # A grown model's rise (past drift.young) alarms at once.
    assert judged(concept_watch(warmup=0, confirm=500, young=800), change) == [at_once]
