"""The models of one model key: a champion, its challengers, a background model, and snapshots."""

from __future__ import annotations

import logging
import pickle
import re
import time
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from river import base, compose, forest, metrics, tree, utils
from river.model_selection.base import ModelSelector

from driftline.checkpoint import Signer, load_state
from driftline.config.streams import StreamConfig
from driftline.learning.library import ModelLibrary, error
from driftline.modelspec import build_model
from driftline.tuning import build_tuned, served_name, serving

log = logging.getLogger(__name__)

SNAPSHOTS_KEPT = 3
#: A candidate's timing covers its last 1x to 2x this many calls: at twice as many, the sums halve.
TIMING_WINDOW = 1000
#: Every this many calls one is timed: reading the clock twice is not free beside a quick predict_one.
TIMING_SAMPLE = 4
#: What :meth:`ModelSlot.learn` returns when a model of the key's library came back to serve (else a promoted
#: champion's name, or None).
RECALLED = "(recalled)"


def _restore_fields(obj: Any, state: list[Any]) -> None:
    """Set a slots dataclass from its pickled field values; fields newer than the pickle take their defaults.

    A checkpoint written before a field existed then restores, instead of leaving the field unset.
    """
    for f, value in zip(fields(obj), [*state, *[MISSING] * len(fields(obj))], strict=False):
        if value is MISSING:
            value = f.default_factory() if f.default_factory is not MISSING else f.default
        object.__setattr__(obj, f.name, value)


def _window_metric(task: str, size: int) -> utils.Rolling:
    return utils.Rolling(metrics.MAE if task == "regression" else metrics.Accuracy, window_size=size)


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


def predicts_by_argmax(model: Any) -> bool:
    """Whether ``model.predict_one(x)`` is the argmax of ``model.predict_proba_one(x)``, by River's own code.

    River's :meth:`river.base.Classifier.predict_one` is exactly that, and a pipeline passes both calls to its
    last step after the same transforms. Where it holds, one ``predict_proba_one`` gives the prediction and its
    probabilities, the same as the two calls would; a model with its own ``predict_one`` is asked both.
    """
    final = model
    if isinstance(model, compose.Pipeline):
        kind = type(model)
        if kind.predict_one is not compose.Pipeline.predict_one or (
            kind.predict_proba_one is not compose.Pipeline.predict_proba_one
        ):
            return False
        final = list(model.steps.values())[-1]
    return getattr(type(final), "predict_one", None) is base.Classifier.predict_one


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


