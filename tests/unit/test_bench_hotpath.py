"""`driftline bench hotpath`: every part of the trainer's per-event path is timed, beside the whole and bare River."""

from __future__ import annotations

import re
from pathlib import Path

from driftline_lab.hotpath import Parts, Plan, render, run_case


def test_every_part_is_timed_and_the_whole_handler_answers_each_event(tmp_path: Path) -> None:
    plan = Plan(events=300, keys=[1, 5], rounds=2)
    results = [run_case(plan, keys, tmp_path / f"k{keys}") for keys in plan.keys]
    parts = set(Parts(plan, 1, tmp_path / "names").contenders())
    for result in results:
        assert set(result.runs) == parts
        assert all(len(runs) == 2 and all(us > 0 for us in runs) for runs in result.runs.values())
    table = render(plan, results, "driftline bench hotpath")
    for name in parts:
        assert re.search(rf"\| {re.escape(name)} \| [0-9.]+ / [0-9.]+ \| [0-9.]+ / [0-9.]+ \|", table), name
    assert "driftline's own work" in table and "x |" in table


def test_the_whole_record_is_the_trainers_own_handler_with_one_outcome_per_event(tmp_path: Path) -> None:
    from driftline.trainer.handler import TrainerService

    parts = Parts(Plan(events=200, keys=[3]), 3, tmp_path)
    service = TrainerService(parts.settings, "127.0.0.1:9")
    service.restore("p0", None)
    topics = [topic for message in parts.messages for topic, _, _, _ in service.on_record("p0", message)]
    assert topics.count(parts.settings.topics.outcomes.name) == 200
    assert set(topics) <= {parts.settings.topics.outcomes.name, parts.settings.topics.drift.name}
