"""`driftline bench tuning`: the quick run end to end, its fixed scores against River's own evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from river import datasets, evaluate, metrics
from typer.testing import CliRunner

from driftline.cli import app
from driftline.config.streams import TuningSpec
from driftline.tuning import candidates
from driftline_lab.tuning import BANDIT, CASES, HALVING


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("tuning")
    result = CliRunner().invoke(app, ["bench", "tuning", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| Phishing | 600 |" in result.output  # the command prints the report it wrote
    return out / "tuning.md", json.loads((out / "tuning.json").read_text())


def test_the_quick_run_writes_the_table_and_the_plot(quick: tuple[Path, dict[str, Any]]) -> None:
    path, data = quick
    text = path.read_text()
    # In process the command line is pytest's own (`driftline` plus whatever pytest was given).
    assert "Made by `driftline" in text and data["plan"] == {"rows": 600, "simulated": 600, "halving_budget": 600}
    assert [c["case"] for c in data["cases"]] == [c.name for c in CASES]
    for case in CASES:
        assert f"| {case.name} |" in text
    png = path.parent / "tuning.png"
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 20_000


def test_each_fixed_score_is_river_s_own_progressive_score(quick: tuple[Path, dict[str, Any]]) -> None:
    _, data = quick
    phishing = next(c for c in data["cases"] if c["case"] == "Phishing")
    case = next(c for c in CASES if c.name == "Phishing")
    for (name, model), row in zip(candidates(case.model, TuningSpec(grid=case.grid)), phishing["fixed"], strict=True):
        rows = list(datasets.Phishing())[: phishing["events"]]
        expected = evaluate.progressive_val_score(rows, model, metrics.Accuracy()).get()
        assert (row["candidate"], row["score"]) == (name, pytest.approx(expected, abs=1e-12))


def test_best_and_worst_are_the_fixed_extremes_and_the_tuned_serve_every_event(
    quick: tuple[Path, dict[str, Any]],
) -> None:
    _, data = quick
    for c in data["cases"]:
        scores = [r["score"] for r in c["fixed"]]
        best, worst = (min, max) if c["metric"] == "MAE" else (max, min)
        assert c["best"]["score"] == best(scores) and c["worst"]["score"] == worst(scores)
        assert [t["selector"] for t in c["tuned"]] == [BANDIT, HALVING]
        for tuned in c["tuned"]:
            assert sum(tuned["served"].values()) == c["events"]
            assert set(tuned["served"]) <= {r["candidate"] for r in c["fixed"]}
