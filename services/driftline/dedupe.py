"""Duplicate detection with bounded memory: the most recent ids seen (events, outcomes, alerts)."""

from __future__ import annotations

from collections import deque


class RecentIds:
    """Remembers the last ``capacity`` ids; an id older than that is forgotten (and would pass again)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._order: deque[str] = deque()
        self._ids: set[str] = set()

    def __contains__(self, item: str) -> bool:
        return item in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def seen(self, item: str) -> bool:
        """True if ``item`` was already seen; otherwise remember it and return False."""
        if item in self._ids:
            return True
        self._ids.add(item)
        self._order.append(item)
        if len(self._order) > self.capacity:
            self._ids.discard(self._order.popleft())
        return False
