"""What the models get of an event's cleaned features (ModelInput), and that a text category teaches every preset."""

from __future__ import annotations

import logging
import pickle
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import pytest
from river import datasets

from conftest import CATEGORY_FEATURES, CLASSIFICATION_PRESETS, category_rows
from driftline.config import settings_from_dict
from driftline.config.streams import StreamConfig, TuningSpec
from driftline.contracts import SensorEvent
from driftline.learning import model_input as model_input_module
from driftline.learning.candidate import Candidate
from driftline.learning.model_input import ModelInput, takes_text
from driftline.learning.slot import ModelSlot
from driftline.modelspec import PRESETS, build_model
from driftline.trainer.core import TrainerCore
from driftline.tuning import build_tuned

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REGRESSORS = ["linear", "hoeffding_regressor", "forest_regressor"]


def test_every_preset_is_in_one_list() -> None:
    assert sorted([*CLASSIFICATION_PRESETS, *REGRESSORS]) == sorted(PRESETS)


def prequential(tmp_path: Path, preset: str, task: str, events: int) -> list[tuple[object, object]]:
    """(prediction, label) of each event of :func:`category_rows`, through the trainer's core (cleaning included)."""
    stream = {"task": task, "model": preset, "features": CATEGORY_FEATURES}
    core = TrainerCore(settings_from_dict({"state_dir": str(tmp_path), "streams": {"cat": stream}}, "t"))
    pairs = []
    for i, (x, y) in enumerate(category_rows(task, events)):
        event = SensorEvent(event_id=f"e{i}", device_id="d", stream="cat", ts=T0 + timedelta(seconds=i), features=x,
                            label=y)  # fmt: skip
        outcome = core.on_event(event)
        assert outcome is not None and outcome.learned
        pairs.append((outcome.prediction, outcome.label))
    return pairs


@pytest.mark.parametrize(("preset", "task"), CLASSIFICATION_PRESETS.items())
def test_a_text_category_alone_teaches_every_classification_preset(tmp_path: Path, preset: str, task: str) -> None:
    pairs = prequential(tmp_path, preset, task, 5000)
    accuracy = sum(prediction == label for prediction, label in pairs) / len(pairs)
    assert accuracy > 0.95, f"{preset}: prequential accuracy {accuracy:.4f}"


@pytest.mark.parametrize("preset", REGRESSORS)
def test_a_text_category_alone_teaches_every_regression_preset(tmp_path: Path, preset: str) -> None:
    # The label is -10 or +10 (give or take 0.1) by the category: a model blind to it errs by 10 on average.
    pairs = prequential(tmp_path, preset, "regression", 1000)
    mae = sum(abs(float(prediction or 0.0) - label) for prediction, label in pairs) / len(pairs)
    assert mae < 1.0, f"{preset}: prequential MAE {mae:.3f}"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_stream_of_numbers_reaches_every_preset_as_river_alone_feeds_it(preset: str) -> None:
    """Numbers pass untouched: the slot predicts what the bare River model fed the dataset's own dicts does."""
    regression = preset in REGRESSORS
    rows = list(islice(datasets.TrumpApproval() if regression else datasets.Phishing(), 300))
    stream = StreamConfig(task="regression" if regression else "binary", model=preset,
                          features={name: {} for name in rows[0][0]})  # fmt: skip
    slot, bare = ModelSlot("k", stream), build_model(preset)
    for x, y in rows:
        prediction, proba, _ = slot.predict(x, slot.inputs.encode(x))
        assert prediction == bare.predict_one(x)
        assert proba == (None if regression else bare.predict_proba_one(x))
        slot.learn(x, y, {})
        bare.learn_one(x, y)


def test_numbers_and_flags_are_one_dict_for_every_model() -> None:
    encoded = ModelInput().encode({"temp": 21.5, "count": 3, "door": True, "window": False})
    assert encoded.numbers is encoded.text
    assert encoded.numbers == {"temp": 21.5, "count": 3, "door": 1.0, "window": 0.0}


