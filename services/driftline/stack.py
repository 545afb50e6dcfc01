"""``driftline stack``: the whole pipeline on one machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def stack(
        config: Annotated[Path | None, typer.Option("--config", "-c", help="Config file.")] = None,
        events: Annotated[int, typer.Option(help="Events for the smoke run.")] = 2000,
    ) -> None:
        """Run the local stack: Kafka (started here when none is configured) and a smoke run."""
        from driftline.config import load_settings
        from driftline.runtime import kafka_for
        from driftline.smoke import round_trip

        settings = load_settings(config)
        with kafka_for(settings) as bootstrap:
            typer.echo(round_trip(bootstrap, settings, events))
