"""Collector worker slots: file locks under state_dir, the lowest free one first."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.collector.worker import Slot


def test_a_worker_takes_the_lowest_free_slot(tmp_path: Path) -> None:
    first, second = Slot.lowest_free(tmp_path, 2), Slot.lowest_free(tmp_path, 2)
    assert (first.index, second.index) == (0, 1)
    with pytest.raises(RuntimeError, match="all 2 collector worker slots"):
        Slot.lowest_free(tmp_path, 2)
    first.release()  # as when a worker dies: its replacement resumes slot 0
    again = Slot.lowest_free(tmp_path, 2)
    assert again.index == 0
    assert Slot.take(tmp_path, 1) is None  # still held
    again.release()
    second.release()
    taken = Slot.take(tmp_path, 1)
    assert taken is not None and taken.index == 1
    taken.release()