def test_text_is_one_hot_for_most_models_and_as_it_is_for_trees() -> None:
    inputs = ModelInput()
    first = inputs.encode({"temp": 20.0, "mode": "eco"})
    assert first.numbers == {"temp": 20.0, "mode=eco": 1.0}
    assert first.text == {"temp": 20.0, "mode": "eco"}
    second = inputs.encode({"temp": 21.0, "mode": "boost", "door": True})
    # Every value seen so far is an entry: 0.0 but for the event's own, so a scaler sees each entry vary.
    assert second.numbers == {"temp": 21.0, "mode=eco": 0.0, "mode=boost": 1.0, "door": 1.0}
    assert second.text == {"temp": 21.0, "mode": "boost", "door": 1.0}
    assert inputs.encode({"mode": "eco"}).numbers == {"mode=eco": 1.0, "mode=boost": 0.0}


def test_serving_leaves_a_value_never_seen_out_and_learns_nothing() -> None:
    inputs = ModelInput()
    inputs.encode({"mode": "eco"})
    served = inputs.encode({"temp": 20.0, "mode": "turbo", "zone": "north"}, learn=False)
    assert served.numbers == {"temp": 20.0}
    assert served.text == {"temp": 20.0, "mode": "turbo", "zone": "north"}  # a tree takes any value as it is
    assert list(inputs.levels) == ["mode"] and inputs.levels["mode"].entries == {"eco": "mode=eco"}


def test_a_feature_keeps_its_first_values_only(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setattr(model_input_module, "MAX_LEVELS", 3)
    inputs = ModelInput()
    with caplog.at_level(logging.WARNING, logger=model_input_module.__name__):
        for value in ["a", "b", "c", "d", "e"]:
            inputs.encode({"mode": value})
    assert inputs.encode({"temp": 1.0, "mode": "d"}).numbers == {"temp": 1.0}  # left out, as a missing value
    assert inputs.encode({"mode": "c"}).numbers == {"mode=a": 0.0, "mode=b": 0.0, "mode=c": 1.0}
    assert [r.getMessage() for r in caplog.records] == [
        "text feature 'mode' has 3 values: new ones are left out of its one-hot"
    ]


def test_trees_take_text_as_it_is_and_every_other_model_one_hot() -> None:
    assert {name for name in PRESETS if takes_text(build_model(name))} == {"hoeffding", "forest"}
    assert takes_text(build_model("tree.ExtremelyFastDecisionTreeClassifier"))
    # A scaler in front of a tree would choke on text; a regression tree's leaf models too.
    assert not takes_text(build_model("preprocessing.StandardScaler | tree.HoeffdingTreeClassifier"))
    assert not takes_text(build_model("tree.HoeffdingTreeRegressor"))
    grid = TuningSpec(grid={"grace_period": [50, 200]})
    assert takes_text(build_tuned("hoeffding", grid, "binary"))
    assert not takes_text(build_tuned("logistic", TuningSpec(grid={"LogisticRegression.l2": [0.0, 0.1]}), "binary"))


def test_a_slot_checkpointed_before_model_input_learns_its_categories() -> None:
    stream = StreamConfig(task="binary", model="logistic", challengers=["hoeffding"], features=CATEGORY_FEATURES)
    slot = ModelSlot("cat", stream)
    old_candidates = []
    for candidate in slot.candidates:
        old = Candidate.__new__(Candidate)
        old.__setstate__(candidate.__getstate__()[:-1])  # as pickled before `takes_text`
        old_candidates.append(old)
    state = slot.__getstate__()[:-1]  # ... and the slot before `inputs`
    state[3] = old_candidates
    restored = ModelSlot.__new__(ModelSlot)
    restored.__setstate__(state)
    restored = pickle.loads(pickle.dumps(restored))
    assert [candidate.takes_text for candidate in restored.candidates] == [False, True]
    assert restored.inputs.levels == {}
    right = 0
    for x, y in category_rows("binary", 1000):
        prediction, _, predictions = restored.predict(x, encoded := restored.inputs.encode(x))
        right += prediction == y
        restored.learn(x, y, predictions, encoded)
    assert right / 1000 > 0.95
