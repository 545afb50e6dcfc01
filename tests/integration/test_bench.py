"""`driftline bench throughput --quick` and `bench soak --quick`: every part runs end to end (smoke, not timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_throughput_benchmark_runs_every_contender_and_they_agree(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "driftline.cli", "bench", "throughput", "--quick", "--out", str(tmp_path)],
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


def test_the_latency_curve_runs_each_guarantee_and_reads_every_outcome(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "driftline.cli", "bench", "latency", "--quick", "--out", str(tmp_path)],
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


def test_the_scale_bench_measures_memory_checkpoints_and_both_hand_overs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "driftline.cli", "bench", "scale", "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((tmp_path / "scale.json").read_text())
    keys = data["keys"]
    assert keys == data["plan"]["keys"] > 0 and data["events"] >= keys and data["fill_s"] > 0
    # Two of each service, splitting the six partitions, each holding memory that grew with the keys.
    instances = {x["name"]: x for x in data["instances"]}
    assert set(instances) == {"trainer-0", "trainer-1", "monitor-0", "monitor-1"}
    for service in ("trainer", "monitor"):
        parts = [instances[f"{service}-{i}"]["partitions"] for i in range(2)]
        assert all(parts) and sorted(parts[0] + parts[1]) == list(range(data["plan"]["partitions"]))
    for x in instances.values():
        assert x["rss_before_mb"] > 0 and 0 < x["rss_mb"] <= x["peak_mb"] < 4096
    assert all(instances[f"trainer-{i}"]["rss_mb"] > instances[f"trainer-{i}"]["rss_before_mb"] for i in range(2))
    # Every partition of each group checkpointed; a trainer's state per key is bytes, not nothing nor megabytes.
    units = data["plan"]["partitions"]
    assert data["checkpoint_units"] == {"trainer": units, "monitor": units}
    assert 100 < data["checkpoint_bytes_per_key"]["trainer"] < 100_000
    assert data["checkpoint_bytes_per_key"]["monitor"] > 0
    # Each kill is taken over: the first probe answered after the session ran out, lag zero no sooner.
    session_s = data["plan"]["session_timeout_ms"] / 1000
    killed = [(h["service"], h["killed"]) for h in data["handovers"]]
    assert killed == [("trainer", "trainer-0"), ("monitor", "monitor-0")]
    for h in data["handovers"]:
        assert h["partitions"] == instances[h["killed"]]["partitions"] and h["probes"] > 0
        assert 0 < h["first_s"] <= h["caught_up_s"] < 120 and h["survivor_rss_mb"] > 0
    trainer_handover = data["handovers"][0]
    assert trainer_handover["first_s"] >= session_s * 0.5  # a killed static member keeps its partitions a while
    assert {t["target"] for t in data["targets"]} >= {"trainer hand-over (kill to lag zero) <= 30 s"}
    table = (tmp_path / "scale.md").read_text()
    for section in ("## Resident memory per instance", "## Checkpoints", "## Hand-over after SIGKILL", "## Targets"):
        assert section in table
