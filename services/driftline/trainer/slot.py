"""The models of one model key: a champion, its challengers, a background model, and snapshots."""

from __future__ import annotations

import logging
import pickle
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from river import metrics, utils

from driftline.checkpoint import Signer
from driftline.config import StreamConfig
from driftline.modelspec import build_model
from driftline.tuning import build_tuned, served_name, serving

log = logging.getLogger(__name__)

SNAPSHOTS_KEPT = 3


def _window_metric(task: str, size: int) -> utils.Rolling:
    return utils.Rolling(metrics.MAE if task == "regression" else metrics.Accuracy, window_size=size)


def model_input(x: dict[str, Any]) -> dict[str, float]:
    """Cleaned features as numbers: flags become 0/1, categories one-hot ``name=value`` entries.

    Every River model then accepts every stream, and numeric features pass through untouched.
    """
    encoded: dict[str, float] = {}
    for name, value in x.items():
        if isinstance(value, str):
            encoded[f"{name}={value}"] = 1.0
        elif isinstance(value, bool):
            encoded[name] = 1.0 if value else 0.0
        else:
            encoded[name] = value
    return encoded


@dataclass(slots=True)
class Candidate:
    """One model learning the key's events, with its recent score for champion/challenger."""

    name: str
    model: Any
    #: Only a key with challengers scores its candidates (for promotion); a lone champion keeps none.
    recent: utils.Rolling | None

    def predict(self, x: dict[str, Any], proba: bool) -> tuple[Any, dict[str, float] | None]:
        prediction = self.model.predict_one(x)
        # predict_one and argmax of predict_proba_one can differ (ties, custom predict_one):
        # serve what predict_one says, as River's own evaluation does.
        probabilities = self.model.predict_proba_one(x) if proba else None
        return prediction, probabilities


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

    def __post_init__(self) -> None:
        if not self.candidates:
            self.candidates = self._fresh()

    @property
    def is_classifier(self) -> bool:
        return self.stream.task != "regression"

    def _fresh(self) -> list[Candidate]:
        specs = [self.stream.model, *self.stream.challengers]
        scored = len(specs) > 1
        tuning = self.stream.tuning
        return [
            Candidate(
                name,
                build_tuned(spec, tuning, self.stream.task) if i == 0 and tuning else build_model(spec),
                _window_metric(self.stream.task, self.stream.promote_window) if scored else None,
            )
            for i, (name, spec) in enumerate(zip(_unique_names(specs), specs, strict=True))
        ]

    @property
    def served(self) -> Candidate:
        return self.candidates[self.champion]

    @property
    def serving(self) -> str:
        """The name outcomes carry: the served model's, with the candidate a tuned model serves now in brackets."""
        candidate = serving(self.served.model)
        return self.served.name if candidate is None else served_name(self.served.name, candidate)

    def predict(
        self, x: dict[str, Any], encoded: dict[str, float] | None = None
    ) -> tuple[Any, dict[str, float] | None, dict[str, Any]]:
        """The champion's prediction and probabilities, and every candidate's prediction.

        ``encoded``: ``model_input(x)`` when the caller has it already (it learns from it next).
        The champion's prediction is also under :attr:`serving`, the name its outcome carries.
        """
        x = model_input(x) if encoded is None else encoded
        prediction, proba = self.served.predict(x, proba=self.is_classifier)
        predictions = {self.served.name: prediction, self.serving: prediction}
        for candidate in self.candidates:
            if candidate is not self.served:
                predictions[candidate.name] = candidate.predict(x, proba=False)[0]
        return prediction, proba, predictions

    def learn(
        self, x: dict[str, Any], y: Any, predictions: dict[str, Any], encoded: dict[str, float] | None = None
    ) -> str | None:
        """Teach every candidate (and the background model) one labeled event.

        ``predictions`` are the ones each candidate made before learning, which score it for
        promotion. Returns the name of a newly promoted champion, if any.
        """
        x = model_input(x) if encoded is None else encoded
        for candidate in self.candidates:
            if candidate.recent is not None and predictions.get(candidate.name) is not None:
                candidate.recent.update(y, predictions[candidate.name])
            candidate.model.learn_one(x, y)
        for candidate in self.background or ():
            candidate.model.learn_one(x, y)
        self.learned += 1
        self.since_promotion += 1
        return self._maybe_promote()

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

    def reset(self, mode: str) -> str:
        """Replace the models: ``warm`` swaps in the background model when there is one, else cold."""
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
        taken = {candidate.name for candidate in self.candidates if candidate is not replaced}
        name = next(n for n in (name, *(f"{name}#{i}" for i in range(1, len(taken) + 2))) if n not in taken)
        scored = len(self.candidates) > 1 or role == "challenger"
        window = _window_metric(self.stream.task, self.stream.promote_window) if scored else None
        if role == "champion":
            self.candidates[self.champion] = Candidate(name, model, window)
            self.background = None
            self.learned = learned
            self.version += 1
        else:
            for candidate in self.candidates:
                if candidate.recent is None:  # a lone champion kept no score: from now on it competes
                    candidate.recent = _window_metric(self.stream.task, self.stream.promote_window)
            self.candidates.append(Candidate(name, model, window))
        self.since_promotion = 0
        return name

    # Snapshots: signed pickles on local disk, newest kept few.

    def _folder(self, root: Path) -> Path:
        return root / re.sub(r"[^A-Za-z0-9_.-]", "_", self.key)

    def snapshot(self, root: Path, signer: Signer) -> Path:
        folder = self._folder(root)
        folder.mkdir(parents=True, exist_ok=True)
        # Named by time first: the newest sorts last even when versions restarted elsewhere.
        path = folder / f"{time.time_ns():020d}-v{self.version:05d}-{self.learned:012d}.pkl"
        state = {"candidates": self.candidates, "champion": self.champion, "learned": self.learned}
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
        state = pickle.loads(signer.open_blob(path.read_bytes(), str(path)))
        self.candidates, self.champion, self.learned = state["candidates"], state["champion"], state["learned"]
        self.background = None
        self.since_promotion = 0
        self.version += 1
        return path
