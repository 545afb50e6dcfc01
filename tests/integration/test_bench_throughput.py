"""`driftline bench throughput --quick`: every contender and section runs end to end (smoke, not timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_throughput_benchmark_runs_every_contender_and_they_agree(tmp_path: Path, bootstrap: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "driftline.cli", "bench", "throughput", "--quick", "--out", str(tmp_path),
         "--bootstrap", bootstrap],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((tmp_path / "throughput.json").read_text())
    [case] = data["cases"]
    peers = ["quix defaults", "quix exactly-once"]  # Quix at its own defaults (at least once), and exactly once
    assert set(case["runs"]) == {"river", "driftline exactly-once", "driftline at-least-once", *peers}
    assert case["identical"] is True and not any(case["differing"].values())
    for runs in case["runs"].values():
        assert [run["events"] for run in runs] == [500] and all(run["wall_s"] > 0 for run in runs)
    # Latency at half the trainer's rate, for the trainer both ways and the peer, every event answered.
    assert [x["contender"] for x in data["latency"]] == ["driftline exactly-once", "driftline at-least-once", *peers]
    for x in data["latency"]:
        assert x["events"] >= x["rate"] and 0 < x["p50_ms"] <= x["p95_ms"] <= x["p99_ms"] <= x["max_ms"]
    assert {n: [m["events"] for m in ms] for n, ms in data["scaling"].items()} == {"1": [500], "2": [500]}
    keys = data["keys"]
    assert keys["keys"] == 200 and keys["rss_mb"] > 0 and keys["rss_restored_mb"] > 0 and keys["resume_s"] > 0
    assert {t["target"] for t in data["targets"]} >= {"restart-to-resume <= 10 s"}
    table = (tmp_path / "throughput.md").read_text()
    assert "| logistic | 1 | driftline exactly-once |" in table and "identical" in table
    for pairing in ("each at its defaults", "both at least once", "both exactly once"):
        assert f"driftline / quix (events/s), {pairing}" in table
    for section in ("## Latency at half load", "## Scaling out", "## 200 per-device models", "## Targets"):
        assert section in table
    assert (tmp_path / "throughput.png").stat().st_size > 10_000
