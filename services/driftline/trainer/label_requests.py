"""Which events' labels to ask for under a label budget, and the requests still open.

The rule, per model key, is uncertainty sampling with a budget:

* an event's *confidence* is its model's probability of the predicted class
  (:func:`~driftline.rules.labels.confidence_of`);
* a threshold tracks the ``(1 - explore) * budget`` quantile of the model's recent confidences by
  stochastic approximation (after each event it rises by ``step * target`` if the confidence was
  above it, falls by ``step * (1 - target)`` if not), so it follows the model as it grows surer or
  less sure, with O(1) memory per model key;
* an event is asked about when its confidence is at or below the threshold, or, with probability
  ``explore * budget``, at random: the model's least sure events teach it the most, and the random
  share now and then asks about an event it is sure of, without which a change where the model is
  confidently wrong would never be seen (Žliobaitė et al., "Active Learning With Drifting
  Streaming Data", IEEE TNNLS 2014, randomize for the same reason);
* a token bucket caps it all: every event adds ``budget`` of a label to it, up to ``budget *
  window`` labels (at least 2) saved for a burst of unsure events (after a change, say), and a question costs one
  label; without a whole label in the bucket nothing is asked. So from the start, at most
  ``budget * n`` of the first ``n`` events are asked about, and at most ``budget * n`` plus the
  bucket's size of any ``n`` in a row, whatever the confidences do. When the model's confidences all rise at once
  (or sit on one value, as a young tree's single leaf gives them), the threshold needs a while
  (about ``1 / (step * budget)`` events) to follow; meanwhile a full bucket asks about the next
  event whatever its confidence, so the budget is spent rather than lost. A model without
  probabilities is asked about as often as the bucket allows: the budget alone paces it. A budget
  of 1 asks about every event.

The random draws come from a generator seeded by the model key, kept in the checkpoint with the
rest, so the same events in the same order are asked about the same way after a restart.

:class:`LabelAsking` is the trainer's side of it, a part of :class:`~driftline.trainer.core.TrainerCore`:
which request an outcome makes, and the requests of a stream still open.
"""

from __future__ import annotations

import random
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from driftline.contracts import LabelRequest, OutcomeRecord
from driftline.learning.holdout import is_holdout
from driftline.learning.pending import event_ident
from driftline.rules.keys import stream_of
from driftline.rules.labels import confidence_of

if TYPE_CHECKING:
    import threading

    from driftline.config.streams import StreamConfig
    from driftline.trainer.core import KeyState
    from driftline.trainer.metrics import TrainerMetrics

#: Events whose share of the budget may be saved up for a burst.
SAVING_WINDOW = 1000
#: How far the threshold moves per event (in probability, scaled as above).
THRESHOLD_STEP = 0.01
#: Share of the budget spent on events chosen at random rather than by confidence.
EXPLORE = 0.1


class BudgetedUncertainty:
    """Decides, event by event, whether to ask for its label; asks about at most ``budget`` of the events."""

    def __init__(
        self,
        budget: float,
        seed: int | str = 0,
        window: int = SAVING_WINDOW,
        step: float = THRESHOLD_STEP,
        explore: float = EXPLORE,
    ) -> None:
        if not 0 < budget <= 1:
            raise ValueError(f"label budget must be in (0, 1], got {budget}")
        if not 0 <= explore <= 1:
            raise ValueError(f"explore must be in [0, 1], got {explore}")
        self.budget = budget
        self.window = window
        self.step = step
        self.explore = explore
        self.target = (1 - explore) * budget
        self.threshold = 1.0
        self.saved_cap = max(2.0, budget * window)
        self.saved = 0.0
        self._rng = random.Random(zlib.crc32(seed.encode()) if isinstance(seed, str) else seed)
        self.seen = 0
        self.asked = 0

    def ask(self, confidence: float | None) -> bool:
        """Whether to ask for the label of an event its model predicted with ``confidence`` (None: unknown)."""
        unsure = confidence is None or confidence <= self.threshold
        # Drawn for every event, asked or not, so one decision never shifts the draws of the next.
        chance = self._rng.random() < self.explore * self.budget
        self.saved = min(self.saved_cap, self.saved + self.budget)
        # A whole label, with room for the rounding of the budget's sum (0.1 ten times is not 1.0).
        # A full bucket would waste what the next event adds: that event is asked about, sure or not.
        full = self.saved >= self.saved_cap - 1e-9
        # A budget of 1 asks about every event: nothing to choose.
        asked = self.budget >= 1 or (self.saved >= 1 - 1e-9 and (unsure or chance or full))
        if asked:
            self.saved -= 1
        if confidence is not None:
            self.threshold += self.step * (self.target - unsure)
        self.seen += 1
        self.asked += asked
        return asked


