"""`driftline bench soak --quick`: the fleet, every service sampled, every event accounted for (smoke, not timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_soak_samples_every_service_while_the_fleet_posts_and_accounts_for_every_event(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "driftline.cli", "bench", "soak", "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((tmp_path / "soak.json").read_text())
    # The rate is half a capacity measured in the run; the fleet posted at it, through the collector.
    assert data["capacity"] > 0 and data["rate"] == data["capacity"] / 2 and data["achieved"] > 0
    assert data["sent"]["events"] > 0 and data["sent"]["labels"] > 0 and data["sent"]["error"] is None
    assert not data["died"]
    services = {"collector", "trainer", "monitor", "archiver"}
    assert {x["service"] for x in data["trends"]} == services
    for x in data["trends"]:
        assert x["samples"] >= 3 and x["alive"] and 0 < x["min_mb"] <= x["median_mb"] <= x["max_mb"]
    assert all(set(s["rss_mb"]) >= services and s["rss_mb"]["trainer"] > 0 for s in data["samples"])
    counts = data["counts"]
    assert counts["trainer consumed events"] == data["sent"]["events"] - data["sent"]["rejected"] > 0
    assert 0 < counts["monitor predictions"] == counts["trainer predicted (outcomes)"]
    assert counts["events in the lake"] == counts["trainer consumed events"]
    assert data["drained_s"] is not None
    # Targets are reported, not asserted: only that each is there.
    targets = {t["target"] for t in data["targets"]}
    assert {f"{name}: RSS flat within 10% (end vs start; fitted rise)" for name in services} <= targets
    table = (tmp_path / "soak.md").read_text()
    assert "| trainer |" in table and "## Targets" in table and "`driftline bench soak --quick" in table
    assert (tmp_path / "soak.png").stat().st_size > 10_000
