"""Which events' labels to ask for under a label budget, and the requests still open.

The rule is the randomized variable-uncertainty strategy of Žliobaitė, Bifet, Pfahringer and
Holmes, "Active Learning With Drifting Streaming Data" (IEEE TNNLS 25(1), 2014), per model key:

* an event's *confidence* is its model's probability of the predicted class
  (:func:`~driftline.labels.confidence_of`; none: 0, so the budget alone paces a model without
  probabilities);
* spending is an exponentially weighted share of recent events whose label was asked for
  (``window`` events), starting at the budget; while it is at or above the budget nothing is asked;
* otherwise the label is asked for when the confidence is below a threshold ``theta`` times a
  random factor drawn from N(1, ``spread``). Asking tightens ``theta`` by the ``step``, not asking
  loosens it, so ``theta`` follows the confidences the model currently has and the share asked for
  stays near the budget whatever they are. The random factor now and then asks about an event the
  model is sure of: without it, a change where the model is confidently wrong would never be seen.

The random draws come from a generator seeded by the model key, kept in the checkpoint with the
rest, so the same events in the same order are asked for the same way after a restart.
"""

from __future__ import annotations

import random
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from driftline.contracts import LabelRequest

#: Events over which spending is averaged.
SPENDING_WINDOW = 1000
#: Relative change of the threshold per event.
THRESHOLD_STEP = 0.01
#: Standard deviation of the threshold's random factor.
THRESHOLD_SPREAD = 1.0


class BudgetedUncertainty:
    """Decides, event by event, whether to ask for its label; asks for about ``budget`` of the events."""

    def __init__(
        self,
        budget: float,
        seed: int | str = 0,
        window: int = SPENDING_WINDOW,
        step: float = THRESHOLD_STEP,
        spread: float = THRESHOLD_SPREAD,
    ) -> None:
        if not 0 < budget <= 1:
            raise ValueError(f"label budget must be in (0, 1], got {budget}")
        self.budget = budget
        self.window = window
        self.step = step
        self.spread = spread
        self.threshold = 1.0
        # Starting at the budget rather than 0 keeps the first events from being all asked for.
        self._spent = budget * window
        self._rng = random.Random(zlib.crc32(seed.encode()) if isinstance(seed, str) else seed)
        self.seen = 0
        self.asked = 0

    @property
    def spending(self) -> float:
        """The recent share of events asked for."""
        return self._spent / self.window

    def ask(self, confidence: float | None) -> bool:
        """Whether to ask for the label of an event its model predicted with ``confidence``."""
        asked = False
        if self.spending < self.budget:
            factor = self._rng.gauss(1.0, self.spread)
            if (0.0 if confidence is None else confidence) < self.threshold * factor:
                asked = True
                self.threshold *= 1 - self.step
            else:
                self.threshold *= 1 + self.step
        self._spent = self._spent * (1 - 1 / self.window) + asked
        self.seen += 1
        self.asked += asked
        return asked


class OpenRequests:
    """The label requests of one model key that no label answered yet, oldest first, at most ``capacity``."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, LabelRequest] = OrderedDict()

    def add(self, ident: str, request: LabelRequest) -> None:
        self._items[ident] = request
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

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
