"""RecentIds against the plain definition (a set and a queue of the last ``capacity`` ids)."""

from __future__ import annotations

import pickle
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from driftline import dedupe
from driftline.dedupe import RecentIds


class Reference:
    def __init__(self, capacity: int) -> None:
        self.capacity, self.order, self.ids = capacity, deque(), set()

    def seen(self, item: str) -> bool:
        if item in self.ids:
            return True
        self.ids.add(item)
        self.order.append(item)
        if len(self.order) > self.capacity:
            self.ids.discard(self.order.popleft())
        return False


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 12),
    merge_every=st.integers(1, 5),
    items=st.lists(st.sampled_from([f"id-{i}" for i in range(20)]), max_size=200),
    pickle_at=st.integers(0, 200),
)
def test_answers_as_the_plain_definition(capacity: int, merge_every: int, items: list[str], pickle_at: int) -> None:
    original = dedupe.MERGE_EVERY
    dedupe.MERGE_EVERY = merge_every  # merges happen all the time, as they would every 4,096 ids
    try:
        ids, reference = RecentIds(capacity), Reference(capacity)
        for n, item in enumerate(items):
            if n == pickle_at:
                ids = pickle.loads(pickle.dumps(ids))  # a checkpoint midway
            assert ids.seen(item) == reference.seen(item)
            assert len(ids) == len(reference.ids)
        assert all((f"id-{i}" in ids) == (f"id-{i}" in reference.ids) for i in range(20))
    finally:
        dedupe.MERGE_EVERY = original


def test_a_checkpoint_from_before_digests_restores_its_ids() -> None:
    old = RecentIds.__new__(RecentIds)
    old.__setstate__((None, {"capacity": 3, "_order": deque(["a", "b", "c"]), "_ids": {"a", "b", "c"}}))
    assert [old.seen(x) for x in ("c", "d", "a")] == [True, False, False]  # "a" was the oldest of the three


def test_a_full_window_is_small() -> None:
    ids = RecentIds(100_000)
    for i in range(100_000):
        ids.seen(f"rooms-dev-{i % 7}/e{i}")
    assert len(pickle.dumps(ids)) < 2_000_000  # the strings alone were several MB
    assert ids.seen(f"rooms-dev-{99_997 % 7}/e99997") and not ids.seen("rooms-dev-3/e100001")
