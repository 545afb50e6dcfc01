"""The collector's commands: ``collector``, ``replay``, ``simulate``, ``archive`` and ``export``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from driftline.cli_options import (
    DEVICE_TOKEN_ENV,
    BootstrapOption,
    CollectorOption,
    ConfigOption,
    OldCollectorOption,
    collector_url,
    output_folder,
    require_bootstrap,
    with_bootstrap,
)
from driftline.collector.simulator.schedule import MIN_EVENTS

if TYPE_CHECKING:
    from contextlib import ExitStack

    from driftline.config.settings import Settings

RateOption = Annotated[float | None, typer.Option(min=0.001, help="Events per second; default: as fast as possible.")]


class Scenario(StrEnum):
    """The simulator's fleets, each posting to the stream of its name."""

    rooms = "rooms"
    machines = "machines"


class Format(StrEnum):
    """The files `driftline export` writes."""

    parquet = "parquet"
    csv = "csv"


@contextmanager
def _kafka(settings: Settings, command: str, alternative: str = "") -> Iterator[str]:
    """``kafka_for(settings)``, refusing up front in the command's words when no Kafka is configured."""
    from driftline.runtime import kafka_for

    # kafka_for refuses too, but cannot name the command nor what else it could do.
    require_bootstrap(settings, command, alternative)
    with kafka_for(settings) as bootstrap:
        yield bootstrap


