"""Label requests without a broker: the budgeted uncertainty rule, and the trainer core asking and being answered."""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import pytest
from river import datasets

from driftline.config import settings_from_dict
from driftline.contracts import LabelEvent, LabelRequest, SensorEvent, parse
from driftline.rules.labels import confidence_of
from driftline.trainer.core import TrainerCore
from driftline.trainer.label_requests import BudgetedUncertainty

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def confidences(n: int, seed: int, low: float = 0.5, high: float = 1.0) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(low, high) for _ in range(n)]


@pytest.mark.parametrize("budget", [0.01, 0.05, 0.2, 0.5])
@pytest.mark.parametrize("kind", ["spread", "sure", "none", "rising"])
def test_the_budget_holds_over_every_stretch_of_a_long_stream(budget: float, kind: str) -> None:
    n = 40_000
    values: list[float | None] = {
        "spread": confidences(n, 1),
        "sure": confidences(n, 2, 0.97, 1.0),
        "none": [None] * n,
        # The model grows surer halfway: the threshold must follow without overspending.
        "rising": confidences(n // 2, 3) + confidences(n // 2, 4, 0.9, 1.0),
    }[kind]
    sampler = BudgetedUncertainty(budget, seed="rooms")
    asked = [sampler.ask(c) for c in values]
    assert sampler.asked == sum(asked) and sampler.seen == n
    assert 0.85 * budget <= sum(asked) / n
    # A cap, not an average: no prefix overspends, nor any stretch beyond what it may save up.
    prefix = 0
    for i, a in enumerate(asked, 1):
        prefix += a
        assert prefix <= budget * i + 1e-6
    for stretch in (100, 5000):
        most = max(sum(asked[i : i + stretch]) for i in range(0, n - stretch + 1, 50))
        assert most <= budget * stretch + sampler.saved_cap + 1e-6


def test_the_least_sure_events_are_asked_about() -> None:
    values = confidences(40_000, 5)
    sampler = BudgetedUncertainty(0.05, seed=0)
    asked = [c for c in values if sampler.ask(c)]
    # The 5% least sure of uniform(0.5, 1) lie below 0.525; a tenth of the budget is spent at random.
    below = sum(c < 0.55 for c in asked) / len(asked)
    assert below > 0.8
    assert sum(asked) / len(asked) < 0.56 < sum(values) / len(values)


def test_the_rule_is_deterministic_given_the_events_and_survives_a_pickle() -> None:
    values = confidences(6000, 6)
    first = BudgetedUncertainty(0.1, seed="rooms/dev-1")
    decisions = [first.ask(c) for c in values]
    second = BudgetedUncertainty(0.1, seed="rooms/dev-1")
    assert [second.ask(c) for c in values[:3000]] == decisions[:3000]
    restored = pickle.loads(pickle.dumps(second))  # as a checkpoint restores it
    assert [restored.ask(c) for c in values[3000:]] == decisions[3000:]
    other = BudgetedUncertainty(0.1, seed="rooms/dev-2")
    assert [other.ask(c) for c in values] != decisions


def test_a_full_budget_asks_about_every_event() -> None:
    sampler = BudgetedUncertainty(1.0, seed=0)
    assert all(sampler.ask(c) for c in [*confidences(500, 7), None, 1.0])


def test_a_budget_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="label budget"):
        BudgetedUncertainty(0.0)
    with pytest.raises(ValueError, match="label budget"):
        BudgetedUncertainty(1.5)


def test_confidence_is_the_probability_of_the_prediction() -> None:
    assert confidence_of(True, {"True": 0.8, "False": 0.2}) == 0.8
    assert confidence_of("UP", {"DOWN": 0.3, "UP": 0.7}) == 0.7
    assert confidence_of(False, {False: 0.6, True: 0.4}) == 0.6
    assert confidence_of("c", {"a": 0.5, "b": 0.3}) == 0.5  # not among them: the top class
    assert confidence_of(True, None) is None
    assert confidence_of(True, {True: 1.0000000002, False: 0.0}) == 1.0


def phishing(n: int, labelled: bool = False) -> list[SensorEvent]:
    return [
        SensorEvent(
            event_id=f"e{i}",
            device_id="d1",
            stream="phish",
            ts=T0 + timedelta(seconds=i),
            features=x,
            label=y if labelled else None,
        )
        for i, (x, y) in enumerate(islice(datasets.Phishing(), n))
    ]


def core_for(tmp_path: Path, **stream: object) -> TrainerCore:
    x, _ = next(iter(datasets.Phishing()))
    config = {"task": "binary", "features": {k: {} for k in x}, "label_ttl_s": 3600, **stream}
    return TrainerCore(settings_from_dict({"state_dir": str(tmp_path), "streams": {"phish": config}}, "test"))


