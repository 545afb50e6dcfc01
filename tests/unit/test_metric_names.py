"""The metric-name catalogue (driftline.rules.metric_names) is the one list of names: docs/metrics.md documents
every name in it, the services expose nothing else, and the Prometheus rules and the Grafana dashboards
use no other name (the rules' YAML spells the names out; recording rules they define aside)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client.registry import Collector

from driftline import assets
from driftline.collector.metrics import CollectorMetrics
from driftline.config import settings_from_dict
from driftline.monitor.exposition import MonitorCollector
from driftline.monitor.state import MonitorState
from driftline.rules import metric_names
from driftline.rules.scores import METRICS
from driftline.trainer.metrics import CandidateCollector, TrainerMetrics

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = set(metric_names.catalogue().values())
#: A metric name in a text: not part of a longer name, nor of a recording rule's (level:metric:operations).
NAME = re.compile(r"(?<![\w:])driftline_[a-z0-9_]+(?![\w:])")
RECORDED = re.compile(r"[a-zA-Z_]\w*:driftline_\w*:[\w:]*")


def _known(name: str) -> bool:
    """A name of the catalogue, or one of the series of a histogram in it."""
    return name in CATALOGUE or any(
        name.endswith(suffix) and name.removesuffix(suffix) in CATALOGUE for suffix in metric_names.HISTOGRAM_SERIES
    )


def test_one_constant_per_name() -> None:
    found = metric_names.catalogue()
    assert len(set(found.values())) == len(found)
    assert all(NAME.fullmatch(name) for name in found.values())


def test_every_name_in_the_catalogue_is_documented_in_docs_metrics() -> None:
    documented = set(NAME.findall((REPO / "docs" / "metrics.md").read_text()))
    assert sorted(CATALOGUE - documented) == []


def test_every_score_the_monitor_computes_has_its_name() -> None:
    assert set(metric_names.SCORES) == {name for task in METRICS.values() for name in task}


def _exposed(*collectors: Collector) -> set[str]:
    """The names a query uses for each family the collectors expose (a counter's with ``_total``)."""
    return {
        f"{family.name}_total" if family.type == "counter" else family.name
        for collector in collectors
        for family in collector.collect()
    }


def test_the_services_expose_only_names_of_the_catalogue() -> None:
    trainer = TrainerMetrics()
    trainer.registry.register(CandidateCollector(lambda: []))
    collector = CollectorMetrics()
    monitor = MonitorCollector(MonitorState(settings_from_dict({})), webhook_counts={})
    # The monitor's service adds its loop's recoveries to the registry when it starts (monitor/service.py).
    exposed = _exposed(trainer.registry, collector.registry, monitor) | {metric_names.MONITOR_KAFKA_RECOVERIES}
    assert sorted(exposed - CATALOGUE) == []
    assert sorted(CATALOGUE - exposed) == []


def _texts() -> dict[str, str]:
    rules = sorted(assets.path("prometheus", "rules").glob("*.yml"))
    dashboards = sorted(assets.path("grafana", "dashboards").glob("*.json"))
    return {path.name: path.read_text() for path in [*rules, *dashboards]}


def test_the_rules_and_dashboards_use_only_names_of_the_catalogue_or_recording_rules() -> None:
    recorded = {
        rule["record"]
        for path in assets.path("prometheus", "rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    unknown = {(file, name) for file, text in _texts().items() for name in NAME.findall(text) if not _known(name)} | {
        (file, name) for file, text in _texts().items() for name in RECORDED.findall(text) if name not in recorded
    }
    assert sorted(unknown) == []
    assert len(_texts()) >= 6  # the rules and the five dashboards were read