def register(app: typer.Typer) -> None:
    @app.command("collector")
    def collector(
        config: ConfigOption = None,
        mqtt: Annotated[bool | None, typer.Option("--mqtt/--no-mqtt", help="Run the MQTT bridge too.")] = None,
        workers: Annotated[
            int | None, typer.Option(min=1, max=64, help="Processes sharing the port (collector.workers).")
        ] = None,
    ) -> None:
        """Serve HTTP ingest (OpenAPI at /docs) and, with --mqtt or collector.mqtt.enabled, the MQTT bridge.

        Publishes to the Kafka cluster of kafka.bootstrap_servers, which must be set.
        """
        from driftline.collector.worker import serve
        from driftline.config import load_settings

        settings = load_settings(config)
        overrides = {"workers": workers, "mqtt": None if mqtt is None else settings.collector.mqtt.model_copy(
            update={"enabled": mqtt})}  # fmt: skip
        update = {k: v for k, v in overrides.items() if v is not None}
        settings = settings.model_copy(update={"collector": settings.collector.model_copy(update=update)})
        with _kafka(settings, "collector"):
            serve(settings, config)

    @app.command()
    def replay(
        source: Annotated[str, typer.Argument(help="A .csv or .parquet file, or river:<Dataset> (river:Phishing).")],
        stream: Annotated[str, typer.Option(help="The configured stream the events belong to.")],
        config: ConfigOption = None,
        device: Annotated[str, typer.Option(help="Device id the events are sent as.")] = "replay",
        target: Annotated[str | None, typer.Option(help="Label column (default: the stream's target).")] = None,
        ts_column: Annotated[
            str | None, typer.Option(help="Event-time column; default: 1 s per row, the last one now.")
        ] = None,
        rate: RateOption = None,
        limit: Annotated[int | None, typer.Option(min=1, help="Replay at most this many rows.")] = None,
        batch: Annotated[int, typer.Option(min=1, help="Events per Kafka (or HTTP) batch.")] = 500,
        collector: CollectorOption = None,
        token: Annotated[
            str | None, typer.Option(help="The device's token, with --collector.", envvar=DEVICE_TOKEN_ENV)
        ] = None,
        bootstrap: BootstrapOption = None,
        url: OldCollectorOption = None,
    ) -> None:
        """Push a file or a River dataset through the collector's validation, with a progress bar.

        Straight into Kafka (--bootstrap, else kafka.bootstrap_servers), or with --collector to a
        running collector (as --device with --token; Kafka is then not needed).
        """
        from contextlib import ExitStack

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from driftline.collector.client import CollectorError
        from driftline.collector.replay import replay_start, rows_from_source, source_size, to_events
        from driftline.collector.simulator.run import paced
        from driftline.config import load_settings
        from driftline.config.base import ConfigError

        collector = collector_url(collector, url)
        settings = with_bootstrap(load_settings(config), bootstrap)
        column = target or settings.stream(stream).target
        size = source_size(source)
        start = replay_start(min(size, limit or size) if size is not None else limit, 1.0)
        events = to_events(rows_from_source(source, column), stream, device, column, ts_column, start, limit=limit)
        accepted = rejected = 0
        started = time.monotonic()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[rate]:.0f} ev/s"))  # fmt: skip
        with ExitStack() as stack:
            if collector is None:
                servers = stack.enter_context(_kafka(settings, "replay", ", or pass --collector to post to one"))
                send = _to_kafka(stack, settings, servers, stream)
            else:
                send = _to_collector(stack, collector, stream, device, token)
            bar = stack.enter_context(Progress(*columns))
            task = bar.add_task(f"replay {source} -> {stream}", total=limit, rate=0.0)
            for chunk in paced(events, rate, batch):
                try:
                    n_rejected = send(chunk)
                except CollectorError as e:
                    raise ConfigError(f"replay: {e}") from None
                rejected += n_rejected
                accepted += len(chunk) - n_rejected
                elapsed = time.monotonic() - started
                bar.update(task, advance=len(chunk), rate=(accepted + rejected) / elapsed if elapsed else 0.0)
        typer.echo(f"replayed {accepted + rejected} rows: {accepted} accepted, {rejected} rejected (dead-lettered)")
        if not accepted:
            # Nothing reached the stream: a success code would let a script carry on as if it had.
            why = "the source has no rows" if not rejected else "every row was rejected"
            typer.echo(f"error: replay delivered nothing: {why}; compare the source's columns with the "
                       f"features of stream {stream!r} (`driftline config`)", err=True)  # fmt: skip
            raise typer.Exit(1)

    @app.command()
    def simulate(
        config: ConfigOption = None,
        scenario: Annotated[
            list[Scenario] | None, typer.Option(help="The fleet to simulate; repeat for both (default: both).")
        ] = None,
        devices: Annotated[int, typer.Option(min=1, help="Virtual sensors per scenario.")] = 4,
        events: Annotated[int, typer.Option(min=MIN_EVENTS, help="Events per scenario.")] = 10_000,
        seed: Annotated[int, typer.Option(help="Same seed, same run.")] = 0,
        rate: RateOption = None,
        late_labels: Annotated[float, typer.Option(help="Fraction of labels sent later as LabelEvents.")] = 0.2,
        duplicates: Annotated[float, typer.Option(help="Fraction of events sent twice.")] = 0.01,
        disorder: Annotated[float, typer.Option(help="Fraction of events sent out of order.")] = 0.02,
        faults: Annotated[float, typer.Option(help="Per-event chance a sensor fault starts.")] = 0.003,
        out: Annotated[
            Path | None,
            typer.Option(
                help="Where drift_points.json/.csv go (default: state_dir/simulation).", callback=output_folder
            ),
        ] = None,
        collector: Annotated[
            str | None,
            typer.Option("--collector", help="Post to the collector of this URL instead of Kafka (needs --tokens)."),
        ] = None,
        tokens: Annotated[
            Path | None, typer.Option(help="JSON file {device_id: token} for --collector.", dir_okay=False)
        ] = None,
        bootstrap: BootstrapOption = None,
        url: OldCollectorOption = None,
    ) -> None:
        """Run a fleet of virtual sensors with scheduled drift (abrupt, gradual, incremental, recurring) and faults.

        Into Kafka (--bootstrap, else kafka.bootstrap_servers), or with --collector and --tokens to a
        running collector.
        """

        from rich.progress import Progress

        from driftline.collector.client import CollectorError
        from driftline.collector.simulator import SimOptions
        from driftline.collector.simulator.run import build_simulations, run_simulation
        from driftline.config import load_settings
        from driftline.config.base import ConfigError

        collector = collector_url(collector, url)
        settings = with_bootstrap(load_settings(config), bootstrap)
        names = [s.value for s in scenario] if scenario else [s.value for s in Scenario]
        options = SimOptions(
            devices=devices, events=events, seed=seed, late_label_fraction=late_labels, duplicate_rate=duplicates,
            out_of_order_rate=disorder, fault_rate=faults, interval_s=1.0 / rate if rate else 1.0 / devices,
        )  # fmt: skip
        build_simulations(settings, names, options)  # a scenario that cannot run fails before Kafka is reached
        token_map = _tokens(tokens) if tokens else None
        if tokens and not collector:
            raise ConfigError("simulate --tokens: the tokens are for a collector; pass its --collector URL too")
        alternative = ", or pass --collector and --tokens to post to one"
        if not collector:
            require_bootstrap(settings, "simulate", alternative)  # before the progress bar shows
        with Progress() as bar:
            task = bar.add_task("simulate", total=None)
            progress = lambda n: bar.update(task, advance=n)  # noqa: E731
            if collector:
                try:
                    report = run_simulation(settings, scenarios=names, options=options, rate=rate,
                                            collector_url=collector, tokens=token_map, out_dir=out,
                                            progress=progress)  # fmt: skip
                except CollectorError as e:
                    raise ConfigError(f"simulate: {e}") from None
            else:
                with _kafka(settings, "simulate", alternative) as servers:
                    report = run_simulation(settings, servers, scenarios=names, options=options, rate=rate,
                                            out_dir=out, progress=progress)  # fmt: skip
        typer.echo(str(report))

    @app.command()
    def archive(
        config: ConfigOption = None,
        lake: Annotated[
            Path | None,
            typer.Option(help="Lake folder (default: collector.lake_dir or state_dir/lake).", callback=output_folder),
        ] = None,
        idle_exit: Annotated[float | None, typer.Option(help="Stop after this many seconds without events.")] = None,
        bootstrap: BootstrapOption = None,
    ) -> None:
        """Archive the events and labels topics into Parquet files by stream and date, until Ctrl-C (or --idle-exit).

        Reads Kafka (--bootstrap, else kafka.bootstrap_servers, which must then be set).
        """
        from driftline.collector.archiver import Archiver
        from driftline.config import load_settings
        from driftline.runtime import stop_on_signals

        settings = with_bootstrap(load_settings(config), bootstrap)
        with _kafka(settings, "archive") as servers:
            archiver = Archiver(settings, servers, lake)
            # SIGTERM too (the stack stops it so): the buffered batch is written on the way out.
            archiver.run(stop_on_signals(), idle_exit_s=idle_exit)
        archived = f"{archiver.archived} events and {archiver.archived_labels} labels"
        typer.echo(f"archived {archived} into {archiver.lake_dir}")

    @app.command("export")
    def export_cmd(
        stream: Annotated[str, typer.Option("--stream", help="The stream to export.")],
        config: ConfigOption = None,
        lake: Annotated[
            Path | None, typer.Option(help="Lake folder (default: collector.lake_dir or state_dir/lake).")
        ] = None,
        out: Annotated[Path, typer.Option(help="Output folder.", callback=output_folder)] = Path("export"),
        split: Annotated[str, typer.Option(help="train,validation,test fractions, oldest first.")] = "0.7,0.15,0.15",
        fmt: Annotated[Format, typer.Option("--format", help="The files to write.")] = Format.parquet,
    ) -> None:
        """Write train/validation/test files of a stream from the lake, split by event time."""
        from driftline.config import load_settings
        from driftline.config.base import ConfigError
        from driftline.lake import Split, export

        try:
            fractions = Split.parse(split)
        except ValueError as e:
            raise ConfigError(f"export --split: {e}") from None
        settings = load_settings(config)
        folder = lake or settings.collector.lake_dir or settings.state_dir / "lake"
        try:
            paths = export(folder, stream, out, fractions, settings.stream(stream).target, fmt.value)
        except ValueError as e:
            raise ConfigError(f"export: {e}") from None
        for name, path in paths.items():
            typer.echo(f"{name}: {path}")