class OpenRequests:
    """The label requests of one model key that no label answered yet, oldest first, at most ``capacity``."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, LabelRequest] = OrderedDict()

    def add(self, ident: str, request: LabelRequest, waiting: Any) -> None:
        """Keep ``request``; forget the oldest ones whose prediction no longer waits (``ident in waiting``).

        Predictions stop waiting roughly oldest first, so trimming the front keeps the requests
        bounded by the predictions that wait, even when nobody lists them.
        """
        self._items[ident] = request
        while self._items:
            oldest = next(iter(self._items))
            if len(self._items) <= self.capacity and oldest in waiting:
                break
            del self._items[oldest]

    def answered(self, ident: str) -> bool:
        """Forget the request of ``ident``; whether there was one."""
        return self._items.pop(ident, None) is not None

    def prune(self, waiting: Any) -> None:
        """Forget requests whose prediction no longer waits (``ident in waiting`` is false): it expired."""
        for ident in [ident for ident in self._items if ident not in waiting]:
            del self._items[ident]

    def __iter__(self) -> Iterator[LabelRequest]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)


class LabelAsking:
    """Label requests, on the model keys' state of the :class:`~driftline.trainer.core.TrainerCore` it is part of."""

    if TYPE_CHECKING:  # what the TrainerCore holds
        metrics: TrainerMetrics
        keys: dict[str, KeyState]
        lock: threading.RLock

        def _stream(self, name: str) -> StreamConfig: ...

        def wake_stream(self, stream: str | None = None) -> None: ...

    def label_request(self, outcome: OutcomeRecord) -> LabelRequest | None:
        """Ask for the label of the event ``outcome`` just predicted, when its stream has a label budget and
        :class:`~driftline.trainer.label_requests.BudgetedUncertainty` picks it; the request stays open
        (:meth:`open_label_requests`) until a label answers it or the prediction stops waiting.

        Only events that wait for a label are candidates; holdout events are never learned, so never asked about.
        """
        stream = self._stream(outcome.stream)
        if not stream.label_budget or outcome.label is not None:
            return None
        if is_holdout(outcome.event_id, stream.holdout_fraction):
            return None
        ident = event_ident(outcome.device_id, outcome.event_id)
        with self.lock:
            state = self.keys.get(outcome.model_key)
            waiting = state.pending.get(ident) if state is not None else None
            if state is None or waiting is None:
                return None
            if state.asking is None or state.asking.budget != stream.label_budget:
                # Seeded by the model key: the same events in the same order are asked for alike.
                state.asking = BudgetedUncertainty(stream.label_budget, seed=outcome.model_key)
            confidence = confidence_of(outcome.prediction, outcome.proba)
            if not state.asking.ask(confidence):
                return None
            request = LabelRequest(
                request_id=outcome.outcome_id.removesuffix("/p"),
                event_id=outcome.event_id,
                stream=outcome.stream,
                device_id=outcome.device_id,
                model_key=outcome.model_key,
                model_name=outcome.model_name,
                model_version=outcome.model_version,
                prediction=outcome.prediction,
                proba=outcome.proba,
                confidence=confidence,
                features=waiting.features,
                event_ts=outcome.event_ts,
                expires_at=outcome.event_ts + state.pending.ttl,
            )
            if state.requests is None:
                state.requests = OpenRequests(stream.max_pending_labels)
            state.requests.add(ident, request, state.pending)
        self.metrics.label_requests.labels(outcome.stream).inc()
        return request

    def open_label_requests(self, stream: str, limit: int) -> list[LabelRequest]:
        """The oldest ``limit`` label requests of ``stream`` that no label answered and whose prediction still waits."""
        self._stream(stream)
        found: list[LabelRequest] = []
        with self.lock:
            self.wake_stream(stream)
            for key, state in self.keys.items():
                if stream_of(key) != stream or state.requests is None:
                    continue
                state.requests.prune(state.pending)
                found.extend(state.requests)
        return sorted(found, key=lambda r: (r.event_ts, r.request_id))[:limit]
