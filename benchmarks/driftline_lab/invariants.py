"""What a faulty run must still have delivered: the checks of the fault scenarios and of chaos, in one place.

A run remembers which events devices got acknowledged (HTTP 2xx, MQTT PUBACK) and which were
refused (a 4xx: never to be seen again); afterwards it reads back the committed outcomes, the
monitors' counts and the lake, and :func:`check_delivery` judges them:

- every acknowledged event has exactly one committed outcome, and nothing else has one;
- the monitors (summed across instances) counted each outcome once;
- the lake holds every acknowledged event. The archiver writes before it commits, so a crash
  between the two archives a batch again: the lake is at least once by design, and its readers
  (:func:`driftline.lake.export`) drop the repeats. Raw repeated rows are counted, not judged;
- nothing refused is in the outcomes or the lake.

:func:`service_problems` judges the processes at the end (alive, /healthz 200), and
:func:`memory_problems` the memory trends the soak judges (:func:`driftline_lab.soak.trend`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from driftline.contracts import Outcome
from driftline.lake import read_lake

#: An event as devices and every downstream service name it: (device id, event id).
EventKey = tuple[str, str]


@dataclass
class Delivery:
    """What became of the acknowledged and the refused events downstream."""

    acknowledged: int
    refused: int
    outcomes: int
    #: Acknowledged events without an outcome; outcomes beyond one per event; outcomes of events never acknowledged.
    missing: int
    duplicates: int
    unexpected: int
    monitor_counted: float
    archived_missing: int
    #: Lake rows beyond one per event (a batch archived again after a crash; the lake's readers drop them).
    archived_repeats: int
    #: Refused events found among the outcomes or in the lake.
    refused_downstream: int

    def problems(self) -> list[str]:
        """Every broken invariant, in words; empty when the run delivered exactly what it should."""
        found = []
        if self.acknowledged == 0:
            found.append("no event was acknowledged")
        if self.missing:
            found.append(f"{self.missing} acknowledged events have no outcome")
        if self.duplicates:
            found.append(f"{self.duplicates} outcomes beyond one per event")
        if self.unexpected:
            found.append(f"{self.unexpected} outcomes of events never acknowledged")
        if self.monitor_counted != self.acknowledged:
            found.append(f"the monitors counted {self.monitor_counted:,.0f} outcomes of {self.acknowledged:,}")
        if self.archived_missing:
            found.append(f"{self.archived_missing} acknowledged events are not in the lake")
        if self.refused_downstream:
            found.append(f"{self.refused_downstream} refused events are downstream")
        return found

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_delivery(
    acknowledged: set[EventKey],
    refused: set[EventKey],
    outcomes: Iterable[Outcome],
    monitor_counted: float,
    lake: Iterable[EventKey],
) -> Delivery:
    """Judge the outcomes topic read whole, the monitors' summed count and the lake's rows."""
    per_event = Counter((o.device_id, o.event_id) for o in outcomes)
    in_lake = Counter(lake)
    return Delivery(
        acknowledged=len(acknowledged),
        refused=len(refused),
        outcomes=sum(per_event.values()),
        missing=len(acknowledged - set(per_event)),
        duplicates=sum(n - 1 for n in per_event.values()),
        unexpected=len(set(per_event) - acknowledged - refused),
        monitor_counted=monitor_counted,
        archived_missing=len(acknowledged - set(in_lake)),
        archived_repeats=sum(n - 1 for n in in_lake.values()),
        refused_downstream=len(refused & (set(per_event) | set(in_lake))),
    )


def lake_rows(lake: Path) -> list[EventKey]:
    """Every event row of the lake, repeats included."""
    if not lake.exists():
        return []
    frame = read_lake(lake)
    return list(zip(frame["device_id"], frame["event_id"], strict=True))


def service_problems(exits: Mapping[str, int | None], healthy: Mapping[str, bool]) -> list[str]:
    """Services that ended the run dead (an exit code) or unhealthy (/healthz not 200)."""
    dead = [f"{name} is not running (exit code {code})" for name, code in exits.items() if code is not None]
    return dead + [f"{name} is not healthy" for name, ok in healthy.items() if not ok]


def memory_problems(trends: Iterable[Any]) -> list[str]:
    """Services whose memory grew, as the soak judges it (a :class:`driftline_lab.soak.Trend` each)."""
    return [
        f"{t.service}: memory not flat ({t.change_pct:+.1f}% end vs start, {t.fitted_pct:+.1f}% fitted)"
        for t in trends
        if not t.flat
    ]
