"""Kafka faults under load, against real brokers: every service waits them out and loses nothing.

The scenario (`driftline_lab.faults`) runs the trainer and the monitor as real processes and
devices posting through the collector's HTTP API the whole time; `driftline bench faults` reports
the same runs at full length.
"""

from __future__ import annotations

from pathlib import Path

from driftline_lab.faults import SERVICES, FaultRun, run


def assert_nothing_lost(result: FaultRun) -> None:
    assert result.accepted > 0 and result.missing == 0, "every acknowledged event has an outcome"
    assert result.duplicates == 0 and result.unexpected == 0, "exactly once, and only acknowledged events"
    assert result.outcomes == result.accepted
    assert result.monitor_counted == result.accepted, "the monitor counted each outcome once"
    assert result.archived_missing == 0, "the lake holds every acknowledged event"
    assert set(result.exits.values()) == {None}, f"a service exited: {result.exits}"
    assert all(result.healthy_after[s] for s in SERVICES), result.healthy_after


def test_a_broker_outage_is_waited_out_by_every_service(tmp_path: Path) -> None:
    result = run("outage", tmp_path, backlog=900, during=100, after=100, outage_s=20.0)
    assert_nothing_lost(result)
    assert all(result.unhealthy_during[s] for s in SERVICES), f"/healthz said 503: {result.unhealthy_during}"
    assert result.refused > 0, "the outage reached the devices (503 with Retry-After)"
    assert result.recoveries["trainer"] >= 1, "the trainer's loop met the fault and started over"


def test_a_cluster_node_killed_under_load_loses_nothing(tmp_path: Path) -> None:
    result = run("node_loss", tmp_path, backlog=900, during=200, after=100)
    assert_nothing_lost(result)
