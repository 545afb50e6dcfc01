"""Create driftline's topics with their explicit partition counts."""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from driftline.config import Topics

log = logging.getLogger(__name__)


def ensure_topics(bootstrap_servers: str, topics: Topics) -> list[str]:
    """Create every missing topic; return the names created (existing ones are left as they are)."""
    specs = [getattr(topics, role) for role in Topics.model_fields]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="driftline-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [NewTopic(s.name, s.partitions, 1) for s in specs if s.name not in existing]
        created = []
        for topic in wanted:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass  # another service created it between our list and create
        if created:
            log.info("created topics %s", ", ".join(created))
        return created
    finally:
        admin.close()
