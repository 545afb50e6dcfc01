"""Who may do what on driftline's topics: the Kafka ACLs of each service's principal.

One principal (SCRAM user) per role. Writes are the trust boundaries: only the collector writes
events and labels, only the trainer writes outcomes, acks and label requests, only the monitor and the operator
write control commands. A principal without ACLs (a device's) may do nothing at all; a device
reaches Kafka only through the collector, which checks its token. docs/security.md has the why.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from driftline.config.settings import Settings
from driftline.kafkaio.topics import admin_client

ROLES = ("collector", "trainer", "monitor", "archiver", "operator")

#: The group id librdkafka is given by consumers that only assign partitions (side readers, the checkpoint store).
UNMANAGED_GROUP = "driftline-unmanaged"
#: The archiver's consumer group (Archiver's default).
ARCHIVER_GROUP = "driftline-lake"


@dataclass(frozen=True)
class Grant:
    """One allowed operation of a principal on a resource (a literal name, or a prefix)."""

    role: str
    operation: str
    resource: str
    name: str
    prefixed: bool = False

    def binding(self, principal: str) -> AclBinding:
        return AclBinding(
            ResourceType[self.resource.upper()],
            self.name,
            ResourcePatternType.PREFIXED if self.prefixed else ResourcePatternType.LITERAL,
            f"User:{principal}",
            "*",
            AclOperation[self.operation.upper()],
            AclPermissionType.ALLOW,
        )


def grants(settings: Settings) -> list[Grant]:
    """Every role's grants for the topics, groups and transactional ids of ``settings``."""
    t = settings.topics
    every_topic = [getattr(t, role).name for role in type(t).model_fields]
    trainer_group, monitor_group = settings.trainer.group_id, settings.monitor.group_id
    found: list[Grant] = [
        # Every service checks at start that driftline's topics exist: metadata only.
        Grant(role, "describe", "topic", name)
        for role in ROLES
        for name in every_topic
    ]

    def topic(role: str, operation: str, *names: str) -> None:
        found.extend(Grant(role, operation, "topic", name) for name in names)

    def group(role: str, *names: str) -> None:
        found.extend(Grant(role, "read", "group", name) for name in names)

    def transactions(role: str, group_id: str) -> None:
        # The stream loop's transactional id is "<group>-<instance>".
        found.extend(Grant(role, op, "transactional_id", f"{group_id}-", prefixed=True) for op in ("write", "describe"))

    topic("collector", "write", t.events.name, t.labels.name, t.deadletter.name)

    topic("trainer", "read", t.events.name, t.labels.name, t.control.name, t.drift.name, t.checkpoints.name)
    topic("trainer", "write", t.outcomes.name, t.acks.name, t.label_requests.name, t.deadletter.name)
    topic("trainer", "write", t.checkpoints.name)
    group("trainer", trainer_group, UNMANAGED_GROUP)
    transactions("trainer", trainer_group)

    topic("monitor", "read", t.outcomes.name, t.checkpoints.name)
    topic("monitor", "write", t.drift.name, t.control.name, t.checkpoints.name)
    group("monitor", monitor_group, UNMANAGED_GROUP)
    transactions("monitor", monitor_group)

    topic("archiver", "read", t.events.name, t.labels.name)
    group("archiver", ARCHIVER_GROUP)

    # The operator: `driftline topics`, `reset`, `checkpoints`; may read every topic to look into it.
    topic("operator", "write", t.control.name)
    topic("operator", "read", *every_topic)
    topic("operator", "create", *every_topic)
    group("operator", UNMANAGED_GROUP)
    return found


def bindings(settings: Settings, principals: Mapping[str, str] | None = None) -> list[AclBinding]:
    """The ACL bindings of every role, for principals named as the roles unless ``principals`` maps them."""
    names = dict(principals or {})
    return [g.binding(names.get(g.role, g.role)) for g in grants(settings)]


def apply_acls(
    admin_servers: str, settings: Settings, principals: Mapping[str, str] | None = None, timeout: float = 30.0
) -> int:
    """Create the ACLs (as a principal allowed to alter them); returns how many. Existing ones are kept."""
    wanted = bindings(settings, principals)
    admin = admin_client(admin_servers)
    for future in admin.create_acls(wanted, request_timeout=30).values():
        future.result()
    # Created means committed by the controller; the broker's authorizer applies them a moment later.
    everything = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
    )
    deadline = time.monotonic() + timeout
    while not set(wanted) <= set(admin.describe_acls(everything, request_timeout=30).result()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker did not apply the ACLs within {timeout:.0f}s")
        time.sleep(0.2)
    return len(wanted)