@dataclass(slots=True)
class Candidate:
    """One model learning the key's events, with its recent score for champion/challenger."""

    name: str
    model: Any
    #: Only a key with challengers scores its candidates (for promotion); a lone champion keeps none.
    recent: utils.Rolling | None
    #: Nanoseconds spent in the timed calls of ``predict_one`` and ``learn_one`` (every
    #: :data:`TIMING_SAMPLE`-th of the calls counted beside them, over the last :data:`TIMING_WINDOW`
    #: to twice that): what this model costs per event, next to what ``recent`` says it buys.
    predict_ns: int = 0
    predicts: int = 0
    learn_ns: int = 0
    learns: int = 0
    #: The model gets text features as they are (:func:`takes_text`), not one-hot: decided by the model, at
    #: construction and again when a checkpoint restores it.
    takes_text: bool = field(init=False, default=False)
    #: Its prediction is the argmax of its probabilities (:func:`predicts_by_argmax`): one call gives both.
    argmax: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.takes_text = takes_text(self.model)
        self.argmax = predicts_by_argmax(self.model)

    def __getstate__(self) -> list[Any]:
        return [getattr(self, f.name) for f in fields(self)]

    def __setstate__(self, state: list[Any]) -> None:
        _restore_fields(self, state)
        self.takes_text = takes_text(self.model)
        self.argmax = predicts_by_argmax(self.model)

    def features(self, encoded: Encoded) -> dict[str, Any]:
        """The event's features as this model learns them."""
        return encoded.text if self.takes_text else encoded.numbers

    def predict(self, encoded: Encoded, proba: bool) -> tuple[Any, dict[str, float] | None]:
        x = encoded.text if self.takes_text else encoded.numbers  # self.features(encoded), inline: per event
        # With probabilities asked of an argmax model, one call gives both: its predict_one would compute the
        # same probabilities again. That call is what gets timed then, as predict_one is otherwise: they cost
        # the same.
        call = self.model.predict_proba_one if proba and self.argmax else self.model.predict_one
        self.predicts += 1
        if self.predicts % TIMING_SAMPLE:
            answer = call(x)
        else:
            began = time.perf_counter_ns()
            answer = call(x)
            self.predict_ns += time.perf_counter_ns() - began
            if self.predicts >= 2 * TIMING_WINDOW:
                self.predict_ns, self.predicts = self.predict_ns // 2, self.predicts // 2
        if not proba:
            return answer, None
        if self.argmax:
            return (max(answer, key=answer.get) if answer else None), answer
        # predict_one and argmax of predict_proba_one can differ (ties, custom predict_one):
        # serve what predict_one says, as River's own evaluation does.
        return answer, self.model.predict_proba_one(x)

    def learn(self, encoded: Encoded, y: Any) -> None:
        x = encoded.text if self.takes_text else encoded.numbers  # self.features(encoded), inline: per event
        self.learns += 1
        if self.learns % TIMING_SAMPLE:
            self.model.learn_one(x, y)
            return
        began = time.perf_counter_ns()
        self.model.learn_one(x, y)
        self.learn_ns += time.perf_counter_ns() - began
        if self.learns >= 2 * TIMING_WINDOW:
            self.learn_ns, self.learns = self.learn_ns // 2, self.learns // 2

    @property
    def predicts_timed(self) -> int:
        return self.predicts // TIMING_SAMPLE

    @property
    def learns_timed(self) -> int:
        return self.learns // TIMING_SAMPLE

    @property
    def predict_us(self) -> float | None:
        """Mean microseconds per ``predict_one`` over its recent timed calls; None before the first."""
        return self.predict_ns / self.predicts_timed / 1000 if self.predicts_timed else None

    @property
    def learn_us(self) -> float | None:
        """Mean microseconds per ``learn_one`` over its recent timed calls; None before the first."""
        return self.learn_ns / self.learns_timed / 1000 if self.learns_timed else None

    @property
    def score(self) -> float | None:
        """The rolling score (accuracy, or MAE for regression) of its recent labelled predictions, if kept."""
        return self.recent.get() if self.recent is not None and len(self.recent.window) else None


def _free_name(name: str, taken: list[str] | set[str]) -> str:
    """``name``, or ``name#1``, ``name#2``... the first not taken."""
    return next(n for n in (name, *(f"{name}#{i}" for i in range(1, len(taken) + 2))) if n not in taken)


def _unique_names(specs: list[str]) -> list[str]:
    names: list[str] = []
    for spec in specs:
        name = spec if spec not in names else f"{spec}#{len(names)}"
        names.append(name)
    return names


