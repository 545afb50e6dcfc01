"""Replay a CSV or Parquet file, or a dataset bundled with River, as sensor events of one stream.

A column whose name is not a valid feature name (a letter or ``_`` first, then letters, digits,
``_``, ``.`` or ``-``; River's Bananas names its features "1" and "2") becomes a feature named
``x_`` + the column; a column even that cannot name is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import TypeAdapter, ValidationError

from driftline.config.base import ConfigError
from driftline.contracts import FeatureName

#: Put before a column name that is not a valid feature name ("1" -> "x_1").
RENAME_PREFIX = "x_"
_FEATURE_NAME: TypeAdapter[str] = TypeAdapter(FeatureName)


def _valid(name: str) -> bool:
    try:
        _FEATURE_NAME.validate_python(name)
    except ValidationError:
        return False
    return True


def feature_name(column: str) -> str:
    """The feature a column becomes: its own name if valid, else ``x_`` + it; refused if neither is valid."""
    if _valid(column):
        return column
    if _valid(RENAME_PREFIX + column):
        return RENAME_PREFIX + column
    raise ConfigError(
        f"replay: column {column!r} cannot name a feature (a letter or _ first, then letters, digits, _ . -; "
        "at most 64 characters), not even as x_" + column + "; rename it in the source"
    )


def _plain(value: Any) -> Any:
    # numpy scalars to Python; NaN means the value is missing.
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def rows_from_source(source: str, target: str) -> Iterator[dict[str, Any]]:
    """Rows of ``source``: ``river:<Dataset>`` (e.g. river:Phishing), or a .csv / .parquet path."""
    if source.startswith("river:"):
        from river import datasets

        name = source.removeprefix("river:")
        dataset_class = getattr(datasets, name, None)
        if dataset_class is None or not isinstance(dataset_class, type):
            raise ConfigError(f"replay: River has no dataset {name!r} (try river:Phishing or river:TrumpApproval)")
        for x, y in dataset_class():
            yield {**x, target: y}
        return
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"replay: no such file {path}")
    if path.suffix == ".csv":
        frame = pd.read_csv(path)
    elif path.suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    else:
        raise ConfigError(f"replay: {path} is neither .csv nor .parquet")
    yield from frame.to_dict("records")


def source_size(source: str) -> int | None:
    """How many rows ``source`` holds, when that is known without reading it all (None otherwise)."""
    if source.startswith("river:"):
        from river import datasets

        dataset_class = getattr(datasets, source.removeprefix("river:"), None)
        # River's file datasets know their size once made (making one reads nothing yet).
        return getattr(dataset_class(), "n_samples", None) if isinstance(dataset_class, type) else None
    path = Path(source)
    if path.suffix == ".csv" and path.exists():
        with path.open("rb") as lines:
            return max(sum(1 for _ in lines) - 1, 0)
    if path.suffix in (".parquet", ".pq") and path.exists():
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return None


def replay_start(rows: int | None, interval_s: float, now: datetime | None = None) -> datetime:
    """When the first row of a source without times is stamped: ``rows`` intervals back, so the last
    lands now. Stamped forwards from now, rows beyond the collector's clock-skew limit would be
    refused as events from the future."""
    return (now or datetime.now(UTC)) - timedelta(seconds=(rows or 0) * interval_s)


def to_events(
    rows: Iterator[dict[str, Any]],
    stream: str,
    device_id: str,
    target: str,
    ts_column: str | None = None,
    start: datetime | None = None,
    interval_s: float = 1.0,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Event payloads: every column but the target (and time) is a feature; the target is the label.

    Columns are renamed to valid feature names by :func:`feature_name`; two columns that would
    become one feature are refused.
    """
    start = start or replay_start(limit, interval_s)
    names: dict[str, str] = {}
    for i, row in enumerate(rows):
        if limit is not None and i >= limit:
            return
        row = {str(k): _plain(v) for k, v in row.items()}
        label = row.pop(target, None)
        ts = row.pop(ts_column) if ts_column else None
        when = pd.Timestamp(ts) if ts is not None else pd.Timestamp(start + timedelta(seconds=i * interval_s))
        when = when.tz_localize("UTC") if when.tzinfo is None else when
        for column in row.keys() - names.keys():
            name = feature_name(column)
            if name in names.values() or (name != column and name in row):
                raise ConfigError(f"replay: columns {column!r} and {name!r} would both be the feature {name!r}")
            names[column] = name
        yield {
            "event_id": f"{device_id}-{i}",
            "device_id": device_id,
            "stream": stream,
            "ts": when.isoformat(),
            "features": {names[column]: value for column, value in row.items()},
            **({"label": label} if label is not None else {}),
        }
