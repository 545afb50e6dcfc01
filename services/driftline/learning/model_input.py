"""A model key's cleaned features as its models learn them: numbers as they are, text one-hot or as it is.

>>> inputs = ModelInput()
>>> inputs.encode({"temperature": 21.5, "mode": "eco"}).numbers
{'temperature': 21.5, 'mode=eco': 1.0}
>>> inputs.encode({"temperature": 20.0, "mode": "boost"}).numbers
{'temperature': 20.0, 'mode=eco': 0.0, 'mode=boost': 1.0}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from river import forest, tree
from river.model_selection.base import ModelSelector

log = logging.getLogger(__name__)

#: Models fed text features as they are: River's Hoeffding tree classifiers (HoeffdingAdaptiveTree and
#: ExtremelyFastDecisionTree among them) and adaptive random forest split on a text value natively, each value a
#: branch of one split. Any other model, a pipeline around one of these too, gets text one-hot.
TEXT_MODELS: tuple[type, ...] = (tree.HoeffdingTreeClassifier, forest.ARFClassifier)
#: Distinct values of one text feature a model key one-hot encodes: a later new value is left out of the
#: one-hot encoding, as a missing value is (a feature with more values names things rather than sorts them,
#: and each value costs every later event an entry).
MAX_LEVELS = 100


def takes_text(model: Any) -> bool:
    """Whether ``model`` learns from text features as they are (see :data:`TEXT_MODELS`).

    A tuned model (River's model selector) does when all its candidates do.
    """
    # By type: River's isinstance answers for a pipeline's last step, and a scaler in front would choke on text.
    if issubclass(type(model), ModelSelector):
        return all(takes_text(candidate) for candidate in model.models)
    return issubclass(type(model), TEXT_MODELS)


class Encoded(NamedTuple):
    """One event's cleaned features as the models learn them (see :class:`ModelInput`)."""

    #: Text one-hot: what every model gets, but those that take text.
    numbers: dict[str, Any]
    #: Text as it is, for the models that take it; the same dict as ``numbers`` when no feature is text.
    text: dict[str, Any]


@dataclass(slots=True)
class _Levels:
    """The values of one text feature seen so far, and their one-hot entries."""

    #: value -> its entry, ``name=value``, in the order first seen.
    entries: dict[str, str] = field(default_factory=dict)
    #: Every entry at 0.0: an event's own value then sets its entry to 1.0.
    zeros: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class ModelInput:
    """A model key's cleaned features as its models learn them: numbers untouched, flags 0/1, text by model.

    Trees that split on text themselves (:func:`takes_text`) get it as it is. Every other model gets it
    one-hot: one ``name=value`` entry per value of the feature seen so far, 1.0 for the event's value and 0.0
    for the others, so a StandardScaler sees each entry vary instead of a lone 1.0 it would scale to 0. The
    values seen are the key's state, kept beside its models and in its checkpoints; a feature keeps its first
    :data:`MAX_LEVELS` values, and a later new one is left out of the one-hot entries, like a missing value.
    """

    levels: dict[str, _Levels] = field(default_factory=dict)

    def encode(self, x: dict[str, Any], learn: bool = True) -> Encoded:
        """``x`` for each kind of model; ``learn=False`` (serving) leaves a value never seen out, adding none."""
        text: dict[str, Any] = {}
        texts: list[str] | None = None
        for name, value in x.items():
            if value.__class__ is float:  # cleaning makes every number a float: the common case first
                text[name] = value
            elif isinstance(value, str):
                text[name] = value
                if texts is None:
                    texts = [name]
                else:
                    texts.append(name)
            elif isinstance(value, bool):
                text[name] = 1.0 if value else 0.0
            else:
                text[name] = value
        if texts is None:
            return Encoded(text, text)
        numbers = text.copy()
        for name in texts:
            value = numbers.pop(name)
            levels = self.levels.get(name)
            entry = None if levels is None else levels.entries.get(value)
            if entry is None:
                if not learn or (levels is not None and len(levels.entries) >= MAX_LEVELS):
                    continue
                if levels is None:
                    levels = self.levels[name] = _Levels()
                entry = levels.entries[value] = f"{name}={value}"
                levels.zeros[entry] = 0.0
                if len(levels.entries) == MAX_LEVELS:
                    log.warning("text feature %r has %d values: new ones are left out of its one-hot", name, MAX_LEVELS)
            numbers.update(levels.zeros)
            numbers[entry] = 1.0
        return Encoded(numbers, text)
