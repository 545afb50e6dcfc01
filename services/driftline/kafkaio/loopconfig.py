"""How a :class:`~driftline.kafkaio.loop.StreamLoop` runs: its group, topics, guarantee and cadences."""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass, field
from typing import Any

from driftline.config.settings import ConsumerSettings


@dataclass
class LoopConfig:
    group_id: str
    topics: list[str]
    #: Broadcast topics read whole by every instance, with their partition counts.
    side_topics: list[tuple[str, int]] = field(default_factory=list)
    instance_id: str = ""
    #: Static membership: a restarted instance gets its partitions back without a rebalance, but a
    #: stopped one keeps them until the session times out. Off: a clean stop leaves the group.
    static_membership: bool = True
    client_id: str = "driftline"
    exactly_once: bool = True
    checkpoints: bool = True
    checkpoint_every_records: int = 10_000
    checkpoint_interval_s: float = 30.0
    commit_interval_s: float = 0.5
    #: Records and outputs awaiting a commit before one is due regardless of the interval.
    commit_records: int = 5000
    #: With ``exactly_once``, commit as soon as every record fetched is handled (outputs show at the
    #: commit: low latency). Without it outputs are out within linger.ms, and commits keep to the interval.
    commit_when_idle: bool = True
    session_timeout_ms: int = 10_000
    batch: int = 500
    #: Hand out the records of a unit's input topics merged by the handler's ``time_of``, a record
    #: waiting at most this long for an older one of another topic (see :mod:`.align`); 0: as they arrive.
    align_wait_s: float = 0.0
    #: Hand a batch's records to the handler grouped by record key, each key's records in their order: for a
    #: handler whose state is per key (the trainer's model keys, which are the record keys), whose work on a key
    #: then finds that key's state still in the CPU's caches. Records of different keys may change places.
    group_by_key: bool = False

    @classmethod
    def of(cls, settings: ConsumerSettings, group_id: str, topics: list[str], **more: Any) -> LoopConfig:
        """The loop of a service configured by ``settings`` (trainer or monitor)."""
        return cls(
            group_id=group_id,
            topics=topics,
            instance_id=settings.instance_id,
            exactly_once=settings.exactly_once,
            checkpoints=settings.checkpoints,
            checkpoint_every_records=settings.checkpoint_every_events,
            checkpoint_interval_s=settings.checkpoint_interval_s,
            commit_interval_s=settings.commit_interval_s,
            session_timeout_ms=settings.session_timeout_ms,
            **more,
        )

    def __post_init__(self) -> None:
        self.instance_id = self.instance_id or socket.gethostname()
        if "/" in self.group_id:
            raise ValueError(f"group id {self.group_id!r}: no '/' allowed (checkpoint names use it)")

    @property
    def member_id(self) -> str:
        """The static member's id in the group: the instance id and a digest of the topics it reads.

        The coordinator hands a static member that rejoins the assignment it held before, even when it
        now subscribes to other topics (Kafka 4's classic protocol): a trainer restarted with renamed
        topics would be given the old ones. A new subscription is a new member instead; the old one's
        partitions move once its session times out.
        """
        digest = hashlib.sha256("\n".join(sorted(self.topics)).encode()).hexdigest()[:8]
        return f"{self.instance_id}.{digest}"
