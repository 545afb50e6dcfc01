"""Drawing a :class:`~driftline.status.shaping.Status` with rich: the streams, their model keys, the
candidates, the lag and what did not answer (``driftline status``), or the short view the stack shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from driftline.status.shaping import Drift, Status, StreamStatus

#: Model keys per stream the table shows (busy ones first); JSON holds them all.
KEYS_SHOWN = 12


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def clock(ts: float) -> str:
    """A time of day in UTC, as every time `driftline status` shows is (each table says which clock)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%m-%d %H:%M:%S")


def _scores(s: StreamStatus, window: str) -> str:
    """A score cell; a stream serving more than one model names each."""
    if not s.scores:
        return "-"
    named = len(s.scores) > 1
    return ", ".join(
        f"{model + ' ' if named else ''}{_number(windows.get(window), 3)}"
        for model, windows in sorted(s.scores.items())
    )


def _versions(s: StreamStatus) -> str:
    if s.versions is None:
        return "-"
    low, high = s.versions
    return f"{low}" if low == high else f"{low}-{high}"


def _last_drift(drift: Drift | None) -> str:
    if drift is None:
        return "-"
    return f"{_when(drift.ts)} {drift.kind}" + (f" ({drift.detail})" if drift.kind == "data" and drift.detail else "")


#: The streams table's rows: one column per stream keeps it narrow enough for any terminal.
STREAM_ROWS: dict[str, Callable[[StreamStatus], str]] = {
    "events/s": lambda s: _number(s.events_per_s),
    "predicted": lambda s: _number(s.predicted),
    "judged by the monitor": lambda s: _number(s.judged),
    "learned": lambda s: _number(s.learned),
    "score (prequential)": lambda s: _scores(s, "cumulative"),
    "score (rolling window)": lambda s: _scores(s, "rolling"),
    "concept drifts": lambda s: _number(s.concept_drifts),
    "data drifts": lambda s: _number(s.data_drifts),
    "resets": lambda s: _number(s.resets),
    "model keys": lambda s: _number(len(s.model_keys)) if s.model_keys else "-",
    "model versions": _versions,
    # The wall clock's: the monitor's metric says when the trainer detected it (the keys table shows event time).
    "last drift (detected, UTC)": lambda s: _last_drift(s.last_drift),
}


def streams_table(status: Status) -> Table:
    """Per stream: rates, counts, scores (accuracy, or MAE for regression), drifts, resets, model versions."""
    table = Table("", *(s.stream for s in status.streams), title="streams", title_justify="left", box=box.SIMPLE)
    for row, cell in STREAM_ROWS.items():
        if row.startswith("score"):
            scored = {s.score_name for s in status.streams if s.scores} or {"accuracy"}
            row = row.replace("score", " / ".join(sorted(scored)))
        table.add_row(row, *(cell(s) for s in status.streams))
    return table


def keys_table(status: Status, shown: int = KEYS_SHOWN) -> Table:
    """One row per model key (the first ``shown`` of each stream): served model, version, learned, recent score."""
    table = Table(title="model keys", title_justify="left", box=box.SIMPLE)
    table.add_column("model key", no_wrap=True)
    table.add_column("model")
    for column in ("version", "learned", "recent score", "concept drifts"):
        table.add_column(column, justify="right")
    table.add_column("last drift (event time, UTC)")
    for s in status.streams:
        for key in s.model_keys[:shown]:
            last = key.last_drift
            table.add_row(
                key.model_key, key.model or "-", _number(key.version), _number(key.learned),
                _number(key.recent_score, 3), _number(key.concept_drifts),
                "-" if last is None else f"{_when(last.ts)} {last.kind}",
            )  # fmt: skip
        if len(s.model_keys) > shown:
            table.add_row(f"... {len(s.model_keys) - shown:,} more of {s.stream}", *[""] * 6)
    return table


def candidates_table(status: Status) -> Table:
    """Per stream, each candidate model: what it buys (rolling score) next to what it costs (µs per event)."""
    table = Table(title="candidates (trainer)", title_justify="left", box=box.SIMPLE)
    table.add_column("stream", no_wrap=True)
    table.add_column("candidate")
    for column in ("rolling score", "µs predict", "µs learn"):
        table.add_column(column, justify="right")
    for s in status.streams:
        for c in s.candidates:
            score = "-" if c.score is None else f"{c.score_name} {c.score:.3f}"
            table.add_row(s.stream, c.model, score, _number(c.predict_us, 1), _number(c.learn_us, 1))
    return table


def notes(status: Status) -> Text:
    """The trainer's consumer lag, and a line per service that did not answer."""
    lines = Text()
    if status.lag:
        lines.append("trainer consumer lag: " + ", ".join(f"{t} {n:,}" for t, n in sorted(status.lag.items())))
    for failure in status.failures:
        lines.append(("\n" if lines else "") + failure.describe(), style="yellow")
    return lines


def render(status: Status, keys: int = KEYS_SHOWN) -> RenderableType:
    """``driftline status``: the streams, their model keys, the lag and what did not answer."""
    parts: list[RenderableType] = [_streams(status)]
    if any(s.model_keys for s in status.streams):
        parts.append(keys_table(status, keys))
    if any(s.candidates for s in status.streams):
        parts.append(candidates_table(status))
    parts.append(notes(status))
    return Group(*parts)


def render_live(status: Status) -> RenderableType:
    """The stack's live view: the streams table and the lag (model keys would make it too tall)."""
    return Group(_streams(status), notes(status))


def _streams(status: Status) -> RenderableType:
    return streams_table(status) if status.streams else Text("no stream reported yet", style="dim")
