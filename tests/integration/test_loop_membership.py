"""The loop's membership in its consumer group, against the real broker.

Kafka's coordinator hands a static member that rejoins under the same ``group.instance.id`` the
assignment it held before, even when it now subscribes to other topics. A trainer restarted with
renamed topics (or a test's trainer after another's, on one host) was given the old topics and
dead-lettered their records as unknown. The member id now carries a digest of the topics it reads.

And the range assignor revokes every partition of every member at each rebalance: a member keeps
in memory the units that come back to it unchanged.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Message
from loop_fixtures import Echo, running

from driftline.kafkaio.checkpoints import store_for
from driftline.kafkaio.clients import make_producer
from driftline.kafkaio.loop import Output
from driftline.kafkaio.loopconfig import LoopConfig
from driftline.kafkaio.topics import ensure_topics


class Topics(Echo):
    """An Echo noting the topic of every record it is handed."""

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.read: list[str] = []

    def on_record(self, unit: str, message: Message) -> list[Output]:
        self.read.append(message.topic())
        return super().on_record(unit, message)


def test_a_member_restarted_on_other_topics_reads_those_not_its_old_assignment(make_settings, bootstrap) -> None:
    first, second = make_settings({}).topics, make_settings({}).topics
    ensure_topics(bootstrap, first)
    ensure_topics(bootstrap, second)
    producer = make_producer(bootstrap)
    for topics in (first, second):
        producer.produce(topics.events.name, value=b"x", partition=0)
    producer.flush(10)
    group, instance = f"member-{uuid.uuid4().hex[:8]}", "one-host"
    # The broker's least session timeout: the first member's ghost keeps its partitions that long.
    config = {"group_id": group, "instance_id": instance, "exactly_once": False, "session_timeout_ms": 6000}

    before = Topics(first.outcomes.name)
    with running(bootstrap, LoopConfig(topics=[first.events.name], **config), before, None):
        deadline = time.monotonic() + 60
        while not before.read and time.monotonic() < deadline:
            time.sleep(0.01)
    assert before.read == [first.events.name]

    after = Topics(second.outcomes.name)
    with running(bootstrap, LoopConfig(topics=[second.events.name], **config), after, None):
        deadline = time.monotonic() + 60
        while not after.read and time.monotonic() < deadline:
            time.sleep(0.01)
    assert after.read == [second.events.name], "the restarted member read its new topic, and only it"


class Restores(Echo):
    """An Echo noting the units it restores and releases."""

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.restored: list[str] = []
        self.released: list[str] = []

    def restore(self, unit: str, state: bytes | None) -> None:
        self.restored.append(unit)

    def release(self, unit: str) -> None:
        self.released.append(unit)


def test_a_member_keeps_in_memory_the_units_a_rebalance_gives_back(make_settings, bootstrap) -> None:
    # The range assignor revokes every partition of every member at each rebalance: the first member
    # used to checkpoint, release and restore all of its units whenever another joined or left.
    settings = make_settings({})
    topics = settings.topics
    producer = make_producer(bootstrap)
    for p in range(topics.events.partitions):
        producer.produce(topics.events.name, value=b"x", partition=p)
    producer.flush(10)
    group = f"keep-{uuid.uuid4().hex[:8]}"
    config = {"group_id": group, "topics": [topics.events.name], "session_timeout_ms": 6000}
    first, second = Restores(topics.outcomes.name), Restores(topics.outcomes.name)
    store = store_for(settings, bootstrap)
    units = [f"p{p}" for p in range(topics.events.partitions)]
    with running(bootstrap, LoopConfig(instance_id="first", **config), first, store):
        deadline = time.monotonic() + 60
        while first.seen < len(units) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(first.restored) == units and first.seen == len(units)
        with running(bootstrap, LoopConfig(instance_id="second", **config), second, store_for(settings, bootstrap)):
            while not first.released and time.monotonic() < deadline:
                time.sleep(0.01)
            # What the first gave away it released; what came back it kept, restoring nothing again.
            assert sorted(first.released) == sorted(second.restored) and 0 < len(first.released) < len(units)
            assert sorted(first.restored) == units
    assert second.seen == 0, "the records the first had committed are not handled again"