def test_the_core_asks_within_budget_and_an_answer_is_learned(tmp_path: Path) -> None:
    core = core_for(tmp_path, label_budget=0.1)
    truth = {f"e{i}": y for i, (_, y) in enumerate(islice(datasets.Phishing(), 1000))}
    for event in phishing(200, labelled=True):  # a model that has learned something
        outcome = core.on_event(event)
        assert outcome is not None and core.label_request(outcome) is None  # labelled: nothing to ask
    requests: list[LabelRequest] = []
    for event in phishing(1000)[200:]:
        outcome = core.on_event(event)
        assert outcome is not None
        if (request := core.label_request(outcome)) is not None:
            requests.append(request)
    assert 0.07 * 800 <= len(requests) <= 0.1 * 800 + 1
    request = requests[0]
    # What goes on the topic is the contract, and it names the waiting event.
    assert parse(LabelRequest, request.to_bytes()) == request
    assert request.model_key == "phish" and request.expires_at == request.event_ts + timedelta(seconds=3600)
    assert request.confidence == confidence_of(request.prediction, request.proba)
    assert [r.event_id for r in core.open_label_requests("phish", 10_000)] == [r.event_id for r in requests]
    assert [r.event_id for r in core.open_label_requests("phish", 3)] == [r.event_id for r in requests[:3]]

    learned = core.slots["phish"].learned
    answer = LabelEvent(stream="phish", device_id="d1", event_id=request.event_id, label=truth[request.event_id], ts=T0)
    outcome = core.on_label(answer)
    assert outcome is not None and outcome.learned and outcome.label == truth[request.event_id]
    assert core.slots["phish"].learned == learned + 1
    assert request.event_id not in {r.event_id for r in core.open_label_requests("phish", 10_000)}
    assert core.metrics.label_requests.labels("phish")._value.get() == len(requests)
    assert core.metrics.label_requests_answered.labels("phish")._value.get() == 1


def test_a_request_whose_prediction_stopped_waiting_leaves_the_list(tmp_path: Path) -> None:
    core = core_for(tmp_path, label_budget=0.5, label_ttl_s=10)
    asked = []
    for event in phishing(100):
        outcome = core.on_event(event)
        assert outcome is not None
        if (request := core.label_request(outcome)) is not None:
            asked.append(request.event_id)
    still_waiting = {r.event_id for r in core.open_label_requests("phish", 1000)}
    # Events are a second apart: only the last 10 s of them still wait for labels.
    assert still_waiting == {e for e in asked if int(e[1:]) >= 89}


def test_without_a_budget_nothing_is_asked(tmp_path: Path) -> None:
    core = core_for(tmp_path)
    for event in phishing(100):
        outcome = core.on_event(event)
        assert outcome is not None and core.label_request(outcome) is None
    assert core.open_label_requests("phish", 100) == []


def test_holdout_events_are_never_asked_about(tmp_path: Path) -> None:
    from driftline.learning.holdout import is_holdout

    core = core_for(tmp_path, label_budget=1.0, holdout_fraction=0.3)
    asked = set()
    for event in phishing(300):
        outcome = core.on_event(event)
        assert outcome is not None
        if core.label_request(outcome) is not None:
            asked.add(event.event_id)
    held = {f"e{i}" for i in range(300) if is_holdout(f"e{i}", 0.3)}
    assert held and not asked & held and len(asked) > 100


def test_label_requests_survive_a_checkpoint(tmp_path: Path) -> None:
    core = core_for(tmp_path, label_budget=0.2)
    events = phishing(600)
    for event in events[:300]:
        outcome = core.on_event(event)
        assert outcome is not None
        core.label_request(outcome)
    state = core.snapshot(["phish"])
    restored = core_for(tmp_path, label_budget=0.2)
    restored.restore(state)
    assert restored.open_label_requests("phish", 1000) == core.open_label_requests("phish", 1000)
    later = []
    for target in (core, restored):
        asked = []
        for event in events[300:]:
            outcome = target.on_event(event)
            assert outcome is not None
            if (request := target.label_request(outcome)) is not None:
                asked.append(request.event_id)
        later.append(asked)
    assert later[0] and later[0] == later[1]


def test_open_requests_stay_bounded_by_the_waiting_predictions_when_nobody_lists_them(tmp_path: Path) -> None:
    core = core_for(tmp_path, label_budget=1.0, label_ttl_s=5)
    for event in phishing(400):
        outcome = core.on_event(event)
        assert outcome is not None and core.label_request(outcome) is not None
    state = core.keys["phish"]
    assert state.requests is not None and len(state.requests) <= len(state.pending) + 1
