"""MonitorService without starting it: its consumer group and what /healthz reports."""

from __future__ import annotations

from driftline.config import settings_from_dict
from driftline.monitor.service import MonitorService


def test_the_consumer_group_comes_from_the_settings() -> None:
    assert settings_from_dict({}).monitor.group_id == "driftline-monitor"
    assert settings_from_dict({"monitor": {"port": 0, "group_id": "mon-a"}}).monitor.group_id == "mon-a"


def test_a_failed_consumer_is_the_problem_healthz_reports() -> None:
    service = MonitorService(settings_from_dict({}), "127.0.0.1:9")
    assert service.problem() is None
    service.error = ConnectionError("broker gone")
    assert service.problem() == "outcome consumer stopped: ConnectionError: broker gone"
