"""`driftline bench scale --quick`: memory, checkpoints and both hand-overs (smoke, not timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_scale_bench_measures_memory_checkpoints_and_both_hand_overs(tmp_path: Path, bootstrap: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "driftline.cli", "bench", "scale", "--quick", "--out", str(tmp_path),
         "--bootstrap", bootstrap],
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
