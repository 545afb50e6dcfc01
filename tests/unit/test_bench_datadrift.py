"""`driftline bench data-drift`: a small run end to end, each detector scored on every part."""

from __future__ import annotations

import json
from pathlib import Path

from driftline_lab.datadrift import DETECTORS, SHIFTS, Plan, run


def test_a_small_run_scores_every_detector_on_every_part(tmp_path: Path) -> None:
    plan = Plan(long=8_000, long_features=2, young=2_000, young_features=3, before=600, horizon=1_500, trials=2, keys=5)
    path = run(plan, tmp_path, "pytest", lambda _: None, lambda total: lambda: None)
    data = json.loads((tmp_path / "datadrift.json").read_text())
    text = path.read_text()
    for name in DETECTORS:
        row = data["detectors"][name]
        assert f"| {name} |" in text
        assert row["false_per_100k_long"] >= 0 and row["false_per_100k_young"] >= 0
        # A whole deviation is found by both within the horizon; the table counts each trial.
        assert row["shifts"]["1.0"]["found"] == plan.trials
        assert set(row["shifts"]) == {str(s) for s in SHIFTS}
        assert row["occupancy"]["points"] == 14 and row["occupancy"]["found"] <= 14
        assert len(row["per_key"]["us_per_event"]) == 5
    # What the default is chosen for: a fraction of River's detector in memory and in checkpoints.
    cusum, adwin = data["detectors"]["CUSUM"]["per_key"], data["detectors"]["ADWIN"]["per_key"]
    assert cusum["memory_bytes"] < adwin["memory_bytes"] / 2
    assert cusum["checkpoint_bytes"] < adwin["checkpoint_bytes"] / 4
