"""The local broker's pure parts."""

from __future__ import annotations

from driftline.kafkaio.broker import _cluster_id


def test_cluster_ids_never_start_with_a_dash() -> None:
    ids = [_cluster_id() for _ in range(2000)]  # about 1 in 64 raw draws starts with "-"
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)
