"""Challengers added and removed by command, and every candidate's time per event, without a broker."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from river import datasets

from driftline.config import settings_from_dict
from driftline.config.streams import StreamConfig
from driftline.contracts import ControlCommand
from driftline.learning import candidate as candidate_module
from driftline.learning.candidate import Candidate
from driftline.learning.slot import ModelSlot
from driftline.trainer.core import TrainerCore
from driftline.trainer.metrics import candidate_figures

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = list(datasets.Phishing())
FEATURES = {name: {} for name in ROWS[0][0]}


def trainer(tmp_path: Path, **stream: Any) -> TrainerCore:
    spec = {"task": "binary", "model": "dummy.NoChangeClassifier", "features": FEATURES, **stream}
    return TrainerCore(settings_from_dict({"state_dir": str(tmp_path), "streams": {"phish": spec}}, "t"))


def feed(core: TrainerCore, first: int, stop: int) -> None:
    from driftline.contracts import SensorEvent

    for i in range(first, stop):
        event = SensorEvent(event_id=f"e{i}", device_id="d", stream="phish", ts=T0 + timedelta(seconds=i),
                            features=ROWS[i][0], label=ROWS[i][1])  # fmt: skip
        core.on_event(event)


def add(spec: str, command_id: str = "add-1", name: str | None = None) -> ControlCommand:
    return ControlCommand(command_id=command_id, action="add_challenger", stream="phish", spec=spec, candidate=name,
                          issuer="test")  # fmt: skip


def remove(name: str, command_id: str = "rm-1") -> ControlCommand:
    return ControlCommand(command_id=command_id, action="remove_challenger", stream="phish", candidate=name,
                          issuer="test")  # fmt: skip


def every_prediction(core: TrainerCore) -> list[dict[str, Any]]:
    """Each candidate's prediction of 100 probe rows (the served one's probabilities too)."""
    slot = core.slots["phish"]
    return [{**slot.predict(x)[2], "proba": slot.predict(x)[1]} for x, _ in ROWS[1000:1100]]


def test_an_added_challenger_learns_from_the_command_on_and_is_promoted_when_better(tmp_path: Path) -> None:
    core = trainer(tmp_path, promote_window=50)
    feed(core, 0, 100)
    [ack] = core.on_command(add("logistic"))
    assert (ack.status, ack.model_key, ack.detail) == ("applied", "phish", "added challenger logistic")
    slot = core.slots["phish"]
    assert [c.name for c in slot.candidates] == ["dummy.NoChangeClassifier", "logistic"]
    assert slot.candidates[1].learns == 0  # fresh: nothing learned before its command
    assert [a.status for a in core.on_command(add("logistic"))] == ["duplicate"]
    assert len(slot.candidates) == 2
    feed(core, 100, 200)
    assert slot.candidates[1].learns == 100
    assert slot.served.name == "logistic"  # scored like a configured challenger, and better


def test_an_added_challenger_survives_a_reset_and_a_restore_exactly(tmp_path: Path) -> None:
    core = trainer(tmp_path)
    feed(core, 0, 100)
    core.on_command(add("hoeffding", name="tree"))
    feed(core, 100, 300)
    restored = TrainerCore(core.settings)
    restored.restore(core.snapshot(["phish"]))
    assert [c.name for c in restored.slots["phish"].candidates] == ["dummy.NoChangeClassifier", "tree"]
    assert every_prediction(restored) == every_prediction(core)
    assert [a.status for a in restored.on_command(add("hoeffding", name="tree"))] == ["duplicate"]

    [reset] = core.on_command(ControlCommand(command_id="r", action="reset", stream="phish", issuer="t"))
    assert reset.status == "applied"
    slot = core.slots["phish"]
    assert [c.name for c in slot.candidates] == ["dummy.NoChangeClassifier", "tree"]
    assert slot.candidates[1].learns == 0 and slot.candidates[1].recent is not None  # rebuilt fresh, scored


def test_remove_takes_only_an_added_challenger_that_is_not_served(tmp_path: Path) -> None:
    core = trainer(tmp_path, challengers=["hoeffding"])
    feed(core, 0, 20)
    core.on_command(add("logistic"))
    [configured] = core.on_command(remove("hoeffding", "rm-0"))
    assert configured.status == "failed"
    assert configured.detail == "phish has no challenger 'hoeffding' added by command (added: logistic)"
    [ack] = core.on_command(remove("logistic"))
    assert (ack.status, ack.detail) == ("applied", "removed challenger logistic")
    slot = core.slots["phish"]
    assert [c.name for c in slot.candidates] == ["dummy.NoChangeClassifier", "hoeffding"] and slot.added == {}
    slot.reset("cold")
    assert [c.name for c in slot.candidates] == ["dummy.NoChangeClassifier", "hoeffding"]


def test_a_bad_spec_or_a_taken_name_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    core = trainer(tmp_path)
    feed(core, 0, 10)
    [bad] = core.on_command(add("tree.NoSuchTree", "a1"))
    assert bad.status == "failed" and "river.tree has no model class 'NoSuchTree'" in bad.detail
    [taken] = core.on_command(add("logistic", "a2", name="dummy.NoChangeClassifier"))
    assert taken.status == "failed" and "has a candidate named 'dummy.NoChangeClassifier' already" in taken.detail
    assert [c.name for c in core.slots["phish"].candidates] == ["dummy.NoChangeClassifier"]


def test_an_added_challenger_joins_the_background_model_too() -> None:
    slot = ModelSlot("phish", StreamConfig(task="binary", features=FEATURES))
    assert slot.start_background()
    slot.add_challenger("hoeffding")
    assert slot.reset("warm") == "warm"
    assert [c.name for c in slot.candidates] == ["logistic", "hoeffding"]


def test_a_command_without_its_spec_or_name_breaks_the_contract() -> None:
    with pytest.raises(ValueError, match="an add_challenger command, and only it, carries a spec"):
        ControlCommand(command_id="c", action="add_challenger", stream="phish")
    with pytest.raises(ValueError, match="an add_challenger command, and only it, carries a spec"):
        ControlCommand(command_id="c", action="reset", stream="phish", spec="logistic")
    with pytest.raises(ValueError, match="a remove_challenger command names the candidate to remove"):
        ControlCommand(command_id="c", action="remove_challenger", stream="phish")


# Time per event


def test_each_candidate_times_its_own_calls_within_a_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(candidate_module, "TIMING_WINDOW", 20)
    slot = ModelSlot("phish", StreamConfig(task="binary", features=FEATURES, challengers=["hoeffding"]))
    for x, y in ROWS[:3]:
        _, _, predictions = slot.predict(x)
        slot.learn(x, y, predictions)
    assert all(c.predict_ns == c.learn_ns == 0 and c.learn_us is None for c in slot.candidates)  # 1 in 4 timed
    for x, y in ROWS[3:30]:
        _, _, predictions = slot.predict(x)
        slot.learn(x, y, predictions)
    for candidate in slot.candidates:
        assert (candidate.predicts, candidate.learns, candidate.learns_timed) == (30, 30, 7)
        assert candidate.predict_ns > 0 and candidate.learn_ns > 0
        assert candidate.learn_us == candidate.learn_ns / 7 / 1000
    for x, y in ROWS[30:40]:
        slot.learn(x, y, {})
    assert [c.learns for c in slot.candidates] == [20, 20]  # at 2 x the window, the sums halve: recent calls weigh


def test_candidate_figures_are_per_stream_and_name_over_keys() -> None:
    stream = StreamConfig(task="binary", features=FEATURES, scope="device", challengers=["hoeffding"])
    slots = [ModelSlot(f"phish/d{i}", stream) for i in range(2)]
    for i, slot in enumerate(slots):
        for x, y in ROWS[: 10 * (i + 1)]:
            _, _, predictions = slot.predict(x)
            slot.learn(x, y, predictions)
    figures = {f.model: f for f in candidate_figures(slots)}
    assert set(figures) == {"logistic", "hoeffding"}
    logistic = figures["logistic"]
    ns = sum(s.candidates[0].learn_ns for s in slots)
    assert logistic.learn_s == ns / sum(s.candidates[0].learns_timed for s in slots) / 1e9
    assert logistic.score == sum(s.candidates[0].score for s in slots) / 2  # type: ignore[misc]
    assert logistic.stream == "phish" and logistic.task == "binary"


def test_the_trainer_exposes_each_candidate_s_accuracy_and_time(tmp_path: Path) -> None:
    core = trainer(tmp_path, challengers=["logistic"])
    exposed = generate_latest(core.metrics.registry).decode()
    assert "driftline_trainer_candidate_accuracy{" not in exposed  # nothing learned: nothing to show
    feed(core, 0, 50)
    exposed = generate_latest(core.metrics.registry).decode()
    for metric in ("accuracy", "predict_seconds", "learn_seconds"):
        for model in ("dummy.NoChangeClassifier", "logistic"):
            assert f'driftline_trainer_candidate_{metric}{{model="{model}",stream="phish"}}' in exposed
    assert "driftline_trainer_candidate_mae{" not in exposed


def test_a_slot_pickled_before_the_timing_fields_restores_with_them_empty() -> None:
    slot = ModelSlot("phish", StreamConfig(task="binary", features=FEATURES))
    state = slot.__getstate__()[:-2]  # as a checkpoint from before `added` (and `inputs`) holds it
    candidate_state = slot.candidates[0].__getstate__()[:3]  # ... and before the timing fields
    old = ModelSlot.__new__(ModelSlot)
    old.__setstate__(state)
    older = Candidate.__new__(Candidate)
    older.__setstate__(candidate_state)
    assert old.added == {} and (older.predicts, older.learn_ns, older.learn_us) == (0, 0, None)
    assert pickle.loads(pickle.dumps(old)).added == {}
