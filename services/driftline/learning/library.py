"""A model key's library of past models, recalled when their concept comes back instead of learned again.

At each concept drift the model being replaced is kept (:meth:`ModelLibrary.drifted`), up to ``size`` of
them; the least recently kept makes room. The reset serves its model as ever (the background model, or a
fresh one), and a *trial* begins: the next ``window`` labelled events are noted with the served model's
errors on them (:meth:`ModelLibrary.record`, prequential: each predicted before it was learned). When the
window is full, every model of the library is scored on those events and the best serves if it beats the
served model's own score (:meth:`ModelLibrary.recall`): a concept seen before comes back with what was
learned of it, and after a false alarm the replaced model can come back.

Why after the drift and not at it: a detector alarms a few dozen events after a change (ADWIN on
STAGGER: 30-60), so the labelled events before the alarm are mostly the old concept's, and the model that
scores best on them is the one just replaced. A first design scored the last 200 labels at the alarm; on
one seed of ``driftline bench recall``'s STAGGER stream it scored 0.72 and 0.53 after the last two recurrences,
where a warm reset scored 0.90 and 0.88. Outside a trial
nothing is noted: the events of a key's whole life cost one test each.

Pure logic: an entry holds whatever serves (the trainer's candidates, a bench's River model) and the
caller says how one predicts.

>>> library = ModelLibrary(size=2, window=4)
>>> concept_a, concept_b = (lambda x: x > 2), (lambda x: x <= 2)
>>> library.drifted(concept_a, version=1)  # A's model replaced at a drift: a fresh model serves, a trial begins
>>> [library.record(x, x <= 2, wrong=1.0) for x in range(4)]  # B's events; the fresh model got all of them wrong
[False, False, False, True]
>>> library.recall(lambda model, x: model(x)) is None  # A's model does no better on B
True
>>> library.drifted(concept_b, version=2)  # the fresh model learned B; replaced when A comes back
>>> for x in range(4):
...     full = library.record(x, x > 2, wrong=float(x % 2))  # a fresh model again: half of A's events wrong
>>> found = library.recall(lambda model, x: model(x))
>>> found.version, found.item is concept_a, [e.version for e in library.entries], library.trial
(1, True, [2], None)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: A recalled model must beat the served one by this much (0/1 error of a classifier, a share of a regressor's
#: MAE): a tie keeps the model that learned the newest events.
MARGIN = 0.0


@dataclass(slots=True)
class Entry:
    """A model the library keeps: what serves if recalled, and the version it served as."""

    item: Any
    version: int
    #: The library's drift count when it was kept (a recalled model is kept anew when replaced again): the
    #: least recently useful goes first.
    used: int


@dataclass(slots=True)
class ModelLibrary:
    """At most ``size`` past models of one key, and the trial after a drift (see the module's docstring)."""

    size: int
    #: Labelled events after a drift the library is scored on.
    window: int
    regression: bool = False
    entries: list[Entry] = field(default_factory=list)
    #: Drifts this library has seen.
    drifts: int = 0
    #: During a trial, the ``(x, y)`` labelled since the drift; None otherwise.
    trial: list[tuple[Any, Any]] | None = None
    #: The served model's summed loss on the trial's events (0/1 errors, or absolute errors).
    trial_loss: float = 0.0

    def drifted(self, item: Any, version: int) -> Entry | None:
        """Keep the model a drift replaced and begin a trial; returns the entry evicted to make room, if any."""
        self.drifts += 1
        self.entries.append(Entry(item, version, self.drifts))
        self.trial, self.trial_loss = [], 0.0
        return self.trim()

    def trim(self, size: int | None = None, window: int | None = None) -> Entry | None:
        """Drop the least recently kept entries beyond ``size`` (default: the library's); returns the last dropped.

        A new ``window`` applies from the next trial on.
        """
        if size is not None:
            self.size = size
        if window is not None:
            self.window = window
        dropped = None
        while len(self.entries) > self.size:
            dropped = min(self.entries, key=lambda e: e.used)
            self.entries.remove(dropped)
        return dropped

    def record(self, x: Any, y: Any, wrong: float) -> bool:
        """Note one labelled event of the trial and the served model's loss on it; True when the window is full.

        Call only during a trial (``trial`` is not None).
        """
        trial = self.trial
        assert trial is not None
        trial.append((x, y))
        self.trial_loss += wrong
        return len(trial) >= self.window

    def recall(self, predict: Callable[[Any, Any], Any], margin: float = MARGIN) -> Entry | None:
        """End the trial: the entry whose model scores best on it, taken out of the library, if it beats the served.

        ``predict(item, x)``: an entry's prediction. The first of equal scores wins: entries are in the order kept.
        The caller keeps the model the recalled one replaces with :meth:`keep`.
        """
        trial, self.trial = self.trial or [], None
        if not trial or not self.entries:
            return None
        baseline = self.trial_loss / len(trial)  # the served model's, each event predicted before it was learned
        best, best_loss = None, baseline * (1 - margin) if self.regression else baseline - margin
        for entry in self.entries:
            score = loss(lambda x, item=entry.item: predict(item, x), trial, self.regression)
            if score < best_loss:
                best, best_loss = entry, score
        if best is not None:
            self.entries.remove(best)
        return best

    def keep(self, item: Any, version: int) -> Entry | None:
        """Keep a model a recall replaced (no trial begins); returns the entry evicted, if any."""
        self.entries.append(Entry(item, version, self.drifts))
        return self.trim()


def loss(predict: Callable[[Any], Any], events: list[tuple[Any, Any]], regression: bool = False) -> float:
    """``predict``'s loss on ``events``, lower better: its error rate, or a regressor's mean absolute error.

    A prediction of None (a model that learned nothing) is an error, or for a regressor as far off as the label.
    """
    total = 0.0
    for x, y in events:
        p = predict(x)
        if regression:
            total += abs(y - p) if p is not None else abs(y)
        else:
            total += p != y
    return total / len(events) if events else float("inf")


def error(regression: bool, y: Any, prediction: Any) -> float:
    """The served model's loss on one event, as :func:`loss` counts it."""
    if regression:
        return abs(y - prediction) if prediction is not None else abs(y)
    return float(prediction != y)
