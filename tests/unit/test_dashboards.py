"""The Grafana dashboards are generated (driftline.ops.dashboards): the committed JSON is the generator's.

Whether every query returns data is tested against a real Prometheus after real runs
(tests/integration/test_stack.py, test_monitor_prometheus.py); this checks the files and their shape.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from driftline.cli import main
from driftline.ops.dashboards import DASHBOARD_DIR, dashboard_documents, stale_dashboards, write_dashboards

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in dashboard_documents().items()}


def panel(dashboards: dict[str, dict[str, Any]], file: str, title: str) -> dict[str, Any]:
    return next(p for p in dashboards[file]["panels"] if p["title"] == title)


def metrics_of(p: dict[str, Any]) -> set[str]:
    return {m for t in p["targets"] for m in re.findall(r"\bdriftline_\w+", t["expr"])}


def test_the_committed_dashboards_are_the_generators() -> None:
    assert stale_dashboards() == [], "run `driftline dashboards` and commit what it wrote"
    assert sorted(p.name for p in DASHBOARD_DIR.glob("*.json")) == sorted(dashboard_documents())


def test_a_hand_edit_a_missing_file_and_a_stray_are_found(tmp_path: Path) -> None:
    write_dashboards(tmp_path)
    assert stale_dashboards(tmp_path) == []
    edited = tmp_path / "driftline-accuracy.json"
    edited.write_text(edited.read_text().replace("percentunit", "none"))
    (tmp_path / "driftline-labels.json").unlink()
    (tmp_path / "mine.json").write_text("{}")
    assert stale_dashboards(tmp_path) == ["driftline-accuracy.json", "driftline-labels.json", "mine.json"]


def test_the_command_writes_and_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def driftline(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["driftline", "dashboards", *args])
        with pytest.raises(SystemExit) as done:
            main()
        out, err = capsys.readouterr()
        return int(done.value.code or 0), out, err

    code, _, err = driftline("--check", "--out", str(tmp_path))
    assert code == 1 and "stale dashboards" in err and "driftline-fleet.json" in err
    assert driftline("--out", str(tmp_path))[0] == 0
    assert driftline("--check", "--out", str(tmp_path))[:2] == (0, "dashboards are up to date\n")
    code, _, err = driftline("--out", str(tmp_path / "driftline-fleet.json"))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "is not a folder" in err


def test_the_fleet_overview_shows_the_collector_and_the_trainer(dashboards: dict[str, dict[str, Any]]) -> None:
    fleet = dashboards["driftline-fleet.json"]
    shown = set().union(*(metrics_of(p) for p in fleet["panels"]))
    for metric in (
        "driftline_collector_events_accepted_total",  # ingest
        "driftline_collector_events_rejected_total",  # rejects
        "driftline_collector_requests_refused_total",  # dead letters of whole requests
        "driftline_trainer_messages_invalid_total",  # the trainer's dead letters
        "driftline_trainer_consumer_lag_records",
        "driftline_trainer_predictions_total",  # throughput
        "driftline_trainer_drift_reactions_total",  # resets
        "driftline_trainer_commands_total",
        "driftline_trainer_promotions_total",
    ):
        assert metric in shown, metric


def test_scores_of_different_scales_do_not_share_an_axis(dashboards: dict[str, dict[str, Any]]) -> None:
    file = "driftline-accuracy.json"
    for apart in (("driftline_r2", "driftline_mae"), ("driftline_roc_auc", "driftline_log_loss")):
        together = [p["title"] for p in dashboards[file]["panels"] if set(apart) <= metrics_of(p)]
        assert together == [], apart
    assert panel(dashboards, file, "R² (rolling)")["fieldConfig"]["defaults"] == {"max": 1, "unit": "none"}
    assert panel(dashboards, file, "ROC AUC (rolling)")["fieldConfig"]["defaults"] == {
        "max": 1,
        "min": 0,
        "unit": "none",
    }
    for name, document in dashboards.items():
        for p in document["panels"]:
            assert p["fieldConfig"]["defaults"].get("unit"), f"{name}: {p['title']} has no unit"


def test_the_mean_label_delay_is_over_a_window(dashboards: dict[str, dict[str, Any]]) -> None:
    (target,) = panel(dashboards, "driftline-labels.json", "Mean label delay (5m)")["targets"]
    assert re.fullmatch(
        r"sum by \(stream, model\) \(rate\(driftline_label_delay_seconds_sum\{.*\}\[5m\]\)\) / "
        r"sum by \(stream, model\) \(rate\(driftline_label_delay_seconds_count\{.*\}\[5m\]\)\)",
        target["expr"],
    )


def test_model_follows_stream_and_every_query_follows_the_variables(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, document in dashboards.items():
        variables = {v["name"]: v["query"] for v in document["templating"]["list"]}
        if "model" in variables:
            assert '{stream=~"$stream"}' in variables["model"], name
        for p in document["panels"]:
            for target in p["targets"]:
                for metric in re.findall(r"\bdriftline_\w+\{[^}]*\}", target["expr"]):
                    # Only series without a stream label may ignore $stream.
                    stream_less = metric.startswith("driftline_collector_requests_refused_total")
                    assert "stream=" in metric or stream_less, f"{name}: {p['title']}: {metric}"
                if "model" in variables and "stream=" in target["expr"]:
                    assert 'model=~"$model"' in target["expr"], f"{name}: {p['title']} ignores $model"


def test_resets_are_annotated_on_every_dashboard(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, document in dashboards.items():
        annotations = {a["name"]: a for a in document["annotations"]["list"]}
        assert {"Concept drift", "Resets after drift", "Resets by command"} <= set(annotations), name
        resets = annotations["Resets after drift"]
        assert "driftline_trainer_drift_reactions_total" in resets["target"]["expr"]
        assert resets["titleFormat"] == "{{action}} reset of {{stream}} after a drift"
        assert resets["datasource"] == {"type": "prometheus", "uid": "driftline-prometheus"}


def test_the_pinned_sdk_is_the_one_built_for_the_composed_grafana() -> None:
    from importlib.metadata import version

    grafana = re.search(r"image: grafana/grafana:(\d+\.\d+)", (REPO / "docker-compose.yml").read_text())
    assert grafana and version("grafana-foundation-sdk").split("!")[1].startswith(grafana[1] + ".")


def test_every_metric_the_dashboards_read_is_documented(dashboards: dict[str, dict[str, Any]]) -> None:
    documented = (REPO / "docs" / "metrics.md").read_text()
    read = {
        re.sub(r"_(bucket|sum|count)$", "", m)
        for document in dashboards.values()
        for p in document["panels"]
        for m in metrics_of(p)
    }
    assert len(read) > 30
    assert sorted(m for m in read if f"`{m}" not in documented) == []
