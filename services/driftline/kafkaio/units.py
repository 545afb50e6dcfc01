"""A unit of a service's state and its input partitions, as the stream loop keeps it between commits.

A *unit* is what a checkpoint holds: a partition number for the trainer (events and labels
partition *p* hold the same model keys), a partition of outcomes for the monitor. Pure
bookkeeping, no Kafka: :class:`~driftline.kafkaio.loop.StreamLoop` reads and commits, this says
where each unit stands and whether a unit handed back at a rebalance may be kept as it is.

>>> unit = Unit("p0", positions={("events", 0): 42, ("labels", 0): 7})
>>> unit.committable() == {("events", 0): 42, ("labels", 0): 7}
True
>>> unit.still_current([("events", 0), ("labels", 0)], {("events", 0): 42, ("labels", 0): 7})
True
>>> unit.still_current([("events", 0), ("labels", 0)], {("events", 0): 50, ("labels", 0): 7})
False
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

#: A topic partition: (topic, partition).
TP = tuple[str, int]


@dataclass
class Unit:
    name: str
    #: Next offset to read of each input partition (known once started or read).
    positions: dict[TP, int] = field(default_factory=dict)
    #: Offsets the group had committed at assignment: outputs of records below were emitted before.
    emit_from: dict[TP, int] = field(default_factory=dict)
    records_since: int = 0
    checkpointed_at: float = field(default_factory=time.monotonic)
    #: The state differs from the newest checkpoint.
    changed: bool = False
    #: Records were handled since the last commit.
    uncommitted: bool = False
    force: bool = False

    def committable(self) -> dict[TP, int]:
        """The offset to commit per input partition: where the unit stands.

        While a unit replays what was committed before, its position is behind the committed
        offset: committing the position would move the group back, and its outputs out again.
        """
        return {tp: max(position, self.emit_from.get(tp, -1)) for tp, position in self.positions.items()}

    def still_current(self, partitions: list[TP], committed: dict[TP, int]) -> bool:
        """Whether this unit, handed back at a rebalance (committed and checkpointed then), may be kept as it
        is now that ``partitions`` of it are assigned again, the group having ``committed`` these offsets.

        It may when the group's offsets are still the ones it committed: no other member committed any
        progress on it meanwhile (under exactly-once, outputs, offsets and checkpoints go together; at least
        once, uncommitted progress elsewhere is a replay, which that guarantee allows). A partition it
        never read must still be unread. Else its newest checkpoint is the truth.
        """
        if set(partitions) != set(self.positions) | set(self.emit_from):
            return False
        mine = {tp: max(self.positions.get(tp, -1), self.emit_from.get(tp, -1), -1) for tp in partitions}
        return all(max(committed.get(tp, -1), -1) == mine[tp] for tp in partitions)
