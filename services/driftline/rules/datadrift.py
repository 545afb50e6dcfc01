"""The data-drift judge of one model key: has a cleaned feature's distribution changed?

The trainer runs it on the features it has just cleaned (they are at hand there, and outcomes
need not carry them to anyone else). A number feature is judged on the means of blocks of
``drift.data_block`` values: one detector update per block instead of one per event, and a
block's mean varies less than its values, so a shift of the mean shows after about as many
events. With ``drift.data = "CUSUM"`` (the default) every number feature of the key shares one
:class:`~driftline.rules.meanshift.MeanShift` (five floats a feature, a false-alarm rate stated
by its run length); another name gives each feature a River detector. A category feature is
judged value by value by a chi-square test of its recent values against a reference
(:class:`~driftline.rules.detectors.CategoryShift`). Each detector is debounced
(``drift.data_debounce`` events; a CUSUM feature relearns a reference at least as long) and, per
feature, quiet for ``drift.data_cooldown_s`` of event time after an alarm. Data drift belongs to the
sensors, not the model: a model reset does not reset this judge.

>>> from driftline.config.streams import DriftSpec, FeatureSpec
>>> watch = DataWatch(DriftSpec(data_block=8), {"temperature": FeatureSpec()})
>>> found = []
>>> for i in range(4000):  # the temperature moves from about 20 to about 30 at the 2,000th event
...     value = (20.0 if i < 2000 else 30.0) + (i * 7919 % 13) / 13
...     found += [(feature, alarm.position) for feature, _, alarm in watch.see({"temperature": value}, float(i))]
>>> [(feature, 2000 < position < 2200) for feature, position in found]
[('temperature', True)]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from operator import add, itemgetter
from typing import Any

from driftline.config.streams import DriftSpec, FeatureSpec
from driftline.rules.detectors import CATEGORY_DETECTOR, Alarm, DebouncedDetector
from driftline.rules.meanshift import MeanShift

#: River's ADWIN default: it looks for a change every this many updates.
ADWIN_CLOCK = 32


class DataWatch:
    """Judges one model key's cleaned features; :meth:`see` every cleaned event of the key once."""

    __slots__ = (
        "_pick", "block", "categories", "detectors", "filled", "missing", "names", "quiet_until", "seen", "shift",
        "spec", "sums",
    )  # fmt: skip

    def __init__(self, spec: DriftSpec, features: dict[str, FeatureSpec]) -> None:
        self.spec = spec
        self.block = spec.data_block
        #: Number (and flag) features judged on block means, in a fixed order.
        self.names = [name for name, f in features.items() if f.drift and f.type != "category"]
        self.categories = [name for name, f in features.items() if f.drift and f.type == "category"]
        self._pick = _picker(self.names)
        #: Per number feature, the sum of its values in the current block and how many events lacked one.
        self.sums = [0.0] * len(self.names)
        self.missing = [0] * len(self.names)
        #: Events in the current block.
        self.filled = 0
        debounce_blocks = math.ceil(spec.data_debounce / self.block)
        detector, params = spec.data or "CUSUM", dict(spec.data_params)
        self.detectors: dict[str, DebouncedDetector] = {}
        #: The number features' CUSUMs, or None when each has a River detector in :attr:`detectors`.
        self.shift: MeanShift | None = None
        if detector == "CUSUM":
            params["reference"] = max(int(params.get("reference", 32)), debounce_blocks)
            self.shift = MeanShift(len(self.names), block=self.block, **params)  # type: ignore[arg-type]
        else:
            if detector == "ADWIN" and "clock" not in params:
                # ADWIN looks for a change every `clock` updates (32): as often in events as on every value.
                params["clock"] = max(1, ADWIN_CLOCK // self.block)
            self.detectors = {name: DebouncedDetector(detector, params, debounce_blocks) for name in self.names}
        for name in self.categories:
            self.detectors[name] = DebouncedDetector(CATEGORY_DETECTOR, None, spec.data_debounce)
        #: Per feature, the event time (epoch s) before which it stays quiet.
        self.quiet_until: dict[str, float] = {}
        #: Events seen: the position an alarm reports.
        self.seen = 0

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if name != "_pick"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.shift = None  # a watch checkpointed before CUSUM keeps its River detectors
        for name, value in state.items():
            setattr(self, name, value)
        self._pick = _picker(self.names)

    @classmethod
    def of(cls, spec: DriftSpec, features: dict[str, FeatureSpec]) -> DataWatch | None:
        """A watch for the stream's features, or None when data drift is off or no feature is watched."""
        if spec.data is None or not any(f.drift for f in features.values()):
            return None
        return cls(spec, features)

    def see(self, features: dict[str, Any], event_ts: float) -> list[tuple[str, str, Alarm]]:
        """Take one event's cleaned features; the (feature, detector name, alarm) of each detection it completed."""
        self.seen += 1
        found: list[tuple[str, str, Alarm]] = []
        if self.names:
            try:
                # Every number present (the common case): two calls in C for all the features.
                self.sums = list(map(add, self.sums, self._pick(features)))
            except (KeyError, TypeError):  # one missing, or not a number: feature by feature
                self._add_each(features)
            self.filled += 1
            if self.filled == self.block:
                self._judge_block(event_ts, found)
        for name in self.categories:
            value = features.get(name)
            if value.__class__ is not str:
                continue
            alarm = self.detectors[name].update(value)
            if alarm is not None and (hit := self._alarm(name, alarm, event_ts)) is not None:
                found.append(hit)
        return found

    def _add_each(self, features: dict[str, Any]) -> None:
        sums, missing = self.sums, self.missing
        for i, name in enumerate(self.names):
            value = features.get(name)
            if value is None or value.__class__ is str:
                missing[i] += 1
            else:
                sums[i] += value

    def _judge_block(self, event_ts: float, found: list[tuple[str, str, Alarm]]) -> None:
        shift = self.shift
        for i, name in enumerate(self.names):
            count = self.block - self.missing[i]
            if count == 0:
                continue
            mean = self.sums[i] / count
            if shift is not None:
                if shift.update(i, mean) is None:
                    continue
                alarm: Alarm | None = Alarm("drift", self.seen, mean)
            else:
                alarm = self.detectors[name].update(mean)
            if alarm is not None and (hit := self._alarm(name, alarm, event_ts)) is not None:
                found.append(hit)
        self.sums = [0.0] * len(self.names)
        self.missing = [0] * len(self.names)
        self.filled = 0

    def _alarm(self, name: str, alarm: Alarm, event_ts: float) -> tuple[str, str, Alarm] | None:
        if event_ts < self.quiet_until.get(name, -math.inf):
            return None
        self.quiet_until[name] = event_ts + self.spec.data_cooldown_s
        # Positions count events, whatever the detector counts.
        detector = self.detectors[name].name if name in self.detectors else "CUSUM"
        return name, detector, Alarm(alarm.level, self.seen, alarm.statistic)


def _picker(names: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The values of ``names`` from a dict as a tuple (KeyError if one is absent), in one call."""
    if not names:  # a stream whose watched features are all categories
        return lambda features: ()
    if len(names) == 1:
        name = names[0]
        return lambda features: (features[name],)
    return itemgetter(*names)  # type: ignore[return-value]
