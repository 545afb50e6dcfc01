"""Online tuning without a broker: the search space in config, River's selectors choosing, pickled state."""

from __future__ import annotations

import pickle
import random
import tomllib
from pathlib import Path
from typing import Any

import pytest
from river import datasets

from driftline.config import settings_from_dict
from driftline.config.base import ConfigError
from driftline.config.streams import StreamConfig, TuningSpec
from driftline.learning.slot import ModelSlot
from driftline.trainer.metrics import TrainerMetrics
from driftline.tuning import build_tuned, candidates, scores, serving

PHISHING = list(datasets.Phishing())
FEATURES = {name: {} for name in PHISHING[0][0]}
#: A learning rate far too small beside a good one and a middling one.
RATES = {"LogisticRegression.optimizer": ["optim.SGD(0.00001)", "optim.SGD(0.1)", "optim.SGD(0.001)"]}
GOOD = "optimizer=optim.SGD(0.1)"


def stream(task: str = "binary", **tuning: Any) -> StreamConfig:
    return StreamConfig(task=task, features=FEATURES, tuning={"grid": RATES, **tuning})


@pytest.mark.parametrize(
    ("tuning", "extra", "expected"),
    [
        ({"grid": {"LogisticRegression.l3": [0.0, 0.1]}}, {}, "tuning.grid.LogisticRegression.l3: LogisticRegression "),
        ({"grid": {"Logistic.l2": [0.0, 0.1]}}, {}, "tuning.grid.Logistic.l2: the model has no parameter 'Logistic'"),
        ({"grid": {"LogisticRegression.l2": [0.1]}}, {}, "tuning.grid: 1 candidates; a search space holds 2 to 32"),
        ({"grid": {"LogisticRegression.l2": list(range(33))}}, {}, "tuning.grid: 33 candidates"),
        ({"grid": {"LogisticRegression.l2": ["heavy", 0.1]}}, {}, "tuning.grid: l2=heavy: TypeError"),
        (
            {"grid": {"LogisticRegression.optimizer": ["optim.SGD(0.1)", "os.system('true')"]}},
            {},
            "tuning.grid.LogisticRegression.optimizer: \"os.system('true')\": module 'os' is not allowed",
        ),
        ({"grid": {"LogisticRegression.l2": [0, 1]}, "budget": 10}, {}, "tuning: budget does not apply to selector"),
        (
            {"grid": {"LogisticRegression.l2": [0, 1]}, "selector": "successive_halving", "epsilon": 0.2},
            {},
            "tuning: epsilon does not apply to selector = 'successive_halving'",
        ),
        ({"grid": {}}, {}, "tuning.grid: Dictionary should have at least 1 item"),
        (
            {"grid": {"LogisticRegression.l2": [0, 1]}},
            {"challengers": ["naive_bayes"]},
            "tuning and challengers: choose one",
        ),
        (
            {
                "grid": {
                    "LogisticRegression.optimizer": ["optim.SGD(0.1)", "optim.Adam(0.01, beta_1=0.9, beta_2=0.999)"]
                }
            },
            {
                "model": "preprocessing.StandardScaler | linear_model.LogisticRegression(l2=0.0, l1=0.0, "
                "intercept_init=0.0, clip_gradient=1000000000000.0, optimizer=optim.SGD(0.01))"
            },
            "tuning.grid: the served name 'preprocessing.StandardScaler | linear_model.LogisticRegressi'... is longer "
            "than 200 characters",
        ),
    ],
)
def test_a_bad_search_space_is_one_line_naming_the_key(
    tuning: dict[str, Any], extra: dict[str, Any], expected: str
) -> None:
    data = {"streams": {"rooms": {"task": "binary", "features": {"t": {}}, "tuning": tuning, **extra}}}
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(data, "test.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("test.toml: streams.rooms"), message
    assert expected in message, message


def test_candidates_are_the_grid_with_their_own_state() -> None:
    spec = TuningSpec(
        grid={
            "LogisticRegression.l2": [0.0, 0.01],
            "LogisticRegression.optimizer": RATES["LogisticRegression.optimizer"],
        }
    )
    named = candidates("logistic", spec)
    assert [name for name, _ in named][:3] == [
        "l2=0.0, optimizer=optim.SGD(0.00001)",
        "l2=0.0, optimizer=optim.SGD(0.1)",
        "l2=0.0, optimizer=optim.SGD(0.001)",
    ]
    regressions = [model["LogisticRegression"] for _, model in named]
    assert [(r.l2, r.optimizer.learning_rate) for r in regressions] == [
        (l2, lr) for l2 in (0.0, 0.01) for lr in (0.00001, 0.1, 0.001)
    ]
    # One optimizer object per candidate: a shared one would share its state.
    assert len({id(r.optimizer) for r in regressions}) == len(regressions)


def test_an_ambiguous_parameter_name_is_shown_with_its_path() -> None:
    spec = TuningSpec(grid={"StandardScaler.with_std": [True, False], "LogisticRegression.l2": [0.0]})
    assert [name for name, _ in candidates("logistic", spec)] == [
        "with_std=True, l2=0.0",
        "with_std=False, l2=0.0",
    ]


def prequential(slot: ModelSlot, rows: list[tuple[dict[str, Any], Any]]) -> None:
    for x, y in rows:
        _, _, predictions = slot.predict(x)
        slot.learn(x, y, predictions)


@pytest.mark.parametrize(
    "tuning",
    [{}, {"policy": "ucb"}, {"selector": "successive_halving", "budget": 2000}],
    ids=["epsilon_greedy", "ucb", "successive_halving"],
)
def test_the_selector_serves_the_candidate_that_learns_best(tuning: dict[str, Any]) -> None:
    slot = ModelSlot("phish", stream(**tuning))
    prequential(slot, PHISHING)
    ranked = sorted(scores(slot.served.model), key=lambda c: c.score or 0, reverse=True)
    assert serving(slot.served.model) == GOOD == ranked[0].name
    assert ranked[0].serving and not any(c.serving for c in ranked[1:])
    assert slot.serving == f"logistic [{GOOD}]"
    assert sum(c.learned for c in ranked) >= len(PHISHING)  # every event taught at least one candidate


def test_a_regression_bandit_serves_the_smallest_error() -> None:
    """River's bandit serves the largest reward: with MAE it would serve the worst regressor."""
    rng = random.Random(1)
    rows = []
    for _ in range(1500):
        x = {"a": rng.uniform(-1, 1), "b": rng.uniform(-1, 1)}
        rows.append((x, 3 * x["a"] - 2 * x["b"] + rng.gauss(0, 0.1)))
    config = StreamConfig(
        task="regression",
        features={"a": {}, "b": {}},
        model="linear",
        tuning={"grid": {"LinearRegression.optimizer": ["optim.SGD(0.000001)", "optim.SGD(0.05)"]}},
    )
    slot = ModelSlot("r", config)
    prequential(slot, rows)
    assert serving(slot.served.model) == "optimizer=optim.SGD(0.05)"


def test_a_tuned_slot_predicts_under_the_serving_name() -> None:
    slot = ModelSlot("phish", stream())
    prequential(slot, PHISHING[:400])
    x = PHISHING[500][0]
    prediction, _, predictions = slot.predict(x)
    assert predictions[slot.serving] == prediction == predictions["logistic"]
    assert slot.serving.startswith("logistic [optimizer=")


def test_the_tuned_state_pickles_and_continues_exactly() -> None:
    """A checkpoint holds the selector with its policy's random state: restored, it goes on the same way."""
    slot = ModelSlot("phish", stream(epsilon=0.3))
    prequential(slot, PHISHING[:600])
    restored = pickle.loads(pickle.dumps(slot, protocol=pickle.HIGHEST_PROTOCOL))
    assert restored.serving == slot.serving and scores(restored.served.model) == scores(slot.served.model)
    prequential(slot, PHISHING[600:1000])
    prequential(restored, PHISHING[600:1000])
    assert scores(restored.served.model) == scores(slot.served.model)
    probes = [x for x, _ in PHISHING[1000:1100]]
    assert [restored.predict(x)[:2] for x in probes] == [slot.predict(x)[:2] for x in probes]


def test_a_reset_starts_the_search_again() -> None:
    slot = ModelSlot("phish", stream())
    prequential(slot, PHISHING[:300])
    slot.reset("cold")
    assert all(c.learned == 0 for c in scores(slot.served.model))


def test_the_serving_gauge_marks_one_candidate() -> None:
    metrics = TrainerMetrics()
    model = build_tuned("logistic", stream().tuning, "binary")  # type: ignore[arg-type]
    for x, y in PHISHING[:500]:
        model.learn_one(x, y)
    metrics.report_serving("phish", "phish", model)
    values = {
        name: metrics.registry.get_sample_value(
            "driftline_trainer_tuning_serving", {"stream": "phish", "model_key": "phish", "candidate": name}
        )
        for name in model.candidate_names
    }
    assert values == {name: 1.0 if name == serving(model) else 0.0 for name in model.candidate_names}
    untuned = ModelSlot("plain", StreamConfig(task="binary", features=FEATURES)).served.model
    metrics.report_serving("plain", "plain", untuned)
    series = [s for family in metrics.registry.collect() for s in family.samples if s.name.endswith("tuning_serving")]
    assert {s.labels["model_key"] for s in series} == {"phish"}  # a model that is not tuned adds no series


def test_the_readme_example_loads_and_tunes() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Online tuning", 1)[1]
    example = tomllib.loads(section.split("```toml\n", 1)[1].split("```", 1)[0])
    stream = {**example["streams"]["rooms"], "task": "binary", "features": {"co2": {}}}
    settings = settings_from_dict({"streams": {"rooms": stream}}, "README.md")
    slot = ModelSlot("rooms", settings.streams["rooms"])
    assert len(slot.served.model.candidate_names) == 6
    assert slot.serving == "logistic [optimizer=optim.SGD(0.001), l2=0.0]"
