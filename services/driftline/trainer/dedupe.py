"""Duplicate detection with bounded memory: the most recent event ids of a model key."""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    """Remembers the last ``capacity`` ids; an id older than that is forgotten (and would pass again)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, event_id: str) -> bool:
        """True if ``event_id`` was already seen; otherwise remember it and return False."""
        if event_id in self._ids:
            return True
        self._ids[event_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._ids)
