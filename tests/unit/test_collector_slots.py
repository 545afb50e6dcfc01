"""Collector worker slots: file locks under state_dir, the lowest free one first."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


def test_several_workers_get_time_to_answer_the_supervisor_on_a_loaded_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from driftline.collector import worker
    from driftline.config import settings_from_dict

    asked: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: asked.update(options))
    monkeypatch.setattr(os, "environ", {**os.environ})  # serve() sets its workers' variables: not for the others
    settings = settings_from_dict({"state_dir": str(tmp_path), "collector": {"workers": 2}})
    worker.serve(settings, None)
    # uvicorn's 5 s default killed every worker still starting on a busy machine, over and over.
    assert asked["workers"] == 2 and asked["timeout_worker_healthcheck"] == worker.WORKER_HEALTHCHECK_S >= 30
