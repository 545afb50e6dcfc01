"""`driftline bench latency --quick`: each guarantee's curve point, every outcome read back (smoke, not timed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from kafka import KafkaAdminClient


def topics_of(bootstrap: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def test_the_latency_curve_runs_each_guarantee_and_reads_every_outcome(tmp_path: Path, bootstrap: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "driftline.cli", "bench", "latency", "--quick", "--out", str(tmp_path),
         "--bootstrap", bootstrap],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((tmp_path / "latency.json").read_text())
    points = data["points"]
    assert [(p["guarantee"], p["interval_s"]) for p in points] == [("exactly-once", 0.1), ("at-least-once", 0.1)]
    for p in points:
        assert [run["events"] for run in p["runs"]] == [1000] and p["median_rate"] > 0
        [x] = p["latencies"]
        assert x["rate"] == data["rate"] and x["events"] >= x["rate"]  # every event sent was read back
        assert 0 < x["p50_ms"] <= x["p99_ms"] <= x["max_ms"] and p["median_p99_ms"] == x["p99_ms"]
        assert 0 < x["appended_p50_ms"] <= x["appended_p99_ms"] <= x["appended_max_ms"]
    table = (tmp_path / "latency.md").read_text()
    assert "| exactly-once | 0.1 s |" in table and "| at-least-once | 0.1 s |" in table
    assert (tmp_path / "latency.png").stat().st_size > 10_000
    # On a Kafka it was given, the run deletes the topics it made (driftline's default ones it may have met stay).
    # Which those are, its log says: other tests make topics of the same names' shape on the shared broker meanwhile.
    made = {t for line in re.findall(r"created topics (.+)", result.stderr) for t in line.split(", ")}
    made = {t for t in made if t.startswith(("events-", "run-"))}
    assert len(made) >= 4, result.stderr[-3000:]  # each run's events, labels and outputs
    deadline = time.monotonic() + 15
    while (left := made & topics_of(bootstrap)) and time.monotonic() < deadline:
        time.sleep(0.2)  # a deletion the controller accepted reaches the brokers' metadata shortly after
    assert not left, left
