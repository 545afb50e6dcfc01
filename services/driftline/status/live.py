"""The stack's live view: the services' per-stream view, asked again and redrawn in place while a block runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from driftline.status.fetching import Sources, fetch
from driftline.status.rendering import render_live
from driftline.status.shaping import shape

log = logging.getLogger(__name__)


class _Latest:
    """A renderable that shows whatever was last put in it (the poller replaces it, rich draws it)."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich__(self) -> RenderableType:
        return self.renderable


@contextmanager
def live_view(sources: Sources, console: Console, *above: RenderableType, every: float = 1.0) -> Iterator[None]:
    """Show ``above`` (say, a Progress that is not started) over the services' per-stream view, asked
    every ``every`` seconds, until the block ends.

    On a terminal it is redrawn in place; elsewhere (CI logs) rich prints it once, at the end.
    """
    latest = _Latest(Text("asking the services ...", style="dim"))
    stop = threading.Event()

    def poll() -> None:
        previous = None
        while not stop.is_set():
            try:
                snapshot = fetch(sources, timeout=max(every, 1.0))
                latest.renderable = render_live(shape(snapshot, previous))
                previous = snapshot
            except Exception as e:  # the view must never stop what it watches: it says what went wrong
                log.debug("status view failed", exc_info=True)
                latest.renderable = Text(f"status view: {type(e).__name__}: {e}", style="yellow")
            stop.wait(every)

    live = Live(Group(*above, latest), console=console, refresh_per_second=4)
    poller = threading.Thread(target=poll, name="status-live", daemon=True)
    live.start()
    poller.start()
    try:
        yield
    finally:
        stop.set()
        poller.join(timeout=5)
        live.stop()
        if not console.is_terminal:
            console.line()  # rich ends the last drawing with a new line on terminals only
