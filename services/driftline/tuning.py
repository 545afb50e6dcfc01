"""Online tuning: a stream's search space becomes one of River's model selectors.

A stream's ``tuning.grid`` names parameters of its ``model`` (``"LogisticRegression.l2"``, or
``"max_depth"`` for a model that is no pipeline) with the values to try. Each combination is a
candidate, cloned from the model with :meth:`river.base.Base.clone`; a string value naming a
River object (``"optim.SGD(0.1)"``) is built by :mod:`driftline.modelspec`, never evaluated.
The candidates go into River's bandit or successive-halving selector, which learns, predicts with
its best candidate and pickles like any River model; :func:`serving` says which candidate that is.
"""

from __future__ import annotations

import ast
import itertools
import math
from dataclasses import dataclass
from typing import Any, Protocol

from river import bandit, metrics, model_selection
from river.model_selection.base import ModelSelector

from driftline.contracts import Outcome
from driftline.modelspec import ModelSpecError, build_model


class TuningSpec(Protocol):
    """What a search space says (``streams.S.tuning``, :class:`driftline.config.streams.TuningSpec`, which is checked
    with :func:`candidates`): a protocol here, so that the config imports this module and not the reverse."""

    grid: dict[str, list[bool | int | float | str]]
    selector: str
    policy: str
    epsilon: float
    decay: float
    delta: float
    burn_in: int
    seed: int
    budget: int | None
    eta: int


#: Candidates one search space may hold: each learns (bandit burn-in, halving rungs) and is a metric series.
MAX_CANDIDATES = 32
#: Longest served name, ``model [candidate]``: outcomes carry it as their model name.
MAX_SERVED_NAME = next(m.max_length for m in Outcome.model_fields["model_name"].metadata if hasattr(m, "max_length"))
#: Where the selector keeps its candidates' names (River's selectors know models, not names).
NAMES_ATTRIBUTE = "candidate_names"


class TuningError(ValueError):
    """A search space driftline will not build; the message names the ``tuning`` key."""


def _value(key: str, value: Any) -> Any:
    """A grid value as the model takes it: a string that is an expression (``optim.SGD(0.1)``) is built, others stay."""
    if isinstance(value, str) and _expression(value):
        try:
            return build_model(value)
        except ModelSpecError as e:
            raise TuningError(f"tuning.grid.{key}: {e}") from None
    return value


