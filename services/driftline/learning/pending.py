"""Predictions waiting for their label, bounded in time and count."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


def event_ident(device_id: str, event_id: str) -> str:
    """Event ids are unique per device only, so a model key shared by devices needs both."""
    return f"{device_id}/{event_id}"


@dataclass(slots=True)
class Pending:
    """What the trainer needs to learn from an event once its label arrives."""

    event_id: str
    device_id: str
    features: dict[str, Any]
    event_ts: datetime
    predictions: dict[str, Any]  # candidate name -> its prediction, the champion's included
    proba: dict[str, float] | None
    model_name: str
    model_version: int
    holdout: bool
    steps: list[str]


class PendingLabels:
    """Events of one model key waiting for labels, oldest first.

    An event waits at most ``ttl`` of event time (measured against the newest event added) and at
    most ``capacity`` events wait; whatever falls out is counted as expired.
    """

    def __init__(self, ttl_s: float, capacity: int) -> None:
        self.ttl = timedelta(seconds=ttl_s)
        self.capacity = capacity
        self._items: OrderedDict[str, Pending] = OrderedDict()
        self.expired = 0

    def add(self, item: Pending) -> int:
        """Store ``item``; return how many older items expired to make room or by age."""
        self._items[event_ident(item.device_id, item.event_id)] = item
        before = self.expired
        horizon = item.event_ts - self.ttl
        while self._items:
            oldest = next(iter(self._items.values()))
            if len(self._items) > self.capacity or oldest.event_ts < horizon:
                self._items.popitem(last=False)
                self.expired += 1
            else:
                break
        return self.expired - before

    def pop(self, device_id: str, event_id: str) -> Pending | None:
        return self._items.pop(event_ident(device_id, event_id), None)

    def get(self, ident: str) -> Pending | None:
        """The prediction waiting under ``ident`` (:func:`event_ident`), if it still waits."""
        return self._items.get(ident)

    def __contains__(self, ident: object) -> bool:
        """Whether the event of ``ident`` (:func:`event_ident`) still waits for its label."""
        return ident in self._items

    def __len__(self) -> int:
        return len(self._items)