@dataclass(slots=True)
class ModelSlot:
    """Everything the trainer holds for one model key.

    ``version`` starts at 1 and goes up whenever the served model is replaced by a command
    (reset or rollback), so outcomes and the monitor can tell one model's life from the next.
    """

    key: str
    stream: StreamConfig
    version: int = 1
    candidates: list[Candidate] = field(default_factory=list)
    champion: int = 0
    background: list[Candidate] | None = None
    learned: int = 0
    since_promotion: int = 0
    #: Challengers added by command (``add_challenger``), name -> spec: resets rebuild them beside
    #: the configured ones, so they stay until removed by command.
    added: dict[str, str] = field(default_factory=dict)
    #: The text values its models have seen one-hot; outlives resets and rollbacks, as the values stay known.
    inputs: ModelInput = field(default_factory=ModelInput)
    #: Past models kept to recall when their concept comes back (``drift.library``); None before the first drift.
    library: ModelLibrary | None = None
    #: The version the served model had when a drift replaced it, if it was recalled from the library since.
    recalled_from: int | None = None

    def __post_init__(self) -> None:
        if not self.candidates:
            self.candidates = self._fresh()

    def __getstate__(self) -> list[Any]:
        return [getattr(self, f.name) for f in fields(self)]

    def __setstate__(self, state: list[Any]) -> None:
        _restore_fields(self, state)

    @property
    def is_classifier(self) -> bool:
        return self.stream.task != "regression"

    def _fresh(self) -> list[Candidate]:
        specs = [self.stream.model, *self.stream.challengers]
        names = _unique_names(specs)
        for name, spec in self.added.items():
            names.append(_free_name(name, names))
            specs.append(spec)
        scored = len(specs) > 1
        tuning = self.stream.tuning
        return [
            Candidate(
                name,
                build_tuned(spec, tuning, self.stream.task) if i == 0 and tuning else build_model(spec),
                _window_metric(self.stream.task, self.stream.promote_window) if scored else None,
            )
            for i, (name, spec) in enumerate(zip(names, specs, strict=True))
        ]

    @property
    def served(self) -> Candidate:
        return self.candidates[self.champion]

    @property
    def serving(self) -> str:
        """The name outcomes carry: the served model's, with the candidate a tuned model serves now in brackets."""
        if self.stream.tuning is None:  # read twice per event: the common case costs no lookup in the model
            return self.served.name
        candidate = serving(self.served.model)
        return self.served.name if candidate is None else served_name(self.served.name, candidate)

    def predict(
        self, x: dict[str, Any], encoded: Encoded | None = None
    ) -> tuple[Any, dict[str, float] | None, dict[str, Any]]:
        """The champion's prediction and probabilities, and every candidate's prediction.

        ``encoded``: ``self.inputs.encode(x)`` when the caller has it already (it learns from it next);
        without it ``x`` is encoded learning nothing, as for serving. The champion's prediction is also
        under :attr:`serving`, the name its outcome carries.
        """
        encoded = self.inputs.encode(x, learn=False) if encoded is None else encoded
        candidates = self.candidates
        served = candidates[self.champion]
        prediction, proba = served.predict(encoded, proba=self.stream.task != "regression")
        predictions = {served.name: prediction}
        if self.stream.tuning is not None:
            predictions[self.serving] = prediction
        if len(candidates) > 1:
            for candidate in candidates:
                if candidate is not served:
                    predictions[candidate.name] = candidate.predict(encoded, proba=False)[0]
        return prediction, proba, predictions

    def learn(
        self, x: dict[str, Any], y: Any, predictions: dict[str, Any], encoded: Encoded | None = None
    ) -> str | None:
        """Teach every candidate (and the background model) one labeled event.

        ``predictions`` are the ones each candidate made before learning, which score it for
        promotion; ``encoded`` as for :meth:`predict`, else ``x`` is encoded here. Returns the name
        of a newly promoted champion, if any.
        """
        encoded = self.inputs.encode(x) if encoded is None else encoded
        for candidate in self.candidates:
            recent = candidate.recent
            if recent is not None and predictions.get(candidate.name) is not None:
                recent.update(y, predictions[candidate.name])
            candidate.learn(encoded, y)
        if self.background:
            for candidate in self.background:
                candidate.model.learn_one(candidate.features(encoded), y)
        self.learned += 1
        self.since_promotion += 1
        library = self.library
        if library is not None and library.trial is not None:  # after a drift only: one test per event otherwise
            served = predictions.get(self.served.name)
            # A label of an event the reset's model never predicted says nothing of it: left out of the trial.
            full = served is not None and library.record(encoded, y, error(not self.is_classifier, y, served))
            if full and self._recall(library):
                return RECALLED
        return self._maybe_promote() if len(self.candidates) > 1 else None

    def _recall(self, library: ModelLibrary) -> bool:
        """End the trial after a drift: the library's best model serves (a new version) if it beat the served."""

        def predict(item: tuple[list[Candidate], int], encoded: Encoded) -> Any:
            served = item[0][item[1]]
            return served.model.predict_one(served.features(encoded))

        entry = library.recall(predict)
        if entry is None:
            return False
        library.keep((self.candidates, self.champion), self.version)
        log.info("%s: v%d recalled from the library replaces v%d", self.key, entry.version, self.version)
        self.candidates, self.champion = entry.item
        self.background = None
        self.since_promotion = 0
        self.version += 1
        self.recalled_from = entry.version
        return True

    def _maybe_promote(self) -> str | None:
        if len(self.candidates) < 2 or self.since_promotion < self.stream.promote_window:
            return None
        if any(candidate.recent is None for candidate in self.candidates):
            return None  # restored from a config without challengers: nothing scored yet
        champion = self.served.recent.get()  # type: ignore[union-attr]
        margin = self.stream.promote_margin
        best, best_score = self.champion, champion
        for i, candidate in enumerate(self.candidates):
            score = candidate.recent.get()  # type: ignore[union-attr]
            # Accuracy must rise by the margin; MAE must fall by that fraction.
            better = score > best_score + margin if self.is_classifier else score < best_score * (1 - margin)
            if i != self.champion and better:
                best, best_score = i, score
        if best == self.champion:
            return None
        log.info(
            "%s: challenger %s (%.4f) replaces champion %s (%.4f)",
            self.key, self.candidates[best].name, best_score, self.served.name, champion,
        )  # fmt: skip
        self.champion = best
        self.since_promotion = 0
        return self.served.name

    def start_background(self) -> bool:
        """Begin training a fresh model beside the served one (on a drift warning); False if one runs."""
        if self.background is not None:
            return False
        self.background = self._fresh()
        return True

    def drifted(self, mode: str) -> str:
        """A concept drift's :meth:`reset`; with a library (``drift.library``), the replaced models are kept in it
        and a trial begins: after ``drift.recall_window`` labels the best of them may serve again."""
        replaced, version = (self.candidates, self.champion), self.version
        applied = self.reset(mode)
        spec = self.stream.drift
        if not spec.library:
            self.library = None
            return applied
        if self.library is None:
            self.library = ModelLibrary(spec.library, spec.recall_window, regression=not self.is_classifier)
        else:  # the running config decides, as for promotion
            self.library.trim(spec.library, spec.recall_window)
        self.library.drifted(replaced, version)
        return applied

    def _replaced(self) -> None:
        """The served model is replaced (reset, rollback, import): a trial of the library judged it, and ends."""
        self.recalled_from = None
        if self.library is not None:
            self.library.trial = None

    def reset(self, mode: str) -> str:
        """Replace the models: ``warm`` swaps in the background model when there is one, else cold."""
        self._replaced()
        applied = "cold"
        if mode == "warm" and self.background is not None:
            self.candidates, applied = self.background, "warm"
        else:
            self.candidates = self._fresh()
        self.background = None
        self.champion = 0
        self.since_promotion = 0
        self.version += 1
        return applied

    def install(self, name: str, model: Any, role: str, learned: int) -> str:
        """Take in an imported model; returns the name it learns under.

        ``champion``: it replaces the served model (a new version, as after a reset; ``learned``
        is then the imported model's count). ``challenger``: it joins the candidates, scored and
        promoted like a configured challenger, and the served model stays as it is.
        """
        replaced = self.served if role == "champion" else None
        name = _free_name(name, {candidate.name for candidate in self.candidates if candidate is not replaced})
        scored = len(self.candidates) > 1 or role == "challenger"
        window = self._window() if scored else None
        if role == "champion":
            self._replaced()
            self.candidates[self.champion] = Candidate(name, model, window)
            self.background = None
            self.learned = learned
            self.version += 1
        else:
            self._compete()
            self.candidates.append(Candidate(name, model, window))
        self.since_promotion = 0
        return name

    def _compete(self) -> None:
        for candidate in self.candidates:
            if candidate.recent is None:  # a lone champion kept no score: from now on it competes
                candidate.recent = self._window()

    def _window(self) -> utils.Rolling:
        return _window_metric(self.stream.task, self.stream.promote_window)

    def add_challenger(self, spec: str, name: str | None = None) -> str:
        """A fresh model of ``spec`` joins the candidates from this event on, scored and promoted like a
        configured challenger; kept in :attr:`added`, so a reset rebuilds it. Returns its name.

        Raises :class:`~driftline.modelspec.ModelSpecError` for a spec that builds no model, and
        ValueError for a name a candidate has already.
        """
        name = name or spec
        if name in {candidate.name for candidate in self.candidates} or name in self.added:
            raise ValueError(f"{self.key} has a candidate named {name!r} already")
        model = build_model(spec)
        self._compete()
        self.candidates.append(Candidate(name, model, self._window()))
        if self.background is not None:  # a warm reset keeps it too
            self.background.append(Candidate(name, build_model(spec), self._window()))
        self.added[name] = spec
        return name

    def remove_challenger(self, name: str) -> None:
        """Drop a challenger added by command (ValueError for another name, or while it is served)."""
        if name not in self.added:
            added = ", ".join(self.added) or "none"
            raise ValueError(f"{self.key} has no challenger {name!r} added by command (added: {added})")
        if self.served.name == name:
            raise ValueError(f"{self.key}: {name!r} is the served model now; reset the key or promote another first")
        served = self.served
        self.candidates = [candidate for candidate in self.candidates if candidate.name != name]
        self.champion = self.candidates.index(served)
        if self.background is not None:
            self.background = [candidate for candidate in self.background if candidate.name != name]
        del self.added[name]

    # Snapshots: signed pickles on local disk, newest kept few.

    def _folder(self, root: Path) -> Path:
        return root / re.sub(r"[^A-Za-z0-9_.-]", "_", self.key)

    def snapshot(self, root: Path, signer: Signer) -> Path:
        folder = self._folder(root)
        folder.mkdir(parents=True, exist_ok=True)
        # Named by time first: the newest sorts last even when versions restarted elsewhere.
        path = folder / f"{time.time_ns():020d}-v{self.version:05d}-{self.learned:012d}.pkl"
        state = {"candidates": self.candidates, "champion": self.champion, "learned": self.learned, "added": self.added}
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(signer.sign_blob(pickle.dumps(state)))
        tmp.replace(path)  # a crash mid-write never leaves a half snapshot behind
        for old in sorted(folder.glob("*.pkl"))[:-SNAPSHOTS_KEPT]:
            old.unlink()
        return path

    def latest_snapshot(self, root: Path) -> Path | None:
        snapshots = sorted(self._folder(root).glob("*.pkl"))
        return snapshots[-1] if snapshots else None

    def rollback(self, root: Path, signer: Signer) -> Path | None:
        """Serve the newest snapshot again (a new version); None when there is no snapshot.

        Raises :class:`~driftline.checkpoint.CheckpointError` for a snapshot whose signature does not match.
        """
        path = self.latest_snapshot(root)
        if path is None:
            return None
        state = load_state(signer.open_blob(path.read_bytes(), str(path)))
        self._replaced()
        self.candidates, self.champion, self.learned = state["candidates"], state["champion"], state["learned"]
        self.added = state.get("added", {})  # the challengers added by command then
        self.background = None
        self.since_promotion = 0
        self.version += 1
        return path
