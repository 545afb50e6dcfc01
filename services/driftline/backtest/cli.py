"""``driftline backtest``: read a stream from the lake, replay it through model specs, report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from driftline.cli_options import ConfigOption, output_folder

if TYPE_CHECKING:
    from driftline.config.settings import Settings


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        problem = f"{text!r} is not an ISO 8601 time (such as 2026-01-31T12:00:00Z)"
        raise typer.BadParameter(problem, param_hint=option) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    @app.command()
    def backtest(
        stream: Annotated[str, typer.Option(help="The configured stream to replay.")],
        model: Annotated[
            list[str] | None,
            typer.Option(help="A model spec (preset or pipeline); repeat to compare. Default: the stream's models."),
        ] = None,
        config: ConfigOption = None,
        lake: Annotated[
            Path | None, typer.Option(help="Lake folder (default: collector.lake_dir or state_dir/lake).")
        ] = None,
        start: Annotated[str | None, typer.Option("--from", help="Replay events from this event time (ISO).")] = None,
        end: Annotated[str | None, typer.Option("--to", help="... up to (not including) this event time.")] = None,
        split: Annotated[str, typer.Option(help="train,validation,test fractions, oldest first.")] = "0.7,0.15,0.15",
        out: Annotated[
            Path, typer.Option(help="Folder for <stream>.json and <stream>.png.", callback=output_folder)
        ] = Path("backtest"),
        bootstrap: Annotated[
            str | None, typer.Option(help="A Kafka to read the monitor's drift detections from (for the plot).")
        ] = None,
        window: Annotated[int, typer.Option(min=1, help="Labelled events per point of the rolling accuracy.")] = 200,
    ) -> None:
        """Replay a stream's archived events and labels in event order through fresh models, cleaned as the trainer
        cleans them: prequential metrics, holdout metrics on the time-split validation and test parts, learn and
        predict time per event, and rolling accuracy with the drifts the monitor detected (with --bootstrap).
        """
        import json

        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from driftline.backtest.core import Backtest, check_specs
        from driftline.backtest.report import plot, summary, table
        from driftline.backtest.rows import EmptyReplay, ordered
        from driftline.config import load_settings
        from driftline.config.base import ConfigError
        from driftline.lake import Split, read_labels, read_lake
        from driftline.modelspec import ModelSpecError

        settings = load_settings(config)
        stream_config = settings.stream(stream)
        # By default the stream's champion and challengers, as the trainer runs them (once each).
        specs = model or list(dict.fromkeys([stream_config.model, *stream_config.challengers]))
        try:
            check_specs(specs)
        except ModelSpecError as e:
            raise typer.BadParameter(str(e), param_hint="--model") from None
        try:
            fractions = Split.parse(split)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--split") from None
        since, until = _when(start, "--from"), _when(end, "--to")
        folder = lake or settings.collector.lake_dir or settings.state_dir / "lake"
        try:
            replay = ordered(read_lake(folder, stream), read_labels(folder, stream), fractions, since, until, stream)
        except EmptyReplay as e:
            raise ConfigError(f"backtest: {e} at {folder}") from None

        detections = _detections(settings, bootstrap, stream, since, until) if bootstrap else []
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns) as bar:
            task = bar.add_task(f"backtest {stream} x {len(specs)} models", total=len(replay.rows))
            result = Backtest(stream, stream_config, specs).run(replay.rows, lambda n: bar.update(task, advance=n))

        out.mkdir(parents=True, exist_ok=True)
        figure = plot(result, detections, out / f"{stream}.png", window)
        report = {
            "lake": str(folder),
            "from": since.isoformat() if since else None,
            "to": until.isoformat() if until else None,
            "split": [fractions.train, fractions.validation, fractions.test],
            **summary(result, replay),
            # None: no broker was asked, so the plot shows no detections (not that there were none).
            "detections": [t.isoformat() for t in detections] if bootstrap else None,
            "plot": str(figure) if figure else None,
        }
        (out / f"{stream}.json").write_text(json.dumps(report, indent=1))
        Console().print(table(result))
        typer.echo(f"report: {out / f'{stream}.json'}")
        if figure:
            note = "" if bootstrap else " (no --bootstrap: without the drift topic it shows no detections)"
            typer.echo(f"plot: {figure}{note}")


def _detections(
    settings: Settings, bootstrap: str, stream: str, since: datetime | None, until: datetime | None
) -> list[datetime]:
    """The event times of the concept drifts the monitor detected on ``stream``, from the drift and outcomes topics."""
    from driftline.contracts import DriftEvent, Outcome
    from driftline.drift_plot import detection_times, read_messages
    from driftline.kafkaio.clients import require_reachable

    require_reachable(bootstrap)
    topics = settings.topics
    drifts = [d for d in read_messages(bootstrap, topics.drift.name, topics.drift.partitions, DriftEvent)
              if d.stream == stream]  # fmt: skip
    outcomes = [o for o in read_messages(bootstrap, topics.outcomes.name, topics.outcomes.partitions, Outcome)
                if o.stream == stream] if drifts else []  # fmt: skip
    times = detection_times(outcomes, drifts).get(stream, [])
    return sorted(t for t in times if (since is None or t >= since) and (until is None or t < until))
