"""Duplicate detection with bounded memory: the most recent ids seen (events, commands, alerts).

Two generations of Python sets: new ids go into the young one; when it holds ``capacity`` ids it
becomes the old one and the oldest generation is forgotten. So at least the last ``capacity`` ids
are always remembered, and at most ``2 * capacity``. A lookup is one or two set lookups of the
id string (its hash computed once, cached in the string): no digest, no array search, which is
what it costs the trainer per event.

A checkpoint holds the ids as they are. One written before this layout held 64-bit BLAKE2b
digests instead: those are kept as an old generation of digests, consulted (at the price of a
digest per lookup) until ``capacity`` new ids have come.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Any


def digest(item: str) -> int:
    """The 64-bit digest older checkpoints kept of an id."""
    return int.from_bytes(blake2b(item.encode(), digest_size=8).digest(), "little")


class RecentIds:
    """Remembers at least the last ``capacity`` ids (at most twice as many); an id older than that may pass again.

    >>> ids = RecentIds(2)
    >>> [ids.seen(x) for x in ("a", "b", "a", "c", "d", "e", "a")]
    [False, False, True, False, False, False, False]
    >>> "e" in ids, "a" in ids, "b" in ids  # the last two are remembered, older ones may be forgotten
    (True, True, False)

    Holds nothing until the first id: a trainer keeps two per model key, most of them rarely used.
    """

    __slots__ = ("_legacy", "_old", "_young", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._young: set[str] | None = None
        self._old: set[str] | None = None
        #: Digests from a checkpoint of the former layout, until a generation has passed.
        self._legacy: set[int] | None = None

    def __contains__(self, item: str) -> bool:
        return (
            (self._young is not None and item in self._young)
            or (self._old is not None and item in self._old)
            or (self._legacy is not None and digest(item) in self._legacy)
        )

    def __len__(self) -> int:
        return len(self._young or ()) + len(self._old or ())

    def seen(self, item: str) -> bool:
        """True if ``item`` was already seen; otherwise remember it and return False."""
        young = self._young
        if young is None:
            young = self._young = set()
        elif item in young:
            return True
        old = self._old
        if old is not None and item in old:
            return True
        if self._legacy is not None and digest(item) in self._legacy:
            return True
        young.add(item)
        if len(young) >= self.capacity:
            self._old, self._young, self._legacy = young, set(), None
        return False

    def __getstate__(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "young": self._young, "old": self._old, "legacy": self._legacy}

    def __setstate__(self, state: Any) -> None:
        self._young = self._old = self._legacy = None
        if isinstance(state, tuple):
            # A checkpoint from before digests: (None, {"capacity", "_order", "_ids"}); the order is replayed.
            slots = state[1]
            self.capacity = slots["capacity"]
            for item in slots.get("_order") or ():
                self.seen(item)
            return
        self.capacity = state["capacity"]
        if "keys" in state:  # digests in a sorted array, with their numbers (the layout before generations)
            keys, seqs = state["keys"], state["seqs"]
            if keys is not None:
                live = seqs >= state["count"] - self.capacity
                self._legacy = {int(k) for k in keys[live]}
            return
        self._young, self._old, self._legacy = state["young"], state["old"], state["legacy"]
