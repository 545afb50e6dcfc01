"""`driftline monitor` and `driftline reset`: command-line entries of the monitor service."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

import typer

from driftline.cli_options import BootstrapOption, ConfigOption, require_bootstrap, with_bootstrap


class Action(StrEnum):
    """What `driftline reset --action` asks of the trainer."""

    reset = "reset"
    rollback = "rollback"
    snapshot = "snapshot"


class Mode(StrEnum):
    """How `driftline reset` starts the model over."""

    cold = "cold"
    warm = "warm"


def register(app: typer.Typer) -> None:
    @app.command("monitor")
    def run(
        config: ConfigOption = None,
        port: Annotated[
            int | None, typer.Option(help="HTTP port for /metrics and /alerts (default: monitor.port).")
        ] = None,
    ) -> None:
        """Turn outcomes into accuracy and drift metrics on /metrics; reset models on Alertmanager alerts.

        Consumes the outcomes topic (counting the drift detections the trainer carries on them),
        serves Prometheus metrics on /metrics, the status page on /ui and Alertmanager's webhook on
        /alerts (bearer token: monitor.webhook_token, else the one generated in
        <state_dir>/monitor/webhook_token). Monitors of one group share the outcomes partitions.
        """
        from driftline.config import load_settings
        from driftline.monitor.service import MonitorService, webhook_token
        from driftline.runtime import kafka_for, stop_on_signals

        settings = load_settings(config)
        webhook_token(settings)  # refused (beyond loopback without a token) before Kafka is looked for
        with kafka_for(settings) as bootstrap:
            service = MonitorService(settings, bootstrap, port=port)
            with service:
                typer.echo(f"monitor on {service.url}/metrics (webhook {service.url}/alerts); Ctrl-C stops it")
                try:
                    service.wait(stop_on_signals())
                except RuntimeError as e:  # the consumer died: one line and a failing exit code
                    typer.echo(f"error: {e}", err=True)
                    raise typer.Exit(1) from None

    @app.command("reset")
    def reset(
        stream: Annotated[str, typer.Option("--stream", help="Stream whose models to reset.")],
        action: Annotated[
            Action,
            typer.Option("--action", help="reset; rollback: serve the newest snapshot; snapshot: write one now."),
        ] = Action.reset,
        model_key: Annotated[
            str | None, typer.Option("--model-key", help="Only this model key (default: every key of the stream).")
        ] = None,
        mode: Annotated[
            Mode, typer.Option("--mode", help="cold: a fresh model; warm: the background model trained on recent data.")
        ] = Mode.cold,
        reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "manual reset",
        bootstrap: BootstrapOption = None,
        config: ConfigOption = None,
    ) -> None:
        """Publish a reset (or rollback, or snapshot) command for a stream or one model key to the control topic."""
        from driftline.config import load_settings
        from driftline.contracts import ControlCommand
        from driftline.kafkaio.clients import cluster, make_producer, require_reachable
        from driftline.monitor.webhook import kafka_publisher

        settings = with_bootstrap(load_settings(config), bootstrap)
        settings.stream(stream)  # a clear error for an unknown stream
        servers = require_bootstrap(settings, "reset")
        require_reachable(servers)
        command = ControlCommand(
            command_id=f"manual-{uuid.uuid4().hex}",
            action=action.value,
            stream=stream,
            model_key=model_key,
            mode=mode.value,
            reason=reason,
            issuer="driftline-cli",
        )
        kafka_publisher(make_producer(cluster(settings, servers)), settings.topics.control.name)([command])
        what = f"{mode.value} reset" if action is Action.reset else action.value
        typer.echo(f"sent {command.command_id}: {what} of {model_key or 'every model of ' + stream}")
