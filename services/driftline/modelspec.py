"""Build River models from config text without evaluating code.

A model is a preset name (``logistic``) or a pipeline expression such as
``preprocessing.StandardScaler | linear_model.LogisticRegression(optimizer=optim.SGD(0.05))``.
The expression is parsed with :mod:`ast` and only these forms are accepted: ``module.Class``,
calls of those with literal or nested ``module.Class(...)`` arguments, and ``|`` between steps.
``module`` must be one of River's modelling modules and ``Class`` a River estimator, transformer
or optimiser; anything else is a :class:`ModelSpecError` naming the offending part.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import pickle
from typing import Any

#: River modules whose classes a config may name.
ALLOWED_MODULES = frozenset(
    {
        "compose",
        "ensemble",
        "feature_extraction",
        "forest",
        "linear_model",
        "multiclass",
        "naive_bayes",
        "neighbors",
        "optim",
        "preprocessing",
        "rules",
        "tree",
        "dummy",
        "stats",
        "imblearn",
        "neural_net",
    }
)

#: Named models for the common tasks, so a config can say ``model = "logistic"``. They see a category feature
#: as the trainer's ModelInput hands it to them (driftline.learning.slot): hoeffding and forest as text, which
#: they split on, the others one-hot over the values seen, so each learns from it.
PRESETS: dict[str, str] = {
    "logistic": "preprocessing.StandardScaler | linear_model.LogisticRegression",
    "hoeffding": "tree.HoeffdingAdaptiveTreeClassifier(seed=42)",
    "forest": "forest.ARFClassifier(n_models=10, seed=42)",
    "naive_bayes": "preprocessing.StandardScaler | naive_bayes.GaussianNB",
    "softmax": "preprocessing.StandardScaler | linear_model.SoftmaxRegression",
    "linear": "preprocessing.StandardScaler | linear_model.LinearRegression",
    "hoeffding_regressor": "preprocessing.StandardScaler | tree.HoeffdingAdaptiveTreeRegressor(seed=42)",
    "forest_regressor": "preprocessing.StandardScaler | forest.ARFRegressor(n_models=10, seed=42)",
}


class ModelSpecError(ValueError):
    """A model expression that driftline will not build."""


def expand(spec: str) -> str:
    """The pipeline expression a preset name stands for, or ``spec`` itself."""
    return PRESETS.get(spec.strip(), spec)


def _river_class(node: ast.expr, spec: str) -> type:
    if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
        raise ModelSpecError(f"{spec!r}: expected module.Class, got {ast.unparse(node)!r}")
    module, name = node.value.id, node.attr
    if module not in ALLOWED_MODULES:
        raise ModelSpecError(
            f"{spec!r}: module {module!r} is not allowed (use one of {', '.join(sorted(ALLOWED_MODULES))})"
        )
    if name.startswith("_"):
        raise ModelSpecError(f"{spec!r}: {module}.{name} is private")
    from river import base  # here, not at the top: the command line loads configurations without River

    cls = getattr(importlib.import_module(f"river.{module}"), name, None)
    if not (isinstance(cls, type) and issubclass(cls, base.Base)):
        raise ModelSpecError(f"{spec!r}: river.{module} has no model class {name!r}")
    return cls


def _build(node: ast.expr, spec: str) -> Any:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _build(node.left, spec) | _build(node.right, spec)
    if isinstance(node, ast.Call):
        cls = _river_class(node.func, spec)
        args = [_argument(a, spec) for a in node.args]
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise ModelSpecError(f"{spec!r}: **kwargs are not allowed")
            kwargs[kw.arg] = _argument(kw.value, spec)
        try:
            return cls(*args, **kwargs)
        except TypeError as e:
            raise ModelSpecError(f"{spec!r}: {cls.__name__}: {e}") from None
    if isinstance(node, ast.Attribute):
        return _river_class(node, spec)()
    raise ModelSpecError(f"{spec!r}: unsupported syntax {ast.unparse(node)!r}")


def _argument(node: ast.expr, spec: str) -> Any:
    if isinstance(node, ast.Call | ast.BinOp | ast.Attribute):
        return _build(node, spec)
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ModelSpecError(f"{spec!r}: argument {ast.unparse(node)!r} is not a literal or a River object") from None


#: Expression -> a fresh model of it, pickled, for the models :func:`build_model` copies (see there).
_FRESH: dict[str, bytes] = {}


def build_model(spec: str) -> Any:
    """A fresh River model for a preset name or pipeline expression.

    Every model key starts with one, so a model whose fresh state is the same each time (every random
    seed set) is built once per expression, readied (a pipeline's execution plan, which River otherwise
    makes at the first event by inspecting each step's signatures), and copied from then on: a copy
    costs a fraction of building and readying. A model with an unset seed is built every time, so
    that each key keeps its own randomness.
    """
    fresh = _FRESH.get(spec)
    if fresh is not None:
        return pickle.loads(fresh)
    expression = expand(spec)
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as e:
        raise ModelSpecError(f"{spec!r}: not a valid expression ({e.msg})") from None
    model = _build(tree.body, spec)
    if _seeded(model._get_params()):
        from river import compose

        if isinstance(model, compose.Pipeline) and hasattr(model, "_build_plan"):
            model._build_plan()  # River's own lazy step, done now: every copy has it made
        with contextlib.suppress(pickle.PicklingError, TypeError, AttributeError):  # else built every time
            _FRESH[spec] = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    return model


def _seeded(params: Any) -> bool:
    """Whether no ``seed`` among River parameters (nested ``(class, params)`` pairs too) is left unset."""
    if isinstance(params, dict):
        return all(not (name == "seed" and value is None) and _seeded(value) for name, value in params.items())
    if isinstance(params, tuple | list):
        return all(_seeded(value) for value in params)
    return True


def check_model_expression(spec: str) -> None:
    """Raise :class:`ModelSpecError` unless ``spec`` builds a River model."""
    build_model(spec)
