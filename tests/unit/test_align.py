"""Aligning co-partitioned topics: records leave in order of time, whatever order they arrived in."""

from __future__ import annotations

import random

from driftline.kafkaio.align import Aligner


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def merged(arrivals: list[tuple[str, str, float]], seed: int) -> list[str]:
    """Feed the records of each (unit, topic) in their own order, the topics interleaved at random."""
    rng = random.Random(seed)
    clock = Clock()
    aligner: Aligner[str] = Aligner(["events", "labels"], wait_s=5.0, clock=clock)
    queues = {key: [a for a in arrivals if (a[0], a[1]) == key] for key in {(a[0], a[1]) for a in arrivals}}
    out: list[str] = []
    while any(queues.values()):
        key = rng.choice([k for k, q in queues.items() if q])
        for _ in range(rng.randint(1, 4)):  # a fetch brings a few records of one partition
            if queues[key]:
                unit, topic, at = queues[key].pop(0)
                aligner.add(unit, topic, at, f"{unit}/{topic}/{at:g}")
        out += aligner.ready()
    clock.now += 5.0  # the end of input: what still waits goes once the wait is over
    return out + aligner.ready()


def test_records_leave_in_the_same_order_whatever_the_interleaving_of_their_arrival() -> None:
    rng = random.Random(1)
    arrivals = []
    for unit in ("0", "1"):
        events = sorted(rng.uniform(0, 100) for _ in range(50))
        labels = sorted(t + rng.uniform(0, 10) for t in rng.sample(events, 20))
        arrivals += [(unit, "events", t) for t in events] + [(unit, "labels", t) for t in sorted(labels)]
    # Units are independent: each one's own order is what must not change.
    orders = {
        tuple(tuple(r for r in merged(arrivals, seed) if r.startswith(f"{u}/")) for u in "01") for seed in range(20)
    }
    assert len(orders) == 1
    for unit_order in orders.pop():
        times = [float(r.split("/")[2]) for r in unit_order]
        assert times == sorted(times) and len(times) == 70


def test_an_event_and_a_label_of_the_same_instant_go_event_first() -> None:
    aligner: Aligner[str] = Aligner(["events", "labels"], wait_s=1.0)
    aligner.add("0", "labels", 3.0, "label")
    aligner.add("0", "events", 3.0, "event")
    assert aligner.ready() == ["event"]  # the label waits: an event older than it may still come
    aligner.add("0", "events", 3.5, "later")
    assert aligner.ready() == ["label"]
    assert aligner.waited_out == 0


def test_a_record_waits_for_the_other_topic_at_most_the_wait_and_later_ones_wait_anew() -> None:
    clock = Clock()
    aligner: Aligner[str] = Aligner(["events", "labels"], wait_s=2.0, clock=clock)
    aligner.add("0", "events", 1.0, "e1")
    assert aligner.ready() == []
    clock.now = 1.9
    assert aligner.ready() == []
    clock.now = 2.0
    assert aligner.ready() == ["e1"]
    assert aligner.waited_out == 1  # counted: its order against the labels is arrival's
    aligner.add("0", "events", 2.0, "e2")
    assert aligner.ready() == []  # a new wait from now
    clock.now = 4.0
    assert aligner.ready() == ["e2"]
    assert len(aligner) == 0


def test_dropped_units_forget_their_records_and_others_keep_theirs() -> None:
    aligner: Aligner[str] = Aligner(["events", "labels"], wait_s=60.0)
    aligner.add("0", "events", 1.0, "a")
    aligner.add("1", "events", 1.0, "b")
    aligner.drop(["0"])
    assert len(aligner) == 1
    aligner.add("1", "labels", 2.0, "c")
    assert aligner.ready() == ["b"]
