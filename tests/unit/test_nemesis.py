"""The chaos run's nemesis schedule: seeded, every kind met early, never two Kafka nodes at once."""

from __future__ import annotations

from driftline_lab.chaos import Plan
from driftline_lab.nemesis import Spacing, kind_of, schedule

TARGETS = ["collector", "trainer-1", "trainer-2", "monitor-1", "monitor-2", "archiver", "kafka-1", "kafka-2",
           "kafka-3", "mosquitto-1"]  # fmt: skip


def test_the_same_seed_gives_the_same_faults_and_another_seed_others() -> None:
    assert schedule(7, 600, TARGETS) == schedule(7, 600, list(reversed(TARGETS)))
    assert schedule(7, 600, TARGETS) != schedule(8, 600, TARGETS)


def test_the_quick_run_meets_every_kind_in_at_least_ten_faults_of_which_some_pairs() -> None:
    plan = Plan.quick()
    for seed in range(20):
        faults = schedule(seed, plan.seconds, TARGETS, plan.spacing)
        assert len(faults) >= 10
        assert {k for f in faults for k in f.kinds} == {kind_of(t) for t in TARGETS}
        assert all(f.at_s <= plan.seconds and plan.spacing.pause_s[0] <= f.pause_s <= plan.spacing.pause_s[1]
                   for f in faults)  # fmt: skip


def test_two_at_once_are_of_two_kinds_so_never_two_kafka_nodes() -> None:
    faults = schedule(3, 3600, TARGETS, Spacing(pair_chance=0.9))
    pairs = [f for f in faults if len(f.targets) == 2]
    assert len(pairs) > len(faults) / 2
    assert all(len(set(f.kinds)) == 2 for f in pairs)
