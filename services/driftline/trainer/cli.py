"""`driftline trainer`: command-line entry of the trainer service."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("trainer")
    def run() -> None:
        """Clean events and learn River models online, predict-then-learn."""
        typer.echo("the trainer service is not built yet (issue #4)", err=True)
        raise typer.Exit(1)
