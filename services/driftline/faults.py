"""Crash points for the fault tests: the process kills itself with SIGKILL where a real crash would hurt most.

``DRIFTLINE_CRASH_AT=point:n`` makes the *n*-th arrival at ``crash_point("point")`` a ``kill -9``
of the running process: no cleanup, no flush, exactly what a power cut leaves behind. Unset (the
default) every point is a dictionary look-up and nothing else. Points: ``checkpoint`` (a checkpoint
half written, its transaction open) and ``commit`` (outputs produced, the transaction not committed).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

_point, _, _count = os.environ.get("DRIFTLINE_CRASH_AT", "").partition(":")
_remaining = {_point: int(_count or 1)} if _point else {}


def crash_point(name: str, before: Callable[[], object] | None = None) -> None:
    """Kill this process here if the plan says so; ``before`` runs first (to make the moment real)."""
    if name in _remaining:
        _remaining[name] -= 1
        if _remaining[name] <= 0:
            if before is not None:
                before()
            os.kill(os.getpid(), signal.SIGKILL)
