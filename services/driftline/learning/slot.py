"""The models of one model key: a champion, its challengers, a background model, and snapshots."""

from __future__ import annotations

import logging
import pickle
import re
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from river import metrics, utils

from driftline.checkpoint import Signer, load_state
from driftline.config.streams import StreamConfig
from driftline.learning.candidate import Candidate, restore_fields
from driftline.learning.library import ModelLibrary, error
from driftline.learning.model_input import Encoded, ModelInput
from driftline.modelspec import build_model
from driftline.tuning import build_tuned, served_name, serving

log = logging.getLogger(__name__)

SNAPSHOTS_KEPT = 3
#: What :meth:`ModelSlot.learn` returns when a model of the key's library came back to serve (else a promoted
#: champion's name, or None).
RECALLED = "(recalled)"


def _window_metric(task: str, size: int) -> utils.Rolling:
    return utils.Rolling(metrics.MAE if task == "regression" else metrics.Accuracy, window_size=size)


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
        restore_fields(self, state)

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
