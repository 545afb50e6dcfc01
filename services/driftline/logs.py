"""driftline's logging: one format for every command and every process it starts."""

from __future__ import annotations

import logging
import os

#: Set by a command for the processes it starts (collector workers), so they log as verbosely.
LEVEL_ENV = "DRIFTLINE_LOG_LEVEL"


def setup_logging(verbose: bool | None = None) -> None:
    """driftline's lines at INFO (DEBUG when ``verbose``), chatty libraries at WARNING."""
    if verbose is None:
        verbose = os.environ.get(LEVEL_ENV) == "DEBUG"
    os.environ[LEVEL_ENV] = "DEBUG" if verbose else "INFO"
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kafka-python narrates every connection at INFO; keep the terminal for driftline's own story.
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else logging.WARNING)
    for chatty in ("httpx", "matplotlib"):  # a line per request, per font cache
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbose else logging.WARNING)
