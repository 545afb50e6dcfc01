"""Binary streams with named classes: config checks, the trainer's mapping, the monitor's scores."""

from __future__ import annotations

import logging
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from driftline.config import settings_from_dict
from driftline.config.base import ConfigError
from driftline.config.streams import StreamConfig
from driftline.contracts import SensorEvent
from driftline.monitor.state import MonitorState
from driftline.rules.labels import LabelError, Labels
from driftline.trainer.core import TrainerCore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MARKET = {"task": "binary", "classes": ["DOWN", "UP"], "features": {"momentum": {}}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"classes": ["UP"]}, "exactly two different classes"),
        ({"classes": ["UP", "UP"]}, "exactly two different classes"),
        ({"positive": "SIDEWAYS"}, "positive ('SIDEWAYS') is not one of the classes"),
        ({"task": "multiclass", "positive": "UP"}, "positive names a binary stream's positive class"),
        ({"task": "regression"}, "this stream's task is regression"),
        ({"task": "multiclass", "classes": ["A"]}, "at least two different classes"),
        ({"task": "multiclass", "classes": [True, "A"]}, "strings or integers"),
        ({"task": "multiclass", "classes": None, "new_classes": False}, "needs classes"),
        ({"new_classes": True}, "new_classes is for a multiclass stream"),
        ({"classes": None, "positive": "UP"}, "positive needs classes"),
    ],
)
def test_bad_classes_are_refused_naming_the_problem(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings_from_dict({"streams": {"market": {**MARKET, **change}}}, "test")


def market_events(n: int, seed: int = 0) -> list[SensorEvent]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        momentum = rng.uniform(-1, 1)
        events.append(
            SensorEvent(
                event_id=f"e{i}",
                device_id="ticker",
                stream="market",
                ts=T0 + timedelta(seconds=i),
                features={"momentum": momentum},
                label="UP" if momentum > 0 else "DOWN",
            )
        )
    return events


def test_the_trainer_learns_text_labels_and_answers_in_the_streams_classes(tmp_path: Path) -> None:
    settings = settings_from_dict({"state_dir": str(tmp_path), "streams": {"market": MARKET}}, "test")
    core = TrainerCore(settings)
    outcomes = [core.on_event(e) for e in market_events(2000)]
    assert all(o is not None and o.learned for o in outcomes)
    assert {o.prediction for o in outcomes[100:]} == {"UP", "DOWN"}
    assert set(outcomes[-1].proba) == {"UP", "DOWN"}
    assert sum(o.prediction == o.label for o in outcomes[-500:]) > 450  # it learned the rule
    # The monitor scores them against the named positive class.
    state = MonitorState(settings)
    for o in outcomes:
        state.observe(o.to_outcome())
    values = state.series[("market", "logistic")].scores["prequential"].values()
    assert values[("accuracy", "cumulative")] > 0.9
    assert 0.85 < values[("precision", "cumulative")] <= 1 and 0.85 < values[("recall", "cumulative")] <= 1
    assert values[("roc_auc", "cumulative")] > 0.9


def test_an_unknown_class_is_counted_and_logged_once_per_key(tmp_path: Path, caplog) -> None:
    settings = settings_from_dict({"state_dir": str(tmp_path), "streams": {"market": MARKET}}, "test")
    core = TrainerCore(settings)
    events = [e.model_copy(update={"label": "SIDEWAYS"}) for e in market_events(50)]
    with caplog.at_level(logging.ERROR):
        outcomes = [core.on_event(e) for e in events]
    # Predicted, not learned, no traceback: one clear line for the key, a count per label.
    assert all(o is not None and o.label is None and not o.learned for o in outcomes)
    assert core.metrics.labels_refused.labels("market", "unknown_class")._value.get() == 50
    lines = [r for r in caplog.records if "SIDEWAYS" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert "streams.market.classes" in lines[0].getMessage()


def test_text_labels_on_a_stream_without_classes_say_how_to_fix_it(tmp_path: Path, caplog) -> None:
    stream = {**MARKET, "classes": None}
    core = TrainerCore(settings_from_dict({"state_dir": str(tmp_path), "streams": {"market": stream}}, "test"))
    with caplog.at_level(logging.ERROR):
        assert all(not core.on_event(e).learned for e in market_events(20))
    [line] = [r.getMessage() for r in caplog.records]
    assert "names no classes: set streams.market.classes = [negative, positive]" in line


def labels_of(**stream: Any) -> Labels:
    return Labels.of("s", StreamConfig(**{"features": {"x": {}}, **stream}))


# Each rule of the one label mapping, as the collector applies it (it refuses what raises here).
BINARY_PLAIN = [True, False, 0, 1, 0.0, 1.0]
BINARY_PLAIN_REFUSED = [1e30, 2, 1.5, -1, "yes", "true", "False", "1", ""]


@pytest.mark.parametrize("label", BINARY_PLAIN)
def test_a_binary_stream_without_classes_takes_booleans_and_0_1(label: Any) -> None:
    assert labels_of(task="binary").to_model(label) is (label == 1)


@pytest.mark.parametrize("label", BINARY_PLAIN_REFUSED)
def test_a_binary_stream_without_classes_refuses_anything_else(label: Any) -> None:
    with pytest.raises(LabelError, match=r"stream s names no classes: set streams\.s\.classes"):
        labels_of(task="binary").check(label)


@pytest.mark.parametrize("label", [True, 1, "UP ", "up", 1e30, 2])
def test_a_binary_stream_with_classes_takes_exactly_them(label: Any) -> None:
    labels = labels_of(task="binary", classes=["DOWN", "UP"])
    assert labels.to_model("UP") is True and labels.to_model("DOWN") is False
    with pytest.raises(LabelError, match="is not one of stream s's classes"):
        labels.check(label)
    typed = labels_of(task="binary", classes=[0, 1])
    assert typed.to_model(1) is True
    with pytest.raises(LabelError):
        typed.check(True)  # typed: true is not class 1


def test_a_multiclass_stream_takes_its_classes_and_new_ones_only_when_allowed() -> None:
    closed = labels_of(task="multiclass", classes=["cat", "dog", 3])
    assert [closed.to_model(c) for c in ("cat", "dog", 3)] == ["cat", "dog", 3]
    for label in ("bird", 4, True, 3.0):
        with pytest.raises(LabelError, match=r"streams\.s\.new_classes = true lets new ones in|not a class"):
            closed.check(label)
    opened = labels_of(task="multiclass", classes=["cat", "dog"], new_classes=True)
    assert opened.to_model("bird") == "bird"
    open_set = labels_of(task="multiclass")  # no classes named: any string or integer
    assert open_set.to_model("bird") == "bird" and open_set.to_model(7) == 7
    for label in (True, 1.5, 1e30):
        with pytest.raises(LabelError, match="not a class") as caught:
            open_set.check(label)
        assert caught.value.reason == "wrong_type"


@pytest.mark.parametrize("label", [True, False, "1.5", "nan", float("nan"), float("inf")])
def test_a_regression_stream_takes_finite_numbers_only(label: Any) -> None:
    labels = labels_of(task="regression")
    assert labels.to_model(1e30) == 1e30 and labels.to_model(-3) == -3
    with pytest.raises(LabelError, match="not a finite number"):
        labels.check(label)
