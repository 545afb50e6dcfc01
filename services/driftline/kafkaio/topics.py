"""Create driftline's topics with their explicit partition counts, and check the ones that exist."""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from driftline.config.base import ConfigError
from driftline.config.settings import Topics
from driftline.kafkaio.clients import client_config

log = logging.getLogger(__name__)

#: Topic settings by role. Checkpoints keep only each unit's newest record (compaction); its old
#: chunks are deleted by tombstones, and segments roll often enough for the cleaner to reach them.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    "checkpoints": {
        "cleanup.policy": "compact",
        "segment.ms": "300000",
        "min.cleanable.dirty.ratio": "0.1",
        "delete.retention.ms": "300000",
        "max.message.bytes": str(2 * 1024 * 1024),
    },
}


def admin_client(bootstrap_servers: str) -> AdminClient:
    """An admin client, authenticated as a :class:`~driftline.kafkaio.clients.Cluster` says."""
    return AdminClient(client_config(bootstrap_servers, **{"client.id": "driftline-admin"}))


def ensure_topics(bootstrap_servers: str, topics: Topics, replication_factor: int = 1) -> list[str]:
    """Create every missing topic; return the names created.

    Existing topics are left as they are, except that events and labels must have the same
    partition count on the cluster too: a late label must reach the partition (and the trainer)
    of its event, so a mismatch is refused rather than silently breaking the join.
    """
    admin = admin_client(bootstrap_servers)
    existing = set(admin.list_topics(timeout=30).topics)
    wanted = [
        NewTopic(spec.name, spec.partitions, replication_factor, config=TOPIC_CONFIGS.get(role, {}))
        for role in Topics.model_fields
        if (spec := getattr(topics, role)).name not in existing
    ]
    created = []
    if wanted:
        for name, future in admin.create_topics(wanted, operation_timeout=30).items():
            try:
                future.result()
                created.append(name)
            except KafkaException as e:
                code = e.args[0].code()
                if code in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED):
                    # On a secured cluster services may not create topics: the operator does, once.
                    raise ConfigError(
                        f"topics: {name} does not exist and this Kafka user may not create it; "
                        "create the topics as the operator (`driftline topics`)"
                    ) from None
                if code != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise  # another service may create it between our list and create; anything else is real
        if created:
            log.info("created topics %s", ", ".join(created))
    counts = partition_counts(admin, [topics.events.name, topics.labels.name, *created])
    if counts[topics.events.name] != counts[topics.labels.name]:
        raise ConfigError(
            f"topics: on the cluster {topics.events.name} has {counts[topics.events.name]} partitions and "
            f"{topics.labels.name} {counts[topics.labels.name]}; labels must be co-partitioned with events"
        )
    return created


def partition_counts(admin: AdminClient, names: list[str], timeout: float = 15.0) -> dict[str, int]:
    """Partitions of each topic, once each has a leader (a topic created a moment ago has none yet)."""
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=10).topics
        partitions = {name: list(topics[name].partitions.values()) if name in topics else [] for name in names}
        settled = all(found and all(p.leader >= 0 for p in found) for found in partitions.values())
        if settled or time.monotonic() > deadline:
            return {name: len(found) for name, found in partitions.items()}
        time.sleep(0.2)
