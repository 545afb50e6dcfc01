"""Options every ``driftline`` subcommand shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: $DRIFTLINE_CONFIG or config/driftline.toml)."),
]