def _tokens(path: Path) -> dict[str, str]:
    """The ``{device_id: token}`` of a JSON file; a :class:`~driftline.config.base.ConfigError` naming the file
    otherwise."""
    import json

    from driftline.config.base import ConfigError

    try:
        tokens = json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"--tokens {path}: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"--tokens {path}: not JSON ({e})") from None
    if not isinstance(tokens, dict) or not all(isinstance(v, str) for v in tokens.values()):
        raise ConfigError(f'--tokens {path}: expected a JSON object of device id -> token, e.g. {{"rooms-000": "..."}}')
    return tokens


def _to_kafka(stack: ExitStack, settings: Settings, bootstrap: str, stream: str) -> Callable[[list[Any]], int]:
    """Replay's sender into Kafka: validate and publish a chunk, return how many items were rejected."""
    from driftline.collector.ingest import Rejected
    from driftline.collector.intake import Ingestor
    from driftline.collector.publisher import Publisher

    publisher = Publisher(bootstrap, settings.collector.send_timeout_s)
    stack.callback(publisher.close)
    ingestor = Ingestor(settings, publisher)
    return lambda chunk: sum(isinstance(r, Rejected) for r in ingestor.ingest(chunk, "events", stream, None, "replay"))


def _to_collector(
    stack: ExitStack, url: str, stream: str, device: str, token: str | None
) -> Callable[[list[Any]], int]:
    """Replay's sender to a running collector: post a chunk, return how many items it rejected."""
    import httpx

    from driftline.collector.client import post_items

    client = stack.enter_context(httpx.Client(base_url=url.rstrip("/"), timeout=30))
    return lambda chunk: post_items(client, stream, "events", chunk, device, token)
