"""`driftline bench replay`: the stack's simulated run through the trainer's core, scored as the stack scores it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from driftline.config import load_settings
from driftline_lab.replay import Plan, replay, with_drift

REPO = Path(__file__).resolve().parents[2]


def test_a_replay_scores_every_true_drift_of_both_scenarios_and_takes_the_judge_given() -> None:
    settings = load_settings(REPO / "config" / "driftline.toml")
    report = replay(settings, Plan(events=3_000, drift={"concept": "CUSUM", "warmup": 200}))
    assert {score.stream for score in report.drifts} == {"rooms", "machines"}
    assert all(score.kind in {"abrupt", "gradual", "incremental", "recurring"} for score in report.drifts)
    # Rooms' abrupt drift takes every room's accuracy from about 0.99 to about 0.5: any judge finds it.
    [abrupt] = [s for s in report.drifts if s.stream == "rooms" and s.kind == "abrupt"]
    assert abrupt.detected and abrupt.detection_delay_events is not None and abrupt.alarms >= 1
    assert all((s.detection_delay_events is not None) == s.detected for s in report.drifts)
    assert set(report.false_alarms) <= {"rooms", "machines"}
    assert with_drift(settings, {"concept": "CUSUM"}).streams["rooms"].drift.concept == "CUSUM"


def test_a_bad_drift_setting_is_one_line_naming_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "driftline.cli", "bench", "replay", "--events", "1000", "--drift", "concept=NOPE"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--drift" in result.stderr and "concept" in result.stderr
