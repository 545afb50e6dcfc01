"""`driftline collector`: command-line entry of the collector service."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("collector")
    def run() -> None:
        """Ingest sensor events over HTTP and MQTT into Kafka."""
        typer.echo("the collector service is not built yet (issue #3)", err=True)
        raise typer.Exit(1)
