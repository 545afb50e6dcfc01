"""``driftline status`` and the stack's live view: what the running services report, per stream and model key.

Fetching is kept apart from shaping. :func:`fetch` asks the trainer (``/models``, ``/metrics``), the
monitors (``/ui/data``, ``/metrics`` of each: monitors of one group split the outcomes partitions)
and the collector (``/metrics``) and keeps their raw answers in a :class:`Snapshot`, the monitors'
merged (their samples labelled with the monitor's URL as ``instance``, their keys together);
:func:`shape` turns a snapshot (and the one before it, for rates) into a :class:`Status` without
any I/O, a monitor's scores weighted by the outcomes each is over; :func:`render` draws it with
rich, :func:`as_json` for machines.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import httpx
import typer
from prometheus_client.parser import text_string_to_metric_families
from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from driftline.cli_options import TRAINER_TOKEN_ENV, ConfigOption
from driftline.config import Settings
from driftline.rules import metric_names as names
from driftline.rules.keys import stream_of

log = logging.getLogger(__name__)

#: Services and the paths asked of each: the trainer's /models takes its api token, the rest are open.
PATHS = {
    "trainer": ("/models", "/metrics"),
    "monitor": ("/ui/data", "/metrics"),
    "collector": ("/metrics",),
}
#: Model keys per stream the table shows (busy ones first); JSON holds them all.
KEYS_SHOWN = 12
#: What counts as a reset: the trainer's own reactions to drift, and people's commands applied.
RESET_REACTIONS = frozenset({"warm", "cold", "rollback"})
RESET_COMMANDS = frozenset({"reset", "rollback"})
#: The monitor's scores a stream's row shows (accuracy, MAE for regression), and their short names.
POOLED_SCORES = {names.ACCURACY: "accuracy", names.MAE: "mae"}
#: The environment variable `driftline status` reads the trainer's api token from: the one that sets it.
TOKEN_ENV = TRAINER_TOKEN_ENV


class ServicesUnreachable(RuntimeError):
    """No service answered at any of the URLs asked."""


@dataclass(frozen=True)
class Sources:
    """Where the services listen, and the trainer's api token ("" when its endpoints are open).

    ``monitor``: one URL, or the URLs of every monitor of the group.
    """

    trainer: str
    monitor: str | tuple[str, ...]
    collector: str
    token: str = ""

    @classmethod
    def of(
        cls,
        settings: Settings,
        trainer: str | None = None,
        monitor: str | list[str] | None = None,
        collector: str | None = None,
        token: str | None = None,
    ) -> Sources:
        """The given URLs, else each service's configured port on 127.0.0.1; the token, else the configured one."""
        from driftline.httpserver import configured_token

        t = settings.trainer
        monitors = [monitor] if isinstance(monitor, str) else list(monitor or [])
        for name, url in (("trainer", trainer), *(("monitor", m) for m in monitors), ("collector", collector)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise typer.BadParameter(f"{url!r} is not an http:// or https:// URL", param_hint=f"--{name}")
        return cls(
            (trainer or f"http://127.0.0.1:{t.port}").rstrip("/"),
            tuple(m.rstrip("/") for m in monitors) or f"http://127.0.0.1:{settings.monitor.port}",
            (collector or f"http://127.0.0.1:{settings.collector.port}").rstrip("/"),
            configured_token(t.api_token, t.api_token_file, "trainer.api_token") if token is None else token,
        )

    def urls(self, service: str) -> tuple[str, ...]:
        found = getattr(self, service)
        return (found,) if isinstance(found, str) else tuple(found)


@dataclass
class Snapshot:
    """The services' answers at one moment: ``answers[(service, path)]`` is a /metrics page's samples or JSON."""

    taken: float
    answers: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: (service, URL) -> why it gave no answer.
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def get(self, service: str, path: str) -> Any:
        return self.answers.get((service, path))

    @property
    def answered(self) -> set[str]:
        return {service for service, _ in self.answers}


def fetch(sources: Sources, timeout: float = 3.0, client: httpx.Client | None = None) -> Snapshot:
    """Ask every service for what it knows; a service that does not answer is noted, not raised.

    A /metrics page is kept parsed (a list of :class:`Sample`), the JSON answers as they came.
    """
    snapshot = Snapshot(time.time())
    own = client is None
    http = client or httpx.Client(timeout=timeout)
    try:
        for service, paths in PATHS.items():
            for base in sources.urls(service):
                _ask(http, snapshot, sources.token, service, base, paths)
    finally:
        if own:
            http.close()
    return snapshot


def _ask(http: httpx.Client, snapshot: Snapshot, token: str, service: str, base: str, paths: tuple[str, ...]) -> None:
    """One instance's answers into ``snapshot``: a monitor's merged with the other monitors'."""
    for path in paths:
        url = base + path
        headers = {"Authorization": f"Bearer {token}"} if token and path == "/models" else {}
        try:
            response = http.get(url, headers=headers)
        except httpx.HTTPError as e:
            snapshot.failures[(service, base)] = _why(e)
            return  # the next path of a service that is not there would fail the same way
        if response.status_code != 200:
            snapshot.failures[(service, url)] = _refusal(response, service, path)
            continue
        try:
            answer = samples(response.text) if path == "/metrics" else response.json()
        except ValueError:
            what = "Prometheus text" if path == "/metrics" else "JSON"
            snapshot.failures[(service, url)] = f"answered, but not with {what}: is it the {service}?"
            continue
        if service != "monitor":
            snapshot.answers[(service, path)] = answer
        elif path == "/metrics":
            # Each monitor's gauges pair with their own weights: the sample says whose it is.
            found = snapshot.answers.setdefault((service, path), [])
            found += [Sample(s.name, {**s.labels, "instance": base}, s.value) for s in answer]
        else:
            merged = snapshot.answers.setdefault((service, path), {**answer, "streams": []})
            merged["streams"] += answer.get("streams", [])


def _why(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "did not answer in time"
    # "[Errno 111] Connection refused" -> "connection refused"
    reason = str(error).split("] ", 1)[-1] or type(error).__name__
    return f"did not answer ({reason[:1].lower()}{reason[1:]})"


def _refusal(response: httpx.Response, service: str, path: str) -> str:
    if response.status_code == 401 and path == "/models":
        return f"answered 401: give the trainer's api token (--token, {TOKEN_ENV} or trainer.api_token)"
    if response.status_code == 404:
        return f"answered 404 (no {path} there): is it the {service}?"
    return f"answered HTTP {response.status_code}"


# Shaping: pure, from a snapshot's answers.


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def samples(text: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition; ValueError if it is not one."""
    return [
        Sample(s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def _by(found: Iterable[Sample], name: str, label: str, **match: str) -> dict[str, float]:
    """Sum of ``name`` per value of ``label`` over the samples whose labels include ``match``."""
    sums: dict[str, float] = {}
    for s in found:
        if s.name == name and match.items() <= s.labels.items():
            sums[s.labels.get(label, "")] = sums.get(s.labels.get(label, ""), 0.0) + s.value
    return sums


@dataclass
class Drift:
    """A drift detection: when (Unix time, on ``clock``), its kind (concept or data), the feature (data)
    or the monitor's note of it, and the model.

    Two clocks, named wherever a time is shown: ``detected`` is when the trainer judged it (the wall
    clock, from the monitor's metrics: a stream's last drift), ``event`` the event time of the outcome
    it was judged at (from the monitor's page: a model key's last drift). A replayed or simulated
    stream's event time can be hours or years away from the wall clock.
    """

    ts: float
    kind: str
    detail: str = ""
    model: str = ""
    clock: Literal["detected", "event"] = "detected"


@dataclass
class KeyStatus:
    """One model key: the trainer's served model and counts, the monitor's recent view of it."""

    model_key: str
    model: str | None = None
    version: int | None = None
    learned: int | None = None
    #: Accuracy (MAE for regression) over the key's newest points on the monitor (50 labelled outcomes each).
    recent_score: float | None = None
    concept_drifts: int | None = None
    data_drifts: int | None = None
    #: Event time of the key's last drift detection, as the monitor marked it.
    last_drift: Drift | None = None


@dataclass
class CandidateStatus:
    """One candidate model of a stream, from the trainer: its rolling score and microseconds per event."""

    model: str
    #: accuracy, or mae for regression
    score_name: str = "accuracy"
    score: float | None = None
    predict_us: float | None = None
    learn_us: float | None = None


@dataclass
class StreamStatus:
    """One stream: rates and counts from the trainer, scores and drifts from the monitor."""

    stream: str
    score_name: str = "accuracy"
    events_per_s: float | None = None
    ingest_per_s: float | None = None
    consumed: int | None = None
    predicted: int | None = None
    learned: int | None = None
    #: Outcomes the monitor has judged (its predictions count): equal to ``predicted`` once caught up.
    judged: int | None = None
    #: Per model name: the prequential score since start (cumulative) and over the monitor's window (rolling).
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    concept_drifts: int | None = None
    data_drifts: int | None = None
    resets: int | None = None
    last_drift: Drift | None = None
    model_keys: list[KeyStatus] = field(default_factory=list)
    #: What each candidate model buys (rolling score, mean over model keys) and costs (µs per event).
    candidates: list[CandidateStatus] = field(default_factory=list)

    @property
    def versions(self) -> tuple[int, int] | None:
        found = [k.version for k in self.model_keys if k.version is not None]
        return (min(found), max(found)) if found else None


@dataclass
class Failure:
    """A service, the URL it was asked at, and why no answer came."""

    service: str
    url: str
    reason: str

    def describe(self) -> str:
        return f"{self.service} {self.url} {self.reason}"


@dataclass
class Status:
    taken: float
    streams: list[StreamStatus]
    #: The trainer's consumer lag, records per input topic.
    lag: dict[str, int]
    failures: list[Failure]
    answered: list[str]


def shape(snapshot: Snapshot, previous: Snapshot | None = None) -> Status:
    """Per stream and model key, what the services' answers say; rates against ``previous`` when given."""
    trainer = snapshot.get("trainer", "/metrics") or []
    monitor = snapshot.get("monitor", "/metrics") or []
    collector = snapshot.get("collector", "/metrics") or []
    streams: dict[str, StreamStatus] = {}

    def stream(name: str) -> StreamStatus:
        return streams.setdefault(name, StreamStatus(name))

    consumed = _by(trainer, names.TRAINER_EVENTS_CONSUMED, "stream")
    accepted = _by(collector, names.COLLECTOR_EVENTS_ACCEPTED, "stream")
    if trainer:
        predicted = _by(trainer, names.TRAINER_PREDICTIONS, "stream")
        learned = _by(trainer, names.TRAINER_EVENTS_LEARNED, "stream")
        resets = _counted(trainer, names.TRAINER_DRIFT_REACTIONS, RESET_REACTIONS)
        commands = _counted(trainer, names.TRAINER_COMMANDS, RESET_COMMANDS, status="applied")
        for name in {*consumed, *predicted, *learned}:
            s = stream(name)
            s.consumed, s.predicted = int(consumed.get(name, 0)), int(predicted.get(name, 0))
            s.learned = int(learned.get(name, 0))
            s.resets = int(resets.get(name, 0) + commands.get(name, 0))
    if previous is not None and snapshot.taken > previous.taken:
        elapsed = snapshot.taken - previous.taken
        before = _by(previous.get("trainer", "/metrics") or [], names.TRAINER_EVENTS_CONSUMED, "stream")
        for name, rate in _rates(consumed, before, elapsed).items():
            stream(name).events_per_s = rate
        before = _by(previous.get("collector", "/metrics") or [], names.COLLECTOR_EVENTS_ACCEPTED, "stream")
        for name, rate in _rates(accepted, before, elapsed).items():
            stream(name).ingest_per_s = rate
    _monitor_metrics(monitor, stream)
    _candidates(trainer, stream)
    _model_keys(snapshot.get("trainer", "/models"), snapshot.get("monitor", "/ui/data"), stream)
    lag = {topic: int(v) for topic, v in _by(trainer, names.TRAINER_CONSUMER_LAG_RECORDS, "topic").items()}
    return Status(
        snapshot.taken,
        sorted(streams.values(), key=lambda s: s.stream),
        lag,
        [Failure(service, url, why) for (service, url), why in sorted(snapshot.failures.items())],
        sorted(snapshot.answered),
    )


def _rates(now: dict[str, float], before: dict[str, float], elapsed: float) -> dict[str, float]:
    # A counter that went down belongs to a restarted service: no rate until the next look.
    return {
        name: (value - before[name]) / elapsed
        for name, value in now.items()
        if name in before and value >= before[name]
    }


def _counted(found: list[Sample], name: str, actions: frozenset[str], **match: str) -> dict[str, float]:
    sums: dict[str, float] = {}
    for s in found:
        if s.name == name and s.labels.get("action") in actions and match.items() <= s.labels.items():
            sums[s.labels["stream"]] = sums.get(s.labels["stream"], 0.0) + s.value
    return sums


def _monitor_metrics(monitor: list[Sample], stream: Callable[[str], StreamStatus]) -> None:
    """Counts summed over monitors and partitions; each monitor's score weighted by the outcomes it is over."""
    if not monitor:
        return
    for name, judged in _by(monitor, names.PREDICTIONS, "stream").items():
        stream(name).judged = int(judged)
    weights = {tuple(sorted(s.labels.items())): s.value for s in monitor if s.name == names.SCORED_OUTCOMES}
    pooled: dict[tuple[str, str, str, str], list[float]] = {}  # (stream, score, model, window) -> [sum, weight]
    for s in monitor:
        if s.name in POOLED_SCORES and s.labels.get("estimate") == "prequential":
            weight = weights.get(tuple(sorted(s.labels.items())), 1.0)
            key = (s.labels["stream"], POOLED_SCORES[s.name], s.labels["model"], s.labels["window"])
            found = pooled.setdefault(key, [0.0, 0.0])
            found[0] += s.value * weight
            found[1] += weight
        elif s.name == names.DRIFT_DETECTED:
            status = stream(s.labels["stream"])
            attribute = "concept_drifts" if s.labels["kind"] == "concept" else "data_drifts"
            setattr(status, attribute, (getattr(status, attribute) or 0) + int(s.value))
        elif s.name == names.DRIFT_LAST_DETECTED:
            status = stream(s.labels["stream"])
            if status.last_drift is None or s.value > status.last_drift.ts:
                labels = s.labels
                status.last_drift = Drift(s.value, labels["kind"], labels.get("feature", ""), labels.get("model", ""))
    for (name, score, model, window), (total, weight) in pooled.items():
        status = stream(name)
        status.score_name = score
        if weight:
            status.scores.setdefault(model, {})[window] = total / weight


#: The trainer's per candidate gauges, and what each says of a candidate.
CANDIDATE_FIGURES = {
    names.TRAINER_CANDIDATE_ACCURACY: "accuracy",
    names.TRAINER_CANDIDATE_MAE: "mae",
    names.TRAINER_CANDIDATE_PREDICT_SECONDS: "predict_seconds",
    names.TRAINER_CANDIDATE_LEARN_SECONDS: "learn_seconds",
}


def _candidates(trainer: list[Sample], stream: Callable[[str], StreamStatus]) -> None:
    """The trainer's per candidate gauges: score (accuracy or MAE), seconds per predict and learn."""
    found: dict[tuple[str, str], CandidateStatus] = {}
    for s in trainer:
        what = CANDIDATE_FIGURES.get(s.name)
        if what is None or "stream" not in s.labels or "model" not in s.labels:
            continue
        candidate = found.setdefault((s.labels["stream"], s.labels["model"]), CandidateStatus(s.labels["model"]))
        if what in ("accuracy", "mae"):
            candidate.score_name, candidate.score = what, s.value
        elif what == "predict_seconds":
            candidate.predict_us = s.value * 1e6
        elif what == "learn_seconds":
            candidate.learn_us = s.value * 1e6
    for (name, _), candidate in sorted(found.items()):
        stream(name).candidates.append(candidate)


def _model_keys(
    models: list[dict[str, Any]] | None, ui: dict[str, Any] | None, stream: Callable[[str], StreamStatus]
) -> None:
    keys: dict[str, KeyStatus] = {}
    # The monitor lists each stream's most recently active keys first: they lead the table.
    for entry in (ui or {}).get("streams", []):
        for seen in entry.get("keys", []):
            marks = [m for m in seen.get("marks", []) if m["kind"] in ("drift", "data")]
            last = marks[-1] if marks else None
            keys[seen["model_key"]] = KeyStatus(
                seen["model_key"],
                model=seen.get("model"),
                version=seen.get("version"),
                recent_score=seen["score"][-1] if seen.get("score") else None,
                concept_drifts=seen.get("drifts"),
                data_drifts=seen.get("data_drifts"),
                last_drift=Drift(
                    last["t"], "concept" if last["kind"] == "drift" else "data", last["text"], seen["model"], "event"
                )
                if last
                else None,
            )
    # The trainer's word on model, version and learned count is the one that counts: it serves them.
    for served in sorted(models or [], key=lambda m: m["model_key"]):
        key = keys.setdefault(served["model_key"], KeyStatus(served["model_key"]))
        key.model, key.version, key.learned = served["model_name"], served["model_version"], served["learned"]
    for key in keys.values():
        stream(stream_of(key.model_key)).model_keys.append(key)


def as_json(status: Status) -> dict[str, Any]:
    """The status as plain data (``driftline status --json``)."""
    data = dataclasses.asdict(status)
    for entry, s in zip(data["streams"], status.streams, strict=True):
        entry["versions"] = list(s.versions) if s.versions else None
    return data


# Rendering


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _clock(ts: float) -> str:
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


class _Latest:
    """A renderable that shows whatever was last put in it (the poller replaces it, rich draws it)."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich__(self) -> RenderableType:
        return self.renderable


@contextmanager
def live_view(sources: Sources, console: Console, *above: RenderableType, every: float = 1.0) -> Iterator[None]:
    """Show ``above`` (say, a Progress that is not started) over the services' per-stream view, asked
    every ``every`` seconds, until the block ends.

    On a terminal it is redrawn in place; elsewhere (CI logs) rich prints it once, at the end.
    """
    latest = _Latest(Text("asking the services ...", style="dim"))
    stop = threading.Event()

    def poll() -> None:
        previous = None
        while not stop.is_set():
            try:
                snapshot = fetch(sources, timeout=max(every, 1.0))
                latest.renderable = render_live(shape(snapshot, previous))
                previous = snapshot
            except Exception as e:  # the view must never stop what it watches: it says what went wrong
                log.debug("status view failed", exc_info=True)
                latest.renderable = Text(f"status view: {type(e).__name__}: {e}", style="yellow")
            stop.wait(every)

    live = Live(Group(*above, latest), console=console, refresh_per_second=4)
    poller = threading.Thread(target=poll, name="status-live", daemon=True)
    live.start()
    poller.start()
    try:
        yield
    finally:
        stop.set()
        poller.join(timeout=5)
        live.stop()
        if not console.is_terminal:
            console.line()  # rich ends the last drawing with a new line on terminals only


# The command


def snapshot_status(sources: Sources, previous: Snapshot | None = None) -> tuple[Snapshot, Status]:
    snapshot = fetch(sources)
    return snapshot, shape(snapshot, previous)


def _refuse_if_silent(status: Status) -> None:
    if not status.answered:
        raise ServicesUnreachable(
            "no service answered: " + "; ".join(failure.describe() for failure in status.failures)
        )


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        config: ConfigOption = None,
        trainer: Annotated[
            str | None, typer.Option(help="The trainer's URL (default: its configured port on 127.0.0.1).")
        ] = None,
        monitor: Annotated[
            list[str] | None,
            typer.Option(
                help="A monitor's URL; repeat for every monitor of the group, whose partitions add up "
                "(default: its configured port on 127.0.0.1)."
            ),
        ] = None,
        collector: Annotated[
            str | None, typer.Option(help="The collector's URL (default: its configured port on 127.0.0.1).")
        ] = None,
        token: Annotated[
            str | None,
            typer.Option(help="The trainer's api token for /models (default: trainer.api_token).", envvar=TOKEN_ENV),
        ] = None,
        as_json_: Annotated[bool, typer.Option("--json", help="Print JSON (a line per look with --watch).")] = False,
        watch: Annotated[bool, typer.Option("--watch", help="Look again every --every seconds until Ctrl-C.")] = False,
        every: Annotated[float, typer.Option(min=0.2, help="Seconds between looks, with --watch.")] = 2.0,
        keys: Annotated[int, typer.Option(min=0, help="Model keys shown per stream (--json has all).")] = KEYS_SHOWN,
    ) -> None:
        """What the running trainer, monitor and collector report: per stream and model key the model,
        version, learned count, accuracy, drifts, resets and lag. Exit 2 when none answers."""
        import json

        from driftline.config import load_settings

        sources = Sources.of(load_settings(config), trainer, monitor, collector, token)
        console = Console()
        if not watch:
            _, shaped = snapshot_status(sources)
            _refuse_if_silent(shaped)
            if as_json_:
                typer.echo(json.dumps(as_json(shaped), indent=1))
            else:
                console.print(render(shaped, keys))
            return
        previous: Snapshot | None = None
        try:
            if as_json_ or not console.is_terminal:
                # Into a file or a pipe: one look after the other (JSON: a line each), not redrawn.
                while True:
                    previous, shaped = snapshot_status(sources, previous)
                    if as_json_:
                        typer.echo(json.dumps(as_json(shaped)))
                    else:
                        console.print(f"at {_clock(shaped.taken)} UTC:", render(shaped, keys))
                    time.sleep(every)
            with Live(console=console, auto_refresh=False) as live:
                while True:
                    previous, shaped = snapshot_status(sources, previous)
                    live.update(render(shaped, keys), refresh=True)
                    time.sleep(every)
        except KeyboardInterrupt:
            return
