"""How far consumer groups are behind: the end of their input partitions minus their committed offsets."""

from __future__ import annotations

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

from driftline.config.settings import TopicSpec
from driftline.kafkaio.clients import end_offset, make_consumer
from driftline.kafkaio.topics import admin_client


class GroupLags:
    """Each consumer group's lag: the end of its input partitions minus its committed offsets."""

    def __init__(self, bootstrap: str, groups: dict[str, list[TopicSpec]], transactional: set[str]) -> None:
        self.admin = admin_client(bootstrap)
        self.consumer = make_consumer(bootstrap, None)
        self.groups = {
            g: [TopicPartition(t.name, p) for t in ts for p in range(t.partitions)] for g, ts in groups.items()
        }
        self.transactional = transactional

    def behind(self, group: str) -> dict[tuple[str, int], int]:
        """Per input partition of ``group``, the records between its committed offset and the end."""
        partitions = self.groups[group]
        request = [ConsumerGroupTopicPartitions(group, partitions)]
        committed = self.admin.list_consumer_group_offsets(request)[group].result(10).topic_partitions
        offsets = {(tp.topic, tp.partition): max(tp.offset, 0) for tp in committed}  # none yet: -1001
        return {
            (tp.topic, tp.partition): max(0, end_offset(self.consumer, tp) - offsets.get((tp.topic, tp.partition), 0))
            for tp in partitions
        }

    def lag(self, group: str) -> int:
        return sum(self.behind(group).values())

    def all(self) -> dict[str, int]:
        return {group: self.lag(group) for group in self.groups}

    def caught_up(self) -> bool:
        """Every group has consumed all its input. A read-committed consumer stops before a partition's
        last commit marker until more records come: on a topic written in transactions, the last
        offset of each partition is never consumed, so one is allowed there (and only there)."""
        return all(
            behind <= (1 if topic in self.transactional else 0)
            for group in self.groups
            for (topic, _), behind in self.behind(group).items()
        )

    def close(self) -> None:
        self.consumer.close()
