"""Options every ``driftline`` subcommand shares, and checks of where a command will write."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

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
