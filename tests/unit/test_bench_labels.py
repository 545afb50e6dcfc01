"""`driftline bench labels --quick`: both measurements end to end, in process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from driftline_lab.labels import Plan, budget_curve, calibration_error, estimate_error, run


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("labels")
    path = run(Plan.quick(), out, "pytest", lambda _: None, lambda total: lambda: None)
    return path, json.loads((out / "labels.json").read_text())


def test_the_quick_run_writes_the_tables_and_both_plots(quick: tuple[Path, dict[str, Any]]) -> None:
    path, data = quick
    text = path.read_text()
    assert "## Accuracy against the label budget" in text and "## Error of the confidence estimate" in text
    plan = Plan.quick()
    for name in plan.budget_streams + plan.estimate_streams:
        assert f"| {name} |" in text
    for png in ("labels.png", "labels-estimate.png"):
        image = path.parent / png
        assert image.read_bytes().startswith(b"\x89PNG") and image.stat().st_size > 10_000
    assert [r["stream"] for r in data["estimate"]] == list(plan.estimate_streams)
    assert [r["drift"] for r in data["estimate"]] == [False, False, True]


def test_the_calibration_table_sets_each_method_beside_the_raw_estimate(quick: tuple[Path, dict[str, Any]]) -> None:
    path, data = quick
    plan = Plan.quick()
    assert "### Labels first, then a stretch without: raw against calibrated" in path.read_text()
    rows = data["calibration"]
    assert [(r["model"], r["stream"]) for r in rows] == [(m, s) for m in plan.calibration_models
                                                          for s in plan.calibration_streams]  # fmt: skip
    for row in rows:
        assert 0 < row["realised"] <= 1
        for method in ("raw", "isotonic", "platt", "histogram"):
            assert 0 <= row[method]["mae"] <= row[method]["max"] <= 1


def test_a_real_stream_is_shuffled_and_its_last_fifth_goes_without_labels() -> None:
    [row] = calibration_error("Phishing", 0, "logistic", 5000, 1000, 2000)
    assert (row["labelled"], row["unlabelled"]) == (1000, 250)
    assert all(0 < row[method] <= 1 for method in ("raw", "isotonic", "platt", "histogram"))


def test_every_budget_is_kept_and_a_full_budget_is_the_same_for_both(quick: tuple[Path, dict[str, Any]]) -> None:
    _, data = quick
    for row in data["budget"]:
        for budget, cell in row["by_budget"].items():
            assert 0.8 * float(budget) <= cell["uncertainty_label_share"] <= float(budget)
            if float(budget) == 1.0:
                assert cell["uncertainty"] == cell["random"]  # every label learned, whoever chose


def test_a_budget_curve_learns_only_what_was_asked() -> None:
    rows = budget_curve("Phishing", 0, "logistic", (0.02, 1.0), 1250)
    by = {(r["budget"], r["chooser"]): r for r in rows}
    assert by[(1.0, "uncertainty")]["labels"] == 1250
    assert by[(0.02, "uncertainty")]["labels"] <= 25
    # Fewer labels, worse model: the learning really is limited to the labels asked for.
    assert by[(0.02, "random")]["accuracy"] < by[(1.0, "random")]["accuracy"]


def test_the_estimate_error_is_measured_against_the_same_predictions() -> None:
    stationary, drifting = (
        estimate_error(name, 0, "logistic", 4000, 200, 50)[0] for name in ("SEA stationary", "SEA abrupt")
    )
    assert stationary["change"] is None and stationary["mae_after_change"] is None
    assert drifting["change"] == 2000 and drifting["mae_after_change"] is not None
    assert 0 <= stationary["mae"] <= stationary["max"] <= 1 and abs(stationary["bias"]) <= stationary["mae"]
    # Calibrated on the late labels: closer on a stationary stream than the raw confidence.
    assert 0 <= stationary["calibrated_mae"] < stationary["mae"]
    assert stationary["back_after"] is None and drifting["calibrated_mae_after_change"] is not None


def test_the_command_line_runs_the_quick_benchmark(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "driftline.cli", "bench", "labels", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "labels.md").read_text().startswith("# Label requests and the accuracy estimate")
    assert "`driftline bench labels --quick" in (tmp_path / "labels.md").read_text()
