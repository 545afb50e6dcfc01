"""The raw-data lake: Parquet files partitioned by stream and date, and time-split exports.

Layout: ``<lake>/stream=<stream>/date=<YYYY-MM-DD>/part-<YYYYmmddTHHMMSS>-<8 hex>.parquet``, one file per stream and
event date per batch. Features, label, units and metadata are kept as JSON text so any event fits any
file; :func:`export` flattens them into columns. Late labels (the labels topic) are a table of their own,
``<lake>/kind=labels/stream=<stream>/date=<label date>/part-...parquet`` (:data:`LABEL_COLUMNS`), so a
backtest can join them to their events by ``(device_id, event_id)``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from driftline.contracts import Contract, ContractError, LabelEvent, SensorEvent, parse

log = logging.getLogger(__name__)

COLUMNS = ["event_id", "device_id", "stream", "ts", "label", "features", "units", "metadata", "model_key",
           "kafka_partition", "kafka_offset"]  # fmt: skip
LABEL_COLUMNS = ["event_id", "device_id", "stream", "ts", "label", "model_key", "kafka_partition", "kafka_offset"]
#: The labels' table, under the lake folder (the events' ``stream=*`` folders are beside it).
LABELS_DIR = "kind=labels"
Record = tuple[bytes | None, bytes, int, int]


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _frame(
    records: Iterable[Record], contract: type[Contract], row: Callable[[Any], dict[str, Any]], columns: list[str]
) -> pd.DataFrame:
    rows = []
    for key, value, partition, offset in records:
        try:
            message = parse(contract, value)
        except ContractError as e:
            log.warning("lake: skipping record %s/%s that is not a %s: %s", partition, offset, contract.__name__, e)
            continue
        base = {"model_key": key.decode() if key else None, "kafka_partition": partition, "kafka_offset": offset}
        rows.append({**row(message), **base})
    frame = pd.DataFrame(rows, columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def to_frame(records: Iterable[Record]) -> pd.DataFrame:
    """Rows for (key, value, partition, offset) records of the events topic; unreadable ones are skipped."""
    return _frame(
        records,
        SensorEvent,
        lambda event: {
            "event_id": event.event_id,
            "device_id": event.device_id,
            "stream": event.stream,
            "ts": event.ts,
            "label": _json(event.label),
            "features": _json(event.features),
            "units": _json(event.units),
            "metadata": _json(event.metadata),
        },
        COLUMNS,
    )


def to_label_frame(records: Iterable[Record]) -> pd.DataFrame:
    """Rows for (key, value, partition, offset) records of the labels topic; unreadable ones are skipped."""
    return _frame(
        records,
        LabelEvent,
        lambda label: {
            "event_id": label.event_id,
            "device_id": label.device_id,
            "stream": label.stream,
            "ts": label.ts,
            "label": _json(label.label),
        },
        LABEL_COLUMNS,
    )


def write_frame(frame: pd.DataFrame, lake_dir: Path) -> list[Path]:
    """One new Parquet file per (stream, date) present in ``frame``, under ``lake_dir``.

    Events go to the lake folder itself, labels to its :data:`LABELS_DIR`.
    """
    written = []
    if frame.empty:
        return written
    dates = frame["ts"].dt.strftime("%Y-%m-%d")
    for (stream, date), part in frame.groupby([frame["stream"], dates]):
        folder = lake_dir / f"stream={stream}" / f"date={date}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = path.with_suffix(".tmp")
        part.reset_index(drop=True).to_parquet(tmp, index=False)
        tmp.rename(path)  # readers never see half a file
        written.append(path)
    return written


def _read(root: Path, stream: str | None, columns: list[str]) -> pd.DataFrame:
    pattern = f"stream={stream}/date=*/part-*.parquet" if stream else "stream=*/date=*/part-*.parquet"
    files = sorted(root.glob(pattern))
    if not files:
        return pd.DataFrame(columns=columns)
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def read_lake(lake_dir: Path, stream: str | None = None) -> pd.DataFrame:
    """Every archived event (of ``stream``), as written."""
    return _read(lake_dir, stream, COLUMNS)


def read_labels(lake_dir: Path, stream: str | None = None) -> pd.DataFrame:
    """Every archived late label (of ``stream``), as written (:data:`LABEL_COLUMNS`)."""
    return _read(lake_dir / LABELS_DIR, stream, LABEL_COLUMNS)


@dataclass
class Split:
    train: float = 0.7
    validation: float = 0.15
    test: float = 0.15

    def __post_init__(self) -> None:
        if min(self.train, self.validation, self.test) < 0 or abs(self.train + self.validation + self.test - 1) > 1e-9:
            raise ValueError(f"split fractions must be non-negative and sum to 1, got {self}")

    @classmethod
    def parse(cls, text: str) -> Split:
        """``train,validation,test`` fractions; ValueError naming what is wrong."""
        parts = text.split(",")
        if len(parts) != 3:
            # Two fractions would leave the third to the default, a split nobody asked for.
            raise ValueError(f"give three fractions train,validation,test (e.g. 0.7,0.15,0.15), got {text!r}")
        return cls(*(float(x) for x in parts))


def flatten(frame: pd.DataFrame, target: str = "label") -> pd.DataFrame:
    """One column per feature plus the label named ``target``; duplicates (same device and event id) dropped."""
    frame = frame.drop_duplicates(["device_id", "event_id"]).sort_values("ts", kind="stable").reset_index(drop=True)
    features = pd.DataFrame([json.loads(f) for f in frame["features"]], index=frame.index)
    labels = frame["label"].map(lambda v: None if pd.isna(v) else json.loads(v))
    base = frame[["event_id", "device_id", "stream", "ts"]]
    return pd.concat([base, features, labels.rename(target)], axis=1)


def export(lake_dir: Path, stream: str, out_dir: Path, split: Split | None = None, target: str = "label",
           fmt: str = "parquet") -> dict[str, Path]:  # fmt: skip
    """Write train/validation/test files of ``stream``, split by event time (the oldest events train)."""
    split = split or Split()
    table = flatten(read_lake(lake_dir, stream), target)
    if table.empty:
        raise ValueError(f"the lake at {lake_dir} holds no events of stream {stream!r}")
    n = len(table)
    cut1, cut2 = round(n * split.train), round(n * (split.train + split.validation))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, part in (("train", table[:cut1]), ("validation", table[cut1:cut2]), ("test", table[cut2:])):
        path = out_dir / f"{stream}-{name}.{fmt}"
        if fmt == "parquet":
            part.to_parquet(path, index=False)
        elif fmt == "csv":
            part.to_csv(path, index=False)
        else:
            raise ValueError(f"export format must be parquet or csv, not {fmt!r}")
        paths[name] = path
    return paths
