"""A short memory per model key for the status page: its score over event time, drifts and versions.

Each labelled outcome adds to an open bucket (a sum and a count); every ``every`` labelled outcomes
the bucket becomes one point: event time, accuracy (classification) or mean absolute error
(regression), and the mean label delay. Points and marks (drift detections, model versions) are
kept in fixed-length deques, model keys in an LRU of fixed size, so the memory is bounded and each
outcome costs a few additions. The history is not checkpointed: after a restart the page starts
over, while Prometheus keeps the long record. Each unit of the monitor's state (an outcomes
partition) keeps its own; :class:`HistoryView` shows those of the units a monitor holds as one.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from driftline.monitor.decode import DriftView, OutcomeView

#: Keys per stream the page shows (the most recently active); the rest are counted, not drawn.
MAX_KEYS_SHOWN = 24
#: Orders the keys of every unit's history by when an outcome last touched them.
_TOUCHES = itertools.count()


@dataclass
class KeyHistory:
    """The recent past of one model key."""

    stream: str
    model_key: str
    model_name: str
    task: str
    version: int
    points: deque[tuple[float, float, float | None]]  # (event time, score, mean label delay)
    marks: deque[tuple[float, str, str]]  # (event time, "drift", "data" or "version", what happened)
    labelled: int = 0
    drifts: int = 0  # concept drifts
    data_drifts: int = 0
    last_event_ts: float = float("-inf")
    #: When an outcome last came (a number from :data:`_TOUCHES`): newer keys lead the page.
    touched: int = 0
    _n: int = 0
    _error: float = 0.0
    _delay: float = 0.0
    _delays: int = 0

    def view(self) -> dict[str, Any]:
        points = list(self.points)
        return {
            "model_key": self.model_key,
            "model": self.model_name,
            "version": self.version,
            "labelled": self.labelled,
            "drifts": self.drifts,
            "data_drifts": self.data_drifts,
            "t": [p[0] for p in points],
            "score": [p[1] for p in points],
            "delay": [p[2] for p in points],
            "marks": [{"t": t, "kind": kind, "text": text} for t, kind, text in self.marks],
        }


@dataclass
class History:
    """Bounded per-key histories, fed by :class:`~driftline.monitor.state.MonitorState` under its lock."""

    every: int = 50
    points: int = 240
    marks: int = 60
    max_keys: int = 500
    keys: OrderedDict[str, KeyHistory] = field(default_factory=OrderedDict)

    def seen(self, outcome: OutcomeView, task: str) -> KeyHistory:
        """The key's history; a model version or name newer than the last one seen is marked."""
        key = self.keys.get(outcome.model_key)
        ts = outcome.event_time
        if key is None:
            key = KeyHistory(
                outcome.stream,
                outcome.model_key,
                outcome.model_name,
                task,
                outcome.model_version,
                deque(maxlen=self.points),
                deque(maxlen=self.marks),
            )
            self.keys[outcome.model_key] = key
            while len(self.keys) > self.max_keys:
                self.keys.popitem(last=False)
        else:
            self.keys.move_to_end(outcome.model_key)
        # A late outcome of a replaced model must not make the version look rolled back.
        changed = (outcome.model_name, outcome.model_version) != (key.model_name, key.version)
        if changed and ts >= key.last_event_ts:
            key.model_name, key.version = outcome.model_name, outcome.model_version
            key.marks.append((ts, "version", f"{outcome.model_name} v{outcome.model_version}"))
        key.last_event_ts = max(key.last_event_ts, ts)
        key.touched = next(_TOUCHES)
        return key

    def labelled(self, key: KeyHistory, outcome: OutcomeView, error: float) -> None:
        """Add one labelled outcome's error (0/1, or absolute) and label delay to the open bucket."""
        key.labelled += 1
        key._n += 1
        key._error += error
        if outcome.label_delay_s is not None and outcome.label_delay_s >= 0:
            key._delay += outcome.label_delay_s
            key._delays += 1
        if key._n >= self.every:
            mean_error = key._error / key._n
            score = mean_error if key.task == "regression" else 1.0 - mean_error
            delay = key._delay / key._delays if key._delays else None
            key.points.append((outcome.event_time, score, delay))
            key._n, key._error, key._delay, key._delays = 0, 0.0, 0.0, 0

    def drifted(self, key: KeyHistory, outcome: OutcomeView, event: DriftView) -> None:
        """Mark a drift detection (concept: "drift", a feature's: "data") at its outcome's event time."""
        if event.level != "drift":
            return
        if event.drift_kind == "concept":
            key.drifts += 1
            key.marks.append((outcome.event_time, "drift", f"concept drift ({event.detector})"))
        else:
            key.data_drifts += 1
            key.marks.append((outcome.event_time, "data", f"data drift of {event.feature} ({event.detector})"))

    def view(self) -> dict[str, dict[str, Any]]:
        """Per stream, its most recently active keys (newest first) and how many were left out, for JSON."""
        return HistoryView([self]).view()


@dataclass
class HistoryView:
    """The histories of several units seen as one (each model key lives in one unit)."""

    histories: list[History]

    @property
    def every(self) -> int:
        return self.histories[0].every if self.histories else History.every

    def view(self) -> dict[str, dict[str, Any]]:
        """Per stream, its most recently active keys (newest first) and how many were left out, for JSON."""
        keys = sorted((k for h in self.histories for k in h.keys.values()), key=lambda k: k.touched, reverse=True)
        streams: dict[str, dict[str, Any]] = {}
        for key in keys:
            entry = streams.setdefault(key.stream, {"task": key.task, "keys": [], "hidden": 0})
            if len(entry["keys"]) < MAX_KEYS_SHOWN:
                entry["keys"].append(key.view())
            else:
                entry["hidden"] += 1
        return streams
