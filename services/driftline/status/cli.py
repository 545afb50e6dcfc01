"""``driftline status``: what the running trainer, monitor and collector report, once or ``--watch``."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from driftline.cli_options import ConfigOption
from driftline.status.fetching import TOKEN_ENV, Snapshot, Sources, fetch
from driftline.status.rendering import KEYS_SHOWN, clock, render
from driftline.status.shaping import Status, as_json, shape


class ServicesUnreachable(RuntimeError):
    """No service answered at any of the URLs asked."""


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
                        console.print(f"at {clock(shaped.taken)} UTC:", render(shaped, keys))
                    time.sleep(every)
            with Live(console=console, auto_refresh=False) as live:
                while True:
                    previous, shaped = snapshot_status(sources, previous)
                    live.update(render(shaped, keys), refresh=True)
                    time.sleep(every)
        except KeyboardInterrupt:
            return
