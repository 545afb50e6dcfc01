"""`driftline trainer`: run the trainer service."""

from __future__ import annotations

from typing import Annotated

import typer

from driftline.cli_options import ConfigOption


def register(app: typer.Typer) -> None:
    @app.command("trainer")
    def run(
        config: ConfigOption = None,
        port: Annotated[int | None, typer.Option(help="HTTP port for /predict and /metrics (default: config).")] = None,
    ) -> None:
        """Clean events and learn River models online, predict-then-learn; serve /predict and /metrics."""
        from driftline.config import load_settings
        from driftline.runtime import kafka_for, stop_on_signals
        from driftline.trainer.api import api_token
        from driftline.trainer.runner import TrainerRunner

        settings = load_settings(config)
        api_token(settings)  # an unguarded HTTP setup is refused before Kafka is even looked for
        stop = stop_on_signals()
        with kafka_for(settings) as bootstrap:
            runner = TrainerRunner(settings, bootstrap, port=port)
            try:
                runner.start()
            except RuntimeError as e:
                # A refused checkpoint, no partitions, Kafka gone: one line, not a traceback.
                typer.echo(f"error: {e}", err=True)
                raise typer.Exit(1) from None
            try:
                typer.echo(f"trainer: consuming {settings.topics.events.name} on {bootstrap}; HTTP on {runner.url}")
                while not stop.wait(1.0):
                    if problem := runner.stopped():
                        typer.echo(f"error: {problem}", err=True)
                        raise typer.Exit(1)
            finally:
                runner.stop()
