"""What a backtest replays: a stream's events and late labels from the lake, merged in one time order.

Events are ordered by event time, ties by where Kafka put them (partition, then offset); an event
seen twice (same device and event id) is replayed once, the first in that order. A late label is
replayed at its own time, but never before its event: at ``max(label ts, event ts)``, and after
every event of that instant. The oldest ``split.train`` of the events are the train part, then
validation, then test, cut by count as ``driftline export`` cuts them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import pandas as pd

from driftline.lake import Split

Part = Literal["train", "validation", "test"]
PARTS: tuple[Part, ...] = ("train", "validation", "test")


class EmptyReplay(ValueError):
    """Nothing to replay: the stream has no events (in the time range asked for)."""


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: str
    device_id: str
    ts: datetime
    features: dict[str, Any]
    units: dict[str, str] | None
    label: Any  # the inline label; None: its label comes later, if at all
    part: Part


@dataclass(frozen=True, slots=True)
class LabelRow:
    event_id: str
    device_id: str
    ts: datetime  # when the replay learns it
    label: Any


@dataclass(frozen=True)
class Replay:
    rows: list[EventRow | LabelRow]
    events: int
    labels: int
    duplicates: int
    #: The event time each part starts at (None: the part is empty).
    starts: dict[Part, datetime | None]


def _loaded(text: Any) -> Any:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    return json.loads(text)


def _window(frame: pd.DataFrame, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    if frame.empty:
        return frame
    if start is not None:
        frame = frame[frame["ts"] >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame["ts"] < pd.Timestamp(end)]
    return frame


def ordered(
    events: pd.DataFrame,
    labels: pd.DataFrame,
    split: Split | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    stream: str = "",
) -> Replay:
    """The rows to replay from lake frames (``read_lake``, ``read_labels``), events in ``[start, end)``.

    Labels are taken when their own time is in the range. Raises :class:`EmptyReplay` when no event is.
    """
    split = split or Split()
    events = _window(events, start, end)
    if events.empty:
        where = "" if start is None and end is None else f" from {start or 'the start'} to {end or 'the end'}"
        raise EmptyReplay(f"no events of stream {stream!r} in the lake{where}")
    events = events.sort_values(["ts", "kafka_partition", "kafka_offset"], kind="stable")
    unique = events.drop_duplicates(["device_id", "event_id"]).reset_index(drop=True)
    n = len(unique)
    cut1, cut2 = round(n * split.train), round(n * (split.train + split.validation))
    unique["part"] = ["train" if i < cut1 else "validation" if i < cut2 else "test" for i in range(n)]
    unique["rank"] = 0

    labels = _window(labels, start, end)
    merged = unique
    if not labels.empty:
        event_ts = unique.set_index(["device_id", "event_id"])["ts"]
        joined = labels.join(event_ts.rename("event_ts"), on=["device_id", "event_id"])
        # Never learned before its event was predicted: a label stamped earlier waits for it.
        waits = joined["event_ts"].notna() & (joined["ts"] < joined["event_ts"])
        labels = labels.assign(ts=joined["ts"].mask(waits, joined["event_ts"]), rank=1)
        merged = pd.concat([unique, labels], ignore_index=True)
    merged = merged.sort_values(["ts", "rank", "kafka_partition", "kafka_offset"], kind="stable")

    rows: list[EventRow | LabelRow] = []
    for item in merged.itertuples(index=False):
        ts = item.ts.to_pydatetime()
        if item.rank == 0:
            features = json.loads(item.features)
            rows.append(EventRow(item.event_id, item.device_id, ts, features, _loaded(item.units), _loaded(item.label),
                                 item.part))  # fmt: skip
        else:
            rows.append(LabelRow(item.event_id, item.device_id, ts, _loaded(item.label)))
    parts = unique.groupby("part")["ts"].min()
    starts = {part: parts[part].to_pydatetime() if part in parts else None for part in PARTS}
    return Replay(rows, n, len(labels), len(events) - n, starts)
