"""Whether a unit handed back at a rebalance may go on from memory, without a broker.

The broker's side: tests/integration/test_trainer_recovery.py (instances joining and leaving a group keep
the exact outcomes) and test_loop_commits.py (a rebalance keeps the units that come back).
"""

from __future__ import annotations

from driftline.kafkaio.units import Unit

EVENTS, LABELS = ("events", 3), ("labels", 3)


def handed_back() -> Unit:
    # Read both partitions; the group had committed events up to 90 at its assignment (replayed from 80).
    return Unit("p3", positions={EVENTS: 85, LABELS: 12}, emit_from={EVENTS: 90, LABELS: 10})


def test_what_a_unit_commits_never_moves_the_group_back() -> None:
    assert handed_back().committable() == {EVENTS: 90, LABELS: 12}


def test_a_unit_assigned_back_with_the_offsets_it_committed_goes_on() -> None:
    assert handed_back().still_current([EVENTS, LABELS], {EVENTS: 90, LABELS: 12})


def test_progress_another_member_committed_meanwhile_sends_it_to_its_checkpoint() -> None:
    assert not handed_back().still_current([EVENTS, LABELS], {EVENTS: 95, LABELS: 12})
    assert not handed_back().still_current([EVENTS, LABELS], {EVENTS: 90, LABELS: 13})


def test_other_partitions_under_the_same_name_are_not_the_same_unit() -> None:
    assert not handed_back().still_current([EVENTS], {EVENTS: 90})
    assert not handed_back().still_current([EVENTS, LABELS, ("events", 4)], {EVENTS: 90, LABELS: 12})


def test_a_partition_never_read_must_still_be_unread() -> None:
    unit = Unit("p3", positions={EVENTS: 5}, emit_from={EVENTS: -1, LABELS: -1})
    assert unit.still_current([EVENTS, LABELS], {EVENTS: 5, LABELS: -1001})  # librdkafka's "no offset"
    assert not unit.still_current([EVENTS, LABELS], {EVENTS: 5, LABELS: 4})


def test_a_batch_grouped_by_key_keeps_each_keys_records_in_order() -> None:
    from confluent_kafka import Message

    from driftline.kafkaio.loop import group_by_key

    batch = [Message(topic="t", partition=0, offset=i, key=key) for i, key in enumerate([b"b", b"a", None, b"b", b"a"])]
    group_by_key(batch)
    assert [(m.key(), m.offset()) for m in batch] == [(None, 2), (b"a", 1), (b"a", 4), (b"b", 0), (b"b", 3)]