def _expression(text: str) -> bool:
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, ast.Attribute | ast.Call | ast.BinOp)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _nested(path: str, value: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    return {head: _nested(rest, value) if rest else value}


def _merge(into: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    for name, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(name), dict):
            _merge(into[name], value)
        else:
            into[name] = value
    return into


def _check_path(params: dict[str, Any], path: str) -> None:
    """Refuse a grid key that names no parameter: River's clone would ignore an unknown pipeline step."""
    level: Any = params
    parts = path.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(level, dict) or part not in level:
            where = ".".join(parts[:depth]) or "the model"
            known = ", ".join(level) if isinstance(level, dict) else "none"
            raise TuningError(f"tuning.grid.{path}: {where} has no parameter {part!r} (it has: {known})")
        level = level[part]


def served_name(model: str, candidate: str) -> str:
    """The model name a tuned model's outcomes carry: the stream's model and the candidate serving."""
    return f"{model} [{candidate}]"


def candidates(model: str, tuning: TuningSpec, regression: bool = False) -> list[tuple[str, Any]]:
    """Every candidate of the search space as (name, fresh model), in grid order."""
    base = build_model(model)
    params = base._get_params()
    for path, values in tuning.grid.items():
        _check_path(params, path)
        if not values:
            raise TuningError(f"tuning.grid.{path}: give at least one value")
    count = math.prod(len(values) for values in tuning.grid.values())
    if not 2 <= count <= MAX_CANDIDATES:
        raise TuningError(f"tuning.grid: {count} candidates; a search space holds 2 to {MAX_CANDIDATES}")
    # Names say the parameter alone when that is unambiguous: outcomes carry them.
    leaves = [path.rsplit(".", 1)[-1] for path in tuning.grid]
    shown = leaves if len(set(leaves)) == len(leaves) else list(tuning.grid)
    chosen = []
    for combination in itertools.product(*tuning.grid.values()):
        name = ", ".join(f"{label}={_text(v)}" for label, v in zip(shown, combination, strict=True))
        if len(served_name(model, name)) > MAX_SERVED_NAME:
            raise TuningError(
                f"tuning.grid: the served name {served_name(model, name)[:60]!r}... is longer than {MAX_SERVED_NAME} "
                "characters, which outcomes carry (a preset or shorter model expression, or fewer values, helps)"
            )
        new_params: dict[str, Any] = {}
        for path, value in zip(tuning.grid, combination, strict=True):
            # Built for each candidate: candidates sharing one optimizer object would share its state.
            _merge(new_params, _nested(path, _value(path, value)))
        try:
            candidate = base.clone(new_params)
            # River takes any value at construction: one learning step shows a value of the wrong kind now.
            candidate.clone().learn_one({"x": 1.0}, 1.0 if regression else True)
        except Exception as e:  # whatever a River model raises on a bad parameter
            raise TuningError(f"tuning.grid: {name}: {type(e).__name__}: {e}") from None
        chosen.append((name, candidate))
    return chosen


def build_tuned(model: str, tuning: TuningSpec, task: str) -> ModelSelector:
    """River's selector over the search space, its candidates' names in ``candidate_names``."""
    regression = task == "regression"
    named = candidates(model, tuning, regression)
    models = [m for _, m in named]
    if tuning.selector == "successive_halving":
        budget = tuning.budget or 1000 * len(models)
        if regression:
            selector = model_selection.SuccessiveHalvingRegressor(models, metrics.MAE(), budget, eta=tuning.eta)
        else:
            selector = model_selection.SuccessiveHalvingClassifier(models, metrics.Accuracy(), budget, eta=tuning.eta)
    else:
        policy = (
            bandit.UCB(delta=tuning.delta, burn_in=tuning.burn_in, seed=tuning.seed)
            if tuning.policy == "ucb"
            else bandit.EpsilonGreedy(tuning.epsilon, decay=tuning.decay, burn_in=tuning.burn_in, seed=tuning.seed)
        )
        # River's bandit serves the arm of largest reward: MAE would pick the worst regressor, R² the best.
        if regression:
            selector = model_selection.BanditRegressor(models, metrics.R2(), policy)
        else:
            selector = model_selection.BanditClassifier(models, metrics.Accuracy(), policy)
    setattr(selector, NAMES_ATTRIBUTE, [name for name, _ in named])
    return selector


def _scored(metric: Any) -> int:
    """Events a halving candidate's metric scored (Accuracy keeps a confusion matrix, MAE a mean)."""
    if hasattr(metric, "cm"):
        return int(metric.cm.n_samples)
    return int(metric._mean.n)


@dataclass(frozen=True, slots=True)
class CandidateScore:
    """One candidate of a tuned model: its score so far and how many labelled events it learned."""

    name: str
    score: float | None
    learned: int
    serving: bool


def serving(model: Any) -> str | None:
    """The name of the candidate a tuned model serves now; None for a model that is not tuned."""
    names = getattr(model, NAMES_ATTRIBUTE, None)
    if names is None:
        return None
    best = model.best_model
    index = next((i for i, m in enumerate(model.models) if m is best), 0)
    return names[index]


def scores(model: Any) -> list[CandidateScore]:
    """Every candidate of a tuned model with the score its selector ranks it by; [] for a model that is not tuned."""
    names = getattr(model, NAMES_ATTRIBUTE, None)
    if names is None:
        return []
    served = serving(model)
    if isinstance(model, model_selection.SuccessiveHalvingClassifier | model_selection.SuccessiveHalvingRegressor):
        # River keeps a halving candidate's score in a metric of its own, which counts what it scored.
        counted = [_scored(m) for m in model._metrics]  # type: ignore[attr-defined]
        tallies = [(m.get() if n else None, n) for m, n in zip(model._metrics, counted, strict=True)]  # type: ignore[attr-defined]
    else:
        rewards, counts = model.policy._rewards, model.policy._counts
        tallies = [(rewards[i].get() if i in rewards else None, counts[i]) for i in range(len(names))]
    return [
        CandidateScore(name, score, learned, name == served)
        for name, (score, learned) in zip(names, tallies, strict=True)
    ]
