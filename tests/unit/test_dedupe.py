"""RecentIds against the plain definition (a set and a queue of the last ``capacity`` ids)."""

from __future__ import annotations

import pickle
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.rules.dedupe import RecentIds, digest


class Reference:
    """Every id ever seen, in order: what a window of ``capacity`` must and may remember."""

    def __init__(self) -> None:
        self.order: list[str] = []

    def must(self, item: str, capacity: int) -> bool:
        return item in self.order[-capacity:]

    def may(self, item: str, capacity: int) -> bool:
        return item in self.order[-2 * capacity :]


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 12),
    items=st.lists(st.sampled_from([f"id-{i}" for i in range(20)]), max_size=200),
    pickle_at=st.integers(0, 200),
)
def test_remembers_the_last_capacity_ids_at_least_and_twice_as_many_at_most(
    capacity: int, items: list[str], pickle_at: int
) -> None:
    ids, reference = RecentIds(capacity), Reference()
    for n, item in enumerate(items):
        if n == pickle_at:
            ids = pickle.loads(pickle.dumps(ids))  # a checkpoint midway
        # Counted among the remembered only if new when it came (a duplicate is not remembered again).
        seen = ids.seen(item)
        distinct = list(dict.fromkeys(reversed(reference.order)))[::-1]  # last occurrence order
        if item in distinct[-capacity:]:
            assert seen
        if seen:
            assert item in reference.order
        if not seen:
            reference.order.append(item)
        assert len(ids) <= 2 * capacity


def test_a_checkpoint_from_before_digests_restores_its_ids() -> None:
    old = RecentIds.__new__(RecentIds)
    old.__setstate__((None, {"capacity": 3, "_order": deque(["a", "b", "c"]), "_ids": {"a", "b", "c"}}))
    # All three are remembered (a window holds up to twice its capacity), and "d" is new.
    assert [old.seen(x) for x in ("c", "d", "a")] == [True, False, True]


def test_a_full_window_checkpoints_as_its_strings() -> None:
    ids = RecentIds(100_000)
    for i in range(100_000):
        ids.seen(f"rooms-dev-{i % 7}/e{i}")
    assert len(pickle.dumps(ids)) < 2_500_000  # about the ids' own characters
    assert ids.seen(f"rooms-dev-{99_997 % 7}/e99997") and not ids.seen("rooms-dev-3/e100001")


def test_a_checkpoint_of_digests_keeps_its_ids_for_one_generation() -> None:
    import numpy as np

    # The former layout: digests sorted, each beside its number in the order the ids came (a, b, c).
    pairs = sorted((digest(x), n) for n, x in enumerate(("a", "b", "c")))
    digests, numbers = np.array([d for d, _ in pairs], np.uint64), np.array([n for _, n in pairs])
    old = RecentIds.__new__(RecentIds)
    old.__setstate__({"capacity": 2, "count": 3, "keys": digests, "seqs": numbers})
    # The last two ("b", "c") are still known by their digests, "a" had been forgotten already...
    assert [old.seen(x) for x in ("b", "c", "a")] == [True, True, False]
    # ...until two new ids made a generation of their own.
    assert not old.seen("d") and not old.seen("b")
