"""Records of co-partitioned input topics in the order of their time, not of their arrival.

The trainer reads events and labels from two topics. Kafka keeps each partition in order, but not
the two topics against each other: whether a label is learned before or after the next event is
predicted depends on which fetch came back first, so two runs over the same input could learn in
different orders and end with different models. Aligned, each unit (partition *p* of every input
topic) hands out its records merged by their time; a record waits while another topic of its unit
has nothing buffered, at most ``wait_s``, for something older to arrive there. Kafka Streams does
the same (``max.task.idle.ms``). Ties go to the topic named first (an event before a label of the
same instant, so the label finds its prediction).

Which records count as older is the caller's: the trainer orders by the time an event or a label
carries. Records that wait are not handled, so their offsets are not committed either: after a
crash or a hand-over they are read again.

>>> aligner = Aligner(["events", "labels"], wait_s=1.0, clock=lambda: now)
>>> now = 0.0
>>> aligner.add("p0", "events", 5.0, "e5")
>>> aligner.add("p0", "events", 9.0, "e9")
>>> aligner.ready()  # nothing of the labels yet: e5 waits for an older label
[]
>>> aligner.add("p0", "labels", 7.0, "l7")
>>> aligner.ready()  # e9 waits again, for a label older than itself
['e5', 'l7']
>>> now = 1.5
>>> aligner.ready()  # waited long enough
['e9']
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

R = TypeVar("R")


class Aligner(Generic[R]):
    """Buffers records per unit and topic; :meth:`ready` returns those whose turn has come, in order."""

    def __init__(self, topics: list[str], wait_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if wait_s <= 0:
            raise ValueError(f"aligning needs a wait above 0 s, got {wait_s}")
        self.rank = {topic: i for i, topic in enumerate(topics)}
        self.wait_s = wait_s
        self.clock = clock
        self._buffers: dict[str, list[deque[tuple[float, R]]]] = {}
        #: Since when a unit's oldest record has been waiting for another topic.
        self._waiting_since: dict[str, float] = {}
        #: Records handed out because their wait ran out: their order against the other topic is
        #: arrival's, not time's (a count that keeps rising says ``wait_s`` is too short).
        self.waited_out = 0

    def __len__(self) -> int:
        return sum(len(buffer) for buffers in self._buffers.values() for buffer in buffers)

    def add(self, unit: str, topic: str, at: float, record: R) -> None:
        """Buffer ``record`` of ``topic`` for ``unit``; ``at`` is its time."""
        buffers = self._buffers.get(unit)
        if buffers is None:
            buffers = self._buffers[unit] = [deque() for _ in self.rank]
        buffers[self.rank[topic]].append((at, record))

    def ready(self) -> list[R]:
        """The records whose turn has come, unit by unit, each unit's in order of time."""
        out: list[R] = []
        now = self.clock()
        for unit, buffers in self._buffers.items():
            while True:
                heads = [(buffer[0][0], rank) for rank, buffer in enumerate(buffers) if buffer]
                if not heads:
                    self._waiting_since.pop(unit, None)
                    break
                if len(heads) < len(buffers):
                    since = self._waiting_since.setdefault(unit, now)
                    if now - since < self.wait_s:
                        break
                    # Waited long enough: what is buffered now goes, a later arrival waits anew.
                    self.waited_out += 1
                else:
                    self._waiting_since.pop(unit, None)
                _, rank = min(heads)
                out.append(buffers[rank].popleft()[1])
        return out

    def drop(self, units: Iterable[str] | None = None) -> None:
        """Forget the buffered records of ``units`` (all when None): they will be read again."""
        for unit in list(self._buffers) if units is None else units:
            self._buffers.pop(unit, None)
            self._waiting_since.pop(unit, None)
