"""`driftline bench throughput --quick`: the side-by-side benchmark runs end to end (a smoke check, not timed)."""

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
    [case] = json.loads((tmp_path / "throughput.json").read_text())
    assert set(case["runs"]) == {"river", "driftline exactly-once", "driftline at-least-once", "quix"}
    assert case["identical"] is True and not any(case["differing"].values())
    for runs in case["runs"].values():
        assert [run["events"] for run in runs] == [500] and all(run["wall_s"] > 0 for run in runs)
    table = (tmp_path / "throughput.md").read_text()
    assert "| logistic | 1 | driftline exactly-once |" in table and "identical" in table
    assert (tmp_path / "throughput.png").stat().st_size > 10_000
