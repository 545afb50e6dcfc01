"""River models are built from config text without evaluating code."""

from __future__ import annotations

import pytest
from river import linear_model, optim, preprocessing

from driftline.modelspec import PRESETS, ModelSpecError, build_model


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_a_fresh_model(name: str) -> None:
    first, second = build_model(name), build_model(name)
    assert first is not second
    assert type(first) is type(second)


def test_expression_with_nested_arguments() -> None:
    model = build_model(
        "preprocessing.StandardScaler | linear_model.LogisticRegression(optimizer=optim.SGD(0.05), l2=0.1)"
    )
    scaler, logreg = model.steps.values()
    assert isinstance(scaler, preprocessing.StandardScaler)
    assert isinstance(logreg, linear_model.LogisticRegression)
    assert isinstance(logreg.optimizer, optim.SGD)
    assert logreg.optimizer.learning_rate == 0.05
    assert logreg.l2 == 0.1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("__import__('os').system('true')", "expected module.Class"),
        ("os.system", "module 'os' is not allowed"),
        ("linear_model.Nope", "has no model class 'Nope'"),
        ("linear_model.LogisticRegression(l2=open('x'))", "expected module.Class"),
        ("linear_model.LogisticRegression(bogus=1)", "unexpected keyword argument 'bogus'"),
        ("linear_model.LogisticRegression(**{'l2': 1})", "**kwargs are not allowed"),
        ("linear_model.LogisticRegression(", "not a valid expression"),
        ("preprocessing.StandardScaler + linear_model.LinearRegression", "unsupported syntax"),
        ("linear_model._private", "is private"),
    ],
)
def test_unsafe_or_wrong_expressions_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ModelSpecError, match=message.replace("(", r"\(").replace("*", r"\*")):
        build_model(spec)


def test_a_seeded_model_is_copied_from_one_fresh_build_and_learns_as_a_built_one() -> None:
    from itertools import islice

    from river import datasets

    from driftline import modelspec

    spec = "preprocessing.StandardScaler | linear_model.LogisticRegression(optimizer=optim.SGD(0.07))"
    first, second = build_model(spec), build_model(spec)
    assert spec in modelspec._FRESH
    assert first is not second and first["LogisticRegression"] is not second["LogisticRegression"]
    built = modelspec._build(modelspec.ast.parse(spec, mode="eval").body, spec)  # the uncopied way
    for x, y in islice(datasets.Phishing(), 200):
        assert first.predict_proba_one(x) == built.predict_proba_one(x)
        first.learn_one(x, y)
        built.learn_one(x, y)
    assert second.predict_proba_one(x) == {False: 0.5, True: 0.5}  # untouched by its sibling's learning


def test_a_model_with_an_unset_seed_is_built_every_time() -> None:
    from driftline import modelspec

    spec = "tree.HoeffdingAdaptiveTreeClassifier()"
    build_model(spec)
    assert spec not in modelspec._FRESH
    build_model("hoeffding")  # the preset sets its seed
    assert "hoeffding" in modelspec._FRESH
