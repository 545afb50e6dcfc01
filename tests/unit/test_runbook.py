"""docs/runbook.md names only alerts, metrics, commands and results the code has."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import yaml

from driftline import assets

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = (REPO / "docs" / "runbook.md").read_text()


def _rules() -> dict[str, dict]:
    groups = yaml.safe_load(assets.path("prometheus", "rules", "driftline.yml").read_text())["groups"]
    # Alerting rules; the recording rules beside them (stream scores over monitors) feed them.
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def test_each_alert_is_a_rule_with_the_severity_and_action_written() -> None:
    headings = re.findall(r"^### (Driftline\w+) \((\w+)(?:, action=(\w+))?\)$", RUNBOOK, re.MULTILINE)
    rules = _rules()
    assert sorted(name for name, _, _ in headings) == sorted(rules), "every rule explained, no other"
    for name, severity, action in headings:
        labels = rules[name]["labels"]
        assert (labels["severity"], labels.get("action", "")) == (severity, action), name


def test_each_metric_named_is_exposed_by_the_code() -> None:
    sources = "\n".join(p.read_text() for p in (REPO / "services" / "driftline").rglob("*.py"))
    named = set(re.findall(r"\b(driftline_[a-z0-9_]+)(?:\{|`| )", RUNBOOK))
    assert len(named) > 5
    for metric in named:
        base = re.sub(r"_(total|seconds_bucket|count|sum)$", "", metric)
        assert f'"{base}"' in sources or f'"{metric}"' in sources, metric


def test_each_command_and_option_exists() -> None:
    from driftline.cli import app

    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    commands |= {g.name for g in app.registered_groups}
    for command in set(re.findall(r"`driftline (\w+)", RUNBOOK)):
        assert command in commands, command


def test_the_webhook_results_are_the_codes() -> None:
    from driftline.monitor.webhook import Decision

    results = typing.get_args(typing.get_type_hints(Decision)["result"])
    line = next(line for line in RUNBOOK.replace("\n", " ").split(". ") if "driftline_webhook_alerts_total" in line)
    assert set(re.findall(r"\b(" + "|".join(results) + r")\b", line)) == set(results)
