"""Create driftline's topics with their explicit partition counts, and check the ones that exist."""

from __future__ import annotations

import logging
import time

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from driftline.config import ConfigError, Topics

log = logging.getLogger(__name__)


def ensure_topics(bootstrap_servers: str, topics: Topics, replication_factor: int = 1) -> list[str]:
    """Create every missing topic; return the names created.

    Existing topics are left as they are, except that events and labels must have the same
    partition count on the cluster too: a late label must reach the partition (and the trainer)
    of its event, so a mismatch is refused rather than silently breaking the join.
    """
    specs = [getattr(topics, role) for role in Topics.model_fields]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="driftline-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [NewTopic(s.name, s.partitions, replication_factor) for s in specs if s.name not in existing]
        created = []
        for topic in wanted:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass  # another service created it between our list and create
        if created:
            log.info("created topics %s", ", ".join(created))
        counts = _partition_counts(admin, [topics.events.name, topics.labels.name])
        if counts[topics.events.name] != counts[topics.labels.name]:
            raise ConfigError(
                f"topics: on the cluster {topics.events.name} has {counts[topics.events.name]} partitions and "
                f"{topics.labels.name} {counts[topics.labels.name]}; labels must be co-partitioned with events"
            )
        return created
    finally:
        admin.close()


def _partition_counts(admin: KafkaAdminClient, names: list[str], timeout: float = 15.0) -> dict[str, int]:
    """Partitions of each topic; a topic created a moment ago may show none until metadata settles."""
    deadline = time.monotonic() + timeout
    while True:
        counts = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)}
        if all(counts.get(name) for name in names) or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)
