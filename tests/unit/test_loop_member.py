"""The stream loop's static member id, without a broker (the broker's side: test_loop_membership)."""

from __future__ import annotations

import pytest

from driftline.kafkaio.loopconfig import LoopConfig


def test_each_subscription_is_its_own_static_member() -> None:
    one = LoopConfig(group_id="g", topics=["a.events", "a.labels"], instance_id="host")
    assert LoopConfig(group_id="g", topics=["a.labels", "a.events"], instance_id="host").member_id == one.member_id
    assert LoopConfig(group_id="g", topics=["b.events", "a.labels"], instance_id="host").member_id != one.member_id
    assert one.member_id.startswith("host.")


def test_a_group_id_with_a_slash_is_refused() -> None:
    with pytest.raises(ValueError, match="no '/' allowed"):
        LoopConfig(group_id="a/b", topics=["t"])
