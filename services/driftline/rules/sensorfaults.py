"""Sensor faults, told apart from drift: a stuck sensor, a spike, a dropout, each on one device's feature.

A drift changes what a stream's devices report; a fault is one device's sensor misbehaving. Cleaning
already meets two kinds event by event: a spike is a reading outside its feature's range (clipped,
rejected, set missing, or too large to be a number), a dropout a reading that is missing (imputed, or not).
The third needs memory: a sensor that is stuck repeats its reading exactly, which a live analogue
sensor does not. :class:`StuckReadings` counts, per device and feature, the readings in a row that
repeat the one before; the run that reaches ``after`` is a stuck sensor, reported once as the cleaning
step ``stuck:<feature>``. :func:`fault_of` reads any cleaning step as the fault it shows, if any.

>>> stuck = StuckReadings(after=3)
>>> [stuck.see("d1", {"t": 20.5, "h": v}) for v in (40.1, 40.7, 41.0, 40.2)]
[[], [], ['t'], []]
>>> fault_of("stuck:t"), fault_of("clipped:co2"), fault_of("imputed:h"), fault_of("late")
(('stuck', 't'), ('spike', 'co2'), ('dropout', 'h'), None)
"""

from __future__ import annotations

from typing import Any

#: The fault a cleaning step shows, by the step's kind (the part before ``:``).
FAULT_OF_STEP = {
    "stuck": "stuck",
    "clipped": "spike",
    "rejected": "spike",
    "out_of_range": "spike",
    "huge": "spike",
    "imputed": "dropout",
    "missing": "dropout",
    "unimputable": "dropout",
}
FAULT_KINDS = ("stuck", "spike", "dropout")


def fault_of(step: str) -> tuple[str, str] | None:
    """(fault kind, feature) that cleaning step ``step`` shows; None for a step that is no sensor's fault."""
    kind, _, feature = step.partition(":")
    fault = FAULT_OF_STEP.get(kind)
    return None if fault is None or not feature else (fault, feature)


class StuckReadings:
    """Per device, each feature's run of readings equal to the one before; at most ``devices`` devices remembered
    (the one seen least recently is forgotten, its next reading starting afresh)."""

    __slots__ = ("after", "devices", "runs")

    def __init__(self, after: int = 10, devices: int = 10_000) -> None:
        if after < 2 or devices < 1:
            raise ValueError(f"a stuck run needs at least 2 readings and 1 device, got {after} and {devices}")
        self.after, self.devices = after, devices
        #: Per device: its last readings, and per feature the readings in a row that equal them (2 or more).
        self.runs: dict[str, tuple[dict[str, Any], dict[str, int]]] = {}

    def see(self, device: str, features: dict[str, Any]) -> list[str]:
        """The features of ``device`` whose run of equal readings reaches ``after`` with this event."""
        runs = self.runs
        entry = runs.pop(device, None)  # put back last: the most recently seen is forgotten last
        if entry is None:
            if len(runs) >= self.devices:
                del runs[next(iter(runs))]
            runs[device] = (features, {})
            return []
        last, counts = entry
        stuck: list[str] = []
        get = last.get
        for name, value in features.items():
            # Numbers only: categories and counts repeat in a healthy sensor too.
            if value.__class__ is float and value == get(name):
                n = counts[name] = counts.get(name, 1) + 1
                if n == self.after:
                    stuck.append(name)
            elif name in counts:
                del counts[name]
        runs[device] = (features, counts)
        return stuck

    def __getstate__(self) -> dict[str, Any]:
        return {"after": self.after, "devices": self.devices, "runs": self.runs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.after, self.devices, self.runs = state["after"], state["devices"], state["runs"]
