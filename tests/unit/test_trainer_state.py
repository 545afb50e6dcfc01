"""Duplicate memory, pending labels, holdout choice and model slots, without a broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from river import datasets

from driftline.checkpoint import CheckpointError, Signer
from driftline.config.streams import StreamConfig
from driftline.learning.holdout import is_holdout
from driftline.learning.pending import Pending, PendingLabels
from driftline.learning.slot import ModelSlot
from driftline.rules.dedupe import RecentIds

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SIGNER = Signer(b"a test key of 16+ bytes")


def test_recent_ids_are_bounded() -> None:
    ids = RecentIds(capacity=3)
    assert [ids.seen(x) for x in "abca"] == [False, False, False, True]
    for x in "defghi":  # two generations later "a" is gone, and never more than 6 are held
        ids.seen(x)
        assert len(ids) <= 6
    assert ids.seen("a") is False


def pending(i: int, ts: datetime) -> Pending:
    return Pending(f"e{i}", "d", {"x": 1.0}, ts, {"m": True}, None, "m", 1, False, [])


def test_pending_labels_expire_by_event_time_and_by_count() -> None:
    waiting = PendingLabels(ttl_s=60, capacity=3)
    assert waiting.add(pending(0, T0)) == 0
    assert waiting.add(pending(1, T0 + timedelta(seconds=30))) == 0
    assert waiting.add(pending(2, T0 + timedelta(seconds=61))) == 1  # e0 is older than the TTL
    assert waiting.pop("d", "e0") is None
    waiting.add(pending(3, T0 + timedelta(seconds=62)))
    waiting.add(pending(4, T0 + timedelta(seconds=63)))  # over capacity: e1 goes
    assert waiting.expired == 2 and len(waiting) == 3
    assert waiting.pop("d", "e2") is not None
    assert waiting.pop("other-device", "e3") is None


def test_holdout_is_stable_and_close_to_the_fraction() -> None:
    chosen = [is_holdout(f"event-{i}", 0.2) for i in range(10_000)]
    assert chosen == [is_holdout(f"event-{i}", 0.2) for i in range(10_000)]
    assert 0.18 < sum(chosen) / len(chosen) < 0.22
    assert not any(is_holdout(f"event-{i}", 0.0) for i in range(100))


def phishing_stream(**extra) -> StreamConfig:
    x, _ = next(iter(datasets.Phishing()))
    return StreamConfig(task="binary", features={k: {} for k in x}, **extra)


def test_a_better_challenger_is_promoted_after_the_window() -> None:
    slot = ModelSlot(
        "s", phishing_stream(model="dummy.NoChangeClassifier", challengers=["logistic"], promote_window=100)
    )
    promoted = []
    for x, y in datasets.Phishing():
        _, _, predictions = slot.predict(x)
        if name := slot.learn(x, y, predictions):
            promoted.append(name)
    assert promoted == ["logistic"]
    assert slot.served.name == "logistic"


def test_reset_rollback_and_snapshots(tmp_path: Path) -> None:
    slot = ModelSlot("rooms/dev:1", phishing_stream())
    rows = list(datasets.Phishing())[:200]
    for x, y in rows[:100]:
        slot.learn(x, y, {})
    saved = slot.snapshot(tmp_path, SIGNER)
    assert saved.parent.name == "rooms_dev_1"
    x_probe = rows[150][0]
    before = slot.served.model.predict_proba_one(x_probe)
    for x, y in rows[100:]:
        slot.learn(x, y, {})

    assert slot.reset("warm") == "cold"  # no background model: warm falls back to cold
    assert slot.version == 2
    assert slot.rollback(tmp_path, SIGNER) == saved
    assert slot.version == 3 and slot.learned == 100
    assert slot.served.model.predict_proba_one(x_probe) == before

    assert slot.start_background() is True and slot.start_background() is False
    for x, y in rows[:50]:
        slot.learn(x, y, {})
    background = slot.background[0].model
    assert slot.reset("warm") == "warm"
    assert slot.served.model is background and slot.background is None


def test_rollback_without_snapshot_changes_nothing(tmp_path: Path) -> None:
    slot = ModelSlot("s", phishing_stream())
    assert slot.rollback(tmp_path, SIGNER) is None
    assert slot.version == 1


def test_snapshot_taken_after_a_restart_is_the_newest(tmp_path: Path) -> None:
    old = ModelSlot("s", phishing_stream(), version=5)
    old.snapshot(tmp_path, SIGNER)
    new = ModelSlot("s", phishing_stream(), version=1)
    saved = new.snapshot(tmp_path, SIGNER)
    assert new.latest_snapshot(tmp_path) == saved


def test_a_tampered_or_foreign_snapshot_is_never_rolled_back_to(tmp_path: Path) -> None:
    slot = ModelSlot("s", phishing_stream())
    saved = slot.snapshot(tmp_path, SIGNER)
    with pytest.raises(CheckpointError, match="signature does not match"):
        slot.rollback(tmp_path, Signer(b"another deployment's key"))
    saved.write_bytes(saved.read_bytes()[:-1] + b"x")
    with pytest.raises(CheckpointError, match="signature does not match"):
        slot.rollback(tmp_path, SIGNER)
    assert slot.version == 1
