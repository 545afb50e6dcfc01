"""The stream loop's offset commits without transactions, against the real broker.

Issue 20's at-least-once stall: the loop committed offsets (asynchronously) every time its input
ran dry, which a trickle of records makes hundreds of times a second. The group coordinator
answers a member's requests one at a time (about 6 ms an offset commit on a local broker), so the
commits queued there, the member's heartbeats behind them, and the first commit that waited (a
checkpoint's, 30 s in) waited for the whole queue: 17 s at 500 events/s, the session lost and
everything replayed. What triggers it is a trickle, not time: a few seconds of one record at a
time show the commits outrunning the interval and each other's answers.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from confluent_kafka import TopicPartition
from loop_fixtures import Echo, running

from driftline.kafkaio import loop as loop_module
from driftline.kafkaio.checkpoints import store_for
from driftline.kafkaio.clients import make_consumer, make_producer, read_topic
from driftline.kafkaio.loop import StreamLoop
from driftline.kafkaio.loopconfig import LoopConfig


def counting_consumer(sent: list[tuple[bool, int]], answers: list[float], waits: list[float]) -> type:
    """The loop's Consumer, noting each offset commit (asynchronous?, asynchronous ones unanswered then),
    each answer to an asynchronous one, and how long each synchronous one waited."""

    class Counting(loop_module.Consumer):
        def __init__(self, config: dict[str, Any]) -> None:
            theirs = config.get("on_commit")

            def answered(*args: Any) -> None:
                answers.append(time.monotonic())
                if theirs is not None:
                    theirs(*args)

            super().__init__({**config, "on_commit": answered})

        def commit(self, *args: Any, **kwargs: Any) -> Any:
            asynchronous = kwargs.get("asynchronous", True)
            sent.append((asynchronous, sum(a for a, _ in sent) - len(answers)))
            began = time.monotonic()
            try:
                return super().commit(*args, **kwargs)
            finally:
                if not asynchronous:
                    waits.append(time.monotonic() - began)

    return Counting


def test_a_trickle_of_records_sends_one_offset_commit_at_a_time(make_settings, bootstrap, monkeypatch) -> None:
    settings = make_settings({})
    topics = settings.topics
    sent: list[tuple[bool, int]] = []
    answers: list[float] = []
    waits: list[float] = []
    monkeypatch.setattr(loop_module, "Consumer", counting_consumer(sent, answers, waits))
    group = f"trickle-{uuid.uuid4().hex[:8]}"
    config = LoopConfig(
        group_id=group,
        topics=[topics.events.name],
        exactly_once=False,
        checkpoint_interval_s=1.0,  # a checkpoint, with its synchronous commit, every second
        commit_interval_s=0.25,
    )
    echo = Echo(topics.outcomes.name)
    loop = StreamLoop(bootstrap, config, echo, store_for(settings, bootstrap))
    stop = threading.Event()
    runner = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    runner.start()
    producer = make_producer(bootstrap, **{"linger.ms": 0})
    try:
        assert loop.ready.wait(60), "the loop took its partitions"
        # One record at a time, each acknowledged before the next: the loop's input runs dry after every one.
        began, records = time.monotonic(), 0
        while (trickled := time.monotonic() - began) < 3.0:
            producer.produce(topics.events.name, value=b"%d" % records, key=b"k%d" % (records % 7))
            producer.flush(10)
            records += 1
        # The stop comes after the loop has read the last record (a stop does not wait for input still in flight).
        deadline = time.monotonic() + 60
        while echo.seen < records and time.monotonic() < deadline:
            time.sleep(0.01)
        assert echo.seen == records, f"the loop read {echo.seen} of {records} records"
        trickled = time.monotonic() - began
    finally:
        stop.set()
        runner.join(120)
    assert not runner.is_alive(), "the loop stopped"
    assert loop.recoveries == 0, loop.fault

    # Commits keep to the interval: a checkpoint's and a routine one per interval at most, and the stop's.
    many = f"{len(sent)} offset commits for {records} records in {trickled:.1f} s; synchronous ones waited {waits}"
    assert len(sent) <= 2 * (trickled / config.commit_interval_s + 2), many
    routine = [unanswered for asynchronous, unanswered in sent if asynchronous]
    assert max(routine, default=0) == 0, f"offset commits sent while {max(routine)} others awaited an answer"
    # And still do their work: every record answered, the group's offsets at the end of the input.
    assert len(read_topic(bootstrap, topics.outcomes.name, 1)) == records
    reader = make_consumer(bootstrap, group)
    partitions = [TopicPartition(topics.events.name, p) for p in range(topics.events.partitions)]
    committed = reader.committed(partitions, timeout=30)
    ends = [reader.get_watermark_offsets(tp, timeout=30)[1] for tp in partitions]
    reader.close()
    assert [tp.offset for tp in committed] == ends


class SlowSnapshots(Echo):
    """An Echo whose checkpoints take a while each, as a unit holding many model keys does."""

    def __init__(self, topic: str, seconds: float, history: list[str]) -> None:
        super().__init__(topic)
        self.seconds = seconds
        self.snapshots: list[str] = []
        self.history = history

    def snapshot(self, unit: str) -> bytes:
        time.sleep(self.seconds)
        self.snapshots.append(unit)
        self.history.append("checkpoint")
        return unit.encode()


def test_checkpoints_past_the_budget_go_on_in_transactions_of_their_own(make_settings, bootstrap, monkeypatch) -> None:
    # The scale bench's fault: with tens of thousands of keys a commit's checkpoints outlasted the
    # transaction timeout, the broker fenced the trainer, and it restored and tried again for ever.
    settings = make_settings({})
    topics = settings.topics
    monkeypatch.setattr(loop_module, "CHECKPOINT_BUDGET_S", 0.25)
    history: list[str] = []  # "checkpoint" and "commit", in order

    class Counting(loop_module.Producer):
        def commit_transaction(self, *args: Any) -> Any:
            history.append("commit")
            return super().commit_transaction(*args)

    monkeypatch.setattr(loop_module, "Producer", Counting)
    group = f"budget-{uuid.uuid4().hex[:8]}"
    config = LoopConfig(group_id=group, topics=[topics.events.name], exactly_once=True, commit_interval_s=0.25)
    handler = SlowSnapshots(topics.outcomes.name, seconds=0.2, history=history)
    store = store_for(settings, bootstrap)
    loop = StreamLoop(bootstrap, config, handler, store)
    stop = threading.Event()
    runner = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    runner.start()
    producer = make_producer(bootstrap)
    records = 3 * topics.events.partitions
    try:
        assert loop.ready.wait(60), "the loop took its partitions"
        for i in range(records):  # every partition gets records: every unit changes
            producer.produce(topics.events.name, value=b"%d" % i, partition=i % topics.events.partitions)
        producer.flush(10)
        deadline = time.monotonic() + 60
        while handler.seen < records and time.monotonic() < deadline:
            time.sleep(0.01)
        assert handler.seen == records
    finally:
        stop.set()
        runner.join(120)
    assert not runner.is_alive() and loop.recoveries == 0, loop.fault
    # The stop checkpoints every unit (forced): 0.2 s each against a 0.25 s budget, so two units a transaction.
    units = [f"p{p}" for p in range(topics.events.partitions)]
    assert sorted(handler.snapshots[-len(units) :]) == units
    per_transaction = [part.count("checkpoint") for part in " ".join(history).split("commit")]
    assert max(per_transaction) == 2, f"checkpoints per transaction: {per_transaction}"
    for unit in units:
        saved = store.load(group, unit)
        assert saved is not None and saved.state == unit.encode()
    # A hand-over loads its units together: each checkpoint partition read once, for all the units it holds.
    reads: list[int] = []
    read = store._read
    monkeypatch.setattr(
        store, "_read", lambda partition, prefixes=None: reads.append(partition) or read(partition, prefixes)
    )
    loaded = dict(store.load_each(group, [*units, "p-never"]))
    assert {unit: c.state for unit, c in loaded.items() if c is not None} == {unit: unit.encode() for unit in units}
    assert loaded["p-never"] is None
    assert sorted(reads) == sorted({store.partition_of(f"{group}/{unit}") for unit in [*units, "p-never"]})
    # And every record answered once.
    assert len(read_topic(bootstrap, topics.outcomes.name, 1)) == records


class Ordered(Echo):
    """An Echo noting the (key, offset) of each record in the order the loop hands them over."""

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.order: list[tuple[bytes, int]] = []

    def on_record(self, unit: str, message: Any) -> list[Any]:
        self.order.append((message.key(), message.offset()))
        return super().on_record(unit, message)


def test_records_grouped_by_key_keep_each_keys_order_and_commit_the_partitions_end(make_settings, bootstrap) -> None:
    # One partition, keys interleaved, all written before the loop starts: its batches hold many keys each.
    settings = make_settings({})
    topic = settings.topics.labels.name
    producer = make_producer(bootstrap)
    records = 3000
    for i in range(records):
        producer.produce(topic, value=b"%d" % i, key=b"k%d" % (i % 7), partition=0)
    producer.flush(30)
    group = f"grouped-{uuid.uuid4().hex[:8]}"
    config = LoopConfig(group_id=group, topics=[topic], exactly_once=False, group_by_key=True, batch=500)
    handler = Ordered(settings.topics.outcomes.name)
    with running(bootstrap, config, handler, None):
        deadline = time.monotonic() + 60
        while handler.seen < records and time.monotonic() < deadline:
            time.sleep(0.05)
    assert handler.seen == records
    # Grouped: the records did not come in offset order, but each key's did.
    offsets = [offset for _, offset in handler.order]
    assert offsets != sorted(offsets) and sorted(offsets) == list(range(records))
    for key in {key for key, _ in handler.order}:
        mine = [offset for k, offset in handler.order if k == key]
        assert mine == sorted(mine), key
    # The group's offset is the partition's end, not the offset after the last record handed over.
    reader = make_consumer(bootstrap, group)
    [committed] = reader.committed([TopicPartition(topic, 0)], timeout=30)
    reader.close()
    assert committed.offset == records
