"""Duplicate detection with bounded memory: the most recent ids seen (events, outcomes, alerts)."""

from __future__ import annotations

from collections import deque


class RecentIds:
    """Remembers the last ``capacity`` ids; an id older than that is forgotten (and would pass again).

    Holds nothing until the first id: a trainer keeps two per model key, most of them rarely used.
    """

    __slots__ = ("_ids", "_order", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._order: deque[str] | None = None
        self._ids: set[str] | None = None

    def __contains__(self, item: str) -> bool:
        return self._ids is not None and item in self._ids

    def __len__(self) -> int:
        return 0 if self._ids is None else len(self._ids)

    def seen(self, item: str) -> bool:
        """True if ``item`` was already seen; otherwise remember it and return False."""
        if self._ids is None or self._order is None:
            self._ids, self._order = set(), deque()
        elif item in self._ids:
            return True
        self._ids.add(item)
        self._order.append(item)
        if len(self._order) > self.capacity:
            self._ids.discard(self._order.popleft())
        return False
