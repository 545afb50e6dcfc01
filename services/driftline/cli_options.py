"""Options every ``driftline`` subcommand shares, and checks of where a command will write."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from driftline.config.settings import Settings

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $DRIFTLINE_CONFIG, else config/driftline.toml, else the built-in starter config).",
    ),
]


def output_folder(path: Path | None) -> Path | None:
    """An option's callback: ``path`` as a folder to write into (made when missing), refused while the command's
    arguments are read, before any work, when it cannot be one."""
    if path is not None:
        existing = next(p for p in (path, *path.parents) if p.exists())  # "." or "/" at the latest
        if not existing.is_dir():
            raise typer.BadParameter(f"{existing} is not a folder" + ("" if existing == path else f" (in {path})"))
        if not os.access(existing, os.W_OK | os.X_OK):
            raise typer.BadParameter(f"{existing}: permission denied, cannot write there")
    return path


def output_file(path: Path | None) -> Path | None:
    """An option's callback: ``path`` as a file to write, refused before any work when it is a folder or its
    folder cannot be."""
    if path is not None:
        if path.is_dir():
            raise typer.BadParameter(f"{path} is a folder, not a file")
        output_folder(path.parent)
    return path


#: The environment variable that names the Kafka cluster, as ``kafka.bootstrap_servers`` does.
BOOTSTRAP_ENV = "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS"

BootstrapOption = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        help=f"Kafka bootstrap servers, host:port[,host:port] (default: kafka.bootstrap_servers, or {BOOTSTRAP_ENV}).",
    ),
]


def with_bootstrap(settings: Settings, bootstrap: str | None) -> Settings:
    """``settings`` reaching the cluster of ``--bootstrap`` when it was given."""
    if not bootstrap:
        return settings
    return settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})})


def require_bootstrap(settings: Settings, command: str, alternative: str = "") -> str:
    """The cluster a command reaches, or a :class:`~driftline.config.base.ConfigError` saying the three ways to
    name one."""
    from driftline.config.base import ConfigError

    if not settings.kafka.bootstrap_servers:
        raise ConfigError(
            f"{command}: no Kafka to reach: pass --bootstrap host:port, set kafka.bootstrap_servers or "
            f"{BOOTSTRAP_ENV}{alternative}, or run `driftline stack` for a local setup with its own broker"
        )
    return settings.kafka.bootstrap_servers


#: The environment variables of the two secrets a command may send: a device's token (to the collector)
#: and the trainer's api token (the variable that sets ``trainer.api_token``).
DEVICE_TOKEN_ENV = "DRIFTLINE_DEVICE_TOKEN"
TRAINER_TOKEN_ENV = "DRIFTLINE_TRAINER__API_TOKEN"

CollectorOption = Annotated[
    str | None, typer.Option("--collector", help="The collector's URL, e.g. http://127.0.0.1:8000.")
]
#: ``--url``, the collector's URL before it was named ``--collector`` as everywhere else: hidden, still read.
OldCollectorOption = Annotated[str | None, typer.Option("--url", hidden=True, help="Deprecated: --collector.")]


def collector_url(collector: str | None, old: str | None) -> str | None:
    """The collector's URL of ``--collector``, else of the deprecated ``--url`` (with a note on stderr)."""
    if old is None:
        return collector
    if collector is not None and collector != old:
        raise typer.BadParameter("--url is the old name of --collector: pass one", param_hint="--url")
    typer.echo("note: --url is deprecated, pass --collector", err=True)
    return old
