"""How far consumer groups are behind: the end of their input partitions minus their committed offsets."""

from __future__ import annotations

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

from driftline.config import TopicSpec
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
        # A read-committed consumer stops before a partition's last commit marker until more records
        # come: on a topic written in transactions, one offset per partition is never consumed.
        self.slack = {g: sum(t.partitions for t in ts if t.name in transactional) for g, ts in groups.items()}

    def lag(self, group: str) -> int:
        partitions = self.groups[group]
        request = [ConsumerGroupTopicPartitions(group, partitions)]
        committed = self.admin.list_consumer_group_offsets(request)[group].result(10).topic_partitions
        offsets = {(tp.topic, tp.partition): max(tp.offset, 0) for tp in committed}  # none yet: -1001
        return sum(
            max(0, end_offset(self.consumer, tp) - offsets.get((tp.topic, tp.partition), 0)) for tp in partitions
        )

    def all(self) -> dict[str, int]:
        return {group: self.lag(group) for group in self.groups}

    def caught_up(self) -> bool:
        return all(lag <= self.slack[group] for group, lag in self.all().items())

    def close(self) -> None:
        self.consumer.close()
