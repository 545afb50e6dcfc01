"""The simulator's generator: reproducible, drift where the schedule says, imperfect delivery on purpose."""

from __future__ import annotations

from collections import Counter

import pytest

from driftline.collector.simulator import SCENARIOS, SimOptions, Simulation
from driftline.collector.simulator.run import ground_truth, paced
from driftline.collector.simulator.schedule import (
    MIN_EVENTS,
    DriftPoint,
    check_schedule,
    concept_at,
    default_schedule,
)
from driftline.contracts import LabelEvent, SensorEvent


def run(scenario: str = "rooms", **options) -> tuple[Simulation, list]:
    sim = Simulation(SCENARIOS[scenario], SimOptions(**{"events": 2000, **options}))
    return sim, list(sim)


def test_same_seed_same_run_other_seed_other_run() -> None:
    _, first = run(seed=7)
    _, again = run(seed=7)
    _, other = run(seed=8)
    assert [e.message for e in first] == [e.message for e in again]
    assert [e.message for e in first] != [e.message for e in other]


def test_default_schedule_covers_every_kind_and_chains() -> None:
    points = default_schedule("rooms", 1000)
    assert {p.kind for p in points} == {"abrupt", "gradual", "incremental", "recurring"}
    check_schedule(points, "A")
    assert concept_at(points, "A", 199) == ("A", "A", 1.0)
    assert concept_at(points, "A", 200) == ("B", "B", 1.0)
    assert concept_at(points, "A", 549) == ("A", "A", 1.0)
    assert concept_at(points, "A", 550) == ("A", "B", 1 / 100)


def test_the_default_schedule_fits_from_its_fewest_events_on() -> None:
    for events in range(MIN_EVENTS, 500):
        check_schedule(default_schedule("rooms", events), "A")
    with pytest.raises(ValueError, match=f"16 events per stream are too few for the drift schedule: .* {MIN_EVENTS}"):
        default_schedule("rooms", MIN_EVENTS - 1)


def test_bad_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="starts from"):
        Simulation(SCENARIOS["rooms"], SimOptions(drift=[DriftPoint("rooms", "abrupt", 10, 11, "B", "A")]))


@pytest.mark.parametrize("scenario", ["rooms", "machines"])
def test_events_follow_the_true_concept(scenario: str) -> None:
    sim, emissions = run(scenario, duplicate_rate=0, out_of_order_rate=0, fault_rate=0, unit_change_at=None)
    events = {e.seq: e.message for e in emissions if not e.is_label}
    assert sorted(events) == list(range(2000))
    for p in sim.drift_points:
        if p.kind in ("abrupt", "recurring"):
            assert events[p.start_seq - 1].metadata["concept"] == p.from_concept
            assert events[p.start_seq].metadata["concept"] == p.to_concept
        elif p.kind == "gradual":
            window = {events[s].metadata["concept"] for s in range(p.start_seq, p.end_seq)}
            assert window == {p.from_concept, p.to_concept}
        else:
            assert events[p.start_seq].metadata["concept"].startswith(f"{p.from_concept}->{p.to_concept}:")
            assert events[p.end_seq - 1].metadata["concept"] == p.to_concept


def test_the_concept_change_is_visible_in_the_data() -> None:
    # Rooms: in concept A occupied rooms are bright, in B they are dim.
    _, emissions = run(duplicate_rate=0, late_label_fraction=0, fault_rate=0)
    by_concept: dict[tuple[str, bool], list[float]] = {}
    for e in emissions:
        m = e.message
        if m.metadata["concept"] in ("A", "B"):
            by_concept.setdefault((m.metadata["concept"], m.label), []).append(m.features["light"])
    mean = {k: sum(v) / len(v) for k, v in by_concept.items()}
    assert mean[("A", True)] > mean[("A", False)] + 200
    assert mean[("B", True)] < mean[("B", False)] - 200


def test_late_labels_duplicates_and_disorder() -> None:
    _, emissions = run(late_label_fraction=0.3, duplicate_rate=0.05, out_of_order_rate=0.05)
    events = [e for e in emissions if not e.is_label]
    labels = [e.message for e in emissions if e.is_label]
    assert all(isinstance(m, LabelEvent) for m in labels)
    unlabeled = {e.message.event_id: e.message for e in events if e.message.label is None}
    assert 400 < len(labels) < 800
    for label in labels:  # every late label belongs to an event sent without one, and comes after it
        assert label.event_id in unlabeled and label.ts > unlabeled[label.event_id].ts
    counts = Counter(e.message.event_id for e in events)
    assert 50 < sum(n - 1 for n in counts.values()) < 150
    assert sum(e.duplicate for e in events) == sum(n - 1 for n in counts.values())
    seqs = [e.seq for e in events if not e.duplicate]
    assert seqs != sorted(seqs) and sorted(seqs) == list(range(2000))


def test_sensor_faults_are_recorded_and_visible() -> None:
    sim, emissions = run(fault_rate=0.02, duplicate_rate=0, out_of_order_rate=0)
    events = {e.seq: e.message for e in emissions if not e.is_label}
    kinds = Counter(f.kind for f in sim.faults)
    assert kinds["stuck"] and kinds["spike"] and kinds["dropout"] and kinds["unit_change"] == 1
    for f in sim.faults:
        event = events[f.start_seq]
        if f.kind == "dropout":
            assert event.features[f.feature] is None
        elif f.kind == "unit_change":
            assert event.units == {"temperature": "degF"} and event.features["temperature"] > 50
    stuck = next(f for f in sim.faults if f.kind == "stuck" and f.end_seq < 2000)
    same_device = [events[s] for s in range(f.start_seq, stuck.end_seq) if events[s].device_id == stuck.device_id]
    values = {e.features[stuck.feature] for e in same_device if e.features[stuck.feature] is not None}
    assert len(values) <= 2  # stuck (a spike or dropout may land on it too)


def test_the_ground_truth_times_every_fault_as_it_times_the_drifts() -> None:
    sim, emissions = run(fault_rate=0.02, duplicate_rate=0, out_of_order_rate=0)
    events = {e.seq: e.message for e in emissions if not e.is_label}
    faults = ground_truth([sim])["faults"]
    assert len(faults) == len(sim.faults) and {f["stream"] for f in faults} == {"rooms"}
    for fault in faults:
        assert fault["start_ts"] == events[fault["start_seq"]].ts.isoformat()
        assert fault["end_ts"] == sim.ts_of(fault["end_seq"]).isoformat()


def test_every_emission_is_a_valid_contract() -> None:
    _, emissions = run("machines", devices=3)
    assert all(isinstance(e.message, SensorEvent | LabelEvent) for e in emissions)
    assert {e.message.device_id for e in emissions} == {"machines-000", "machines-001", "machines-002"}


def test_paced_batches_any_items() -> None:
    # Replay paces plain dicts with the simulator's helper.
    assert list(paced(iter(range(5)), None, 2)) == [[0, 1], [2, 3], [4]]
    assert list(paced([], None, 2)) == []
    assert [len(b) for b in paced(range(100), 2000.0, 500)] == [100]  # 2000/s: batches of 100
