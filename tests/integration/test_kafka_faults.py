"""A broker outage under load, against a real broker: every service waits it out and loses nothing.

The scenario (`driftline_lab.faults`) runs the trainer and the monitor as real processes and
devices posting through the collector's HTTP API the whole time; `driftline bench faults` reports
the same runs at full length. Its invariants are those of chaos (`driftline_lab.invariants`); a
cluster node killed under load is one of the faults `tests/integration/test_chaos.py` injects.
"""

from __future__ import annotations

from pathlib import Path

from driftline_lab.faults import SERVICES, run


def test_a_broker_outage_is_waited_out_by_every_service(tmp_path: Path) -> None:
    result = run("outage", tmp_path, backlog=900, during=100, after=100, outage_s=20.0)
    assert result.problems() == []
    assert result.outcomes == result.accepted
    assert all(result.unhealthy_during[s] for s in SERVICES), f"/healthz said 503: {result.unhealthy_during}"
    assert result.refused > 0, "the outage reached the devices (503 with Retry-After)"
    assert result.recoveries["trainer"] >= 1, "the trainer's loop met the fault and started over"
