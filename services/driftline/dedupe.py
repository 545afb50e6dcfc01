"""Duplicate detection with bounded memory: the most recent ids seen (events, outcomes, alerts).

Ids are kept as 64-bit digests (BLAKE2b, stable across processes, so a checkpoint restores
them): mostly in a sorted NumPy array, the newest in a small dict merged into it now and then.
An id costs 16 bytes there (its digest and its number), where a Python string in a set and a deque
cost several times that, in memory and in every checkpoint. Two ids
sharing a digest would make the second look like a duplicate: for a window of 100,000 ids that is
about one chance in three billion.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Any

import numpy as np

#: New ids gathered in a dict before they are merged into the sorted array.
MERGE_EVERY = 4096


def digest(item: str) -> int:
    return int.from_bytes(blake2b(item.encode(), digest_size=8).digest(), "little")


class RecentIds:
    """Remembers the last ``capacity`` ids; an id older than that is forgotten (and would pass again).

    >>> ids = RecentIds(2)
    >>> [ids.seen(x) for x in ("a", "b", "a", "c", "a")]
    [False, False, True, False, False]
    >>> len(ids), "c" in ids, "b" in ids
    (2, True, False)

    Holds nothing until the first id: a trainer keeps two per model key, most of them rarely used.
    """

    __slots__ = ("_count", "_fresh", "_keys", "_seqs", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        #: Ids remembered so far; id number n is live while n >= _count - capacity.
        self._count = 0
        self._fresh: dict[int, int] | None = None
        self._keys: np.ndarray | None = None  # sorted digests
        self._seqs: np.ndarray | None = None  # the number of each

    def __contains__(self, item: str) -> bool:
        return self._live(digest(item))

    def __len__(self) -> int:
        return min(self._count, self.capacity)

    def seen(self, item: str) -> bool:
        """True if ``item`` was already seen; otherwise remember it and return False."""
        key = digest(item)
        if self._live(key):
            return True
        if self._fresh is None:
            self._fresh = {}
        self._fresh[key] = self._count
        self._count += 1
        if len(self._fresh) >= MERGE_EVERY:
            self._merge()
        return False

    def _live(self, key: int) -> bool:
        oldest = self._count - self.capacity
        if self._fresh is not None:
            number = self._fresh.get(key)
            if number is not None and number >= oldest:
                return True
        keys = self._keys
        if keys is None:
            return False
        i = int(keys.searchsorted(np.uint64(key)))  # a Python int above 2**63 would make it compare floats
        return i < len(keys) and int(keys[i]) == key and int(self._seqs[i]) >= oldest  # type: ignore[index]

    def _merge(self) -> None:
        """Fold the fresh ids into the sorted array, dropping the forgotten ones."""
        fresh = self._fresh or {}
        keys = np.fromiter(fresh.keys(), np.uint64, len(fresh))
        seqs = np.fromiter(fresh.values(), np.int64, len(fresh))
        if self._keys is not None and self._seqs is not None:
            live = self._seqs >= self._count - self.capacity
            keys = np.concatenate([self._keys[live], keys])
            seqs = np.concatenate([self._seqs[live], seqs])
        # Stable: of an id forgotten and seen again, the newer number (later in the array) is kept.
        order = np.argsort(keys, kind="stable")
        keys, seqs = keys[order], seqs[order]
        last = np.ones(len(keys), bool)
        last[:-1] = keys[1:] != keys[:-1]
        self._keys, self._seqs = keys[last], seqs[last]
        self._fresh = {}

    def __getstate__(self) -> dict[str, Any]:
        if self._fresh:
            self._merge()
        return {"capacity": self.capacity, "count": self._count, "keys": self._keys, "seqs": self._seqs}

    def __setstate__(self, state: Any) -> None:
        self._fresh = None
        if isinstance(state, tuple):
            # A checkpoint from before digests: (None, {"capacity", "_order", "_ids"}); the order is replayed.
            slots = state[1]
            self.capacity, self._count, self._keys, self._seqs = slots["capacity"], 0, None, None
            for item in slots.get("_order") or ():
                self.seen(item)
            return
        self.capacity, self._count = state["capacity"], state["count"]
        self._keys, self._seqs = state["keys"], state["seqs"]
