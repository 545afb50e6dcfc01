"""`driftline monitor`: command-line entry of the monitor service."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("monitor")
    def run() -> None:
        """Turn outcomes into accuracy and drift metrics on /metrics."""
        typer.echo("the monitor service is not built yet (issue #5)", err=True)
        raise typer.Exit(1)
