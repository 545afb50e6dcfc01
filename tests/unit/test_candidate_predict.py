"""A candidate's prediction and probabilities from one call where River's predict_one is their argmax."""

from __future__ import annotations

import copy
from itertools import islice

import pytest
from river import compose, datasets, linear_model, preprocessing

from conftest import CLASSIFICATION_PRESETS
from driftline.learning.candidate import Candidate, predicts_by_argmax
from driftline.learning.model_input import ModelInput
from driftline.modelspec import build_model


class Thresholded(linear_model.LogisticRegression):
    """A classifier whose predict_one is its own: not the argmax of its probabilities."""

    def predict_one(self, x: dict) -> bool:
        return self.predict_proba_one(x)[True] > 0.9


@pytest.mark.parametrize("preset", CLASSIFICATION_PRESETS)
def test_one_call_serves_what_predict_one_and_predict_proba_one_would(preset: str) -> None:
    model = build_model(preset)
    twin = copy.deepcopy(model)
    candidate, inputs = Candidate(preset, model, None), ModelInput()
    assert candidate.argmax
    for x, y in islice(datasets.Phishing(), 300):
        encoded = inputs.encode(x)
        features = candidate.features(encoded)
        assert candidate.predict(encoded, proba=True) == (twin.predict_one(features), twin.predict_proba_one(features))
        assert candidate.predict(encoded, proba=False) == (twin.predict_one(features), None)
        candidate.learn(encoded, y)
        twin.learn_one(features, y)


def test_a_model_with_its_own_predict_one_is_asked_both() -> None:
    model = preprocessing.StandardScaler() | Thresholded()
    assert not predicts_by_argmax(model)
    assert not predicts_by_argmax(Thresholded())
    twin = copy.deepcopy(model)
    candidate, inputs = Candidate("thresholded", model, None), ModelInput()
    disagreed = 0
    for x, y in islice(datasets.Phishing(), 300):
        encoded = inputs.encode(x)
        prediction, proba = candidate.predict(encoded, proba=True)
        assert (prediction, proba) == (twin.predict_one(encoded.numbers), twin.predict_proba_one(encoded.numbers))
        disagreed += prediction != max(proba, key=proba.get)
        candidate.learn(encoded, y)
        twin.learn_one(encoded.numbers, y)
    assert disagreed  # the case the check exists for: the argmax would have served something else


def test_a_pipeline_subclass_with_its_own_predict_one_is_asked_both() -> None:
    class Voting(compose.Pipeline):
        def predict_one(self, x: dict, **params: object) -> bool:
            return True

    assert not predicts_by_argmax(Voting(preprocessing.StandardScaler(), linear_model.LogisticRegression()))
