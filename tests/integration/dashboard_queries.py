"""Every query of the Grafana dashboards (driftline/assets/grafana/dashboards), run as Grafana runs it on a
real Prometheus.

Panels, template variables and annotations alike: the variables set to All (``.*``) and
``$__rate_interval`` to 1m, over the dashboards' default range (the last hour) as a range query.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from driftline import assets

DASHBOARD_DIR = assets.path("grafana", "dashboards")

_LABEL_VALUES = re.compile(r"^label_values\((?P<series>.+),\s*(?P<label>\w+)\)$")
_METRIC = re.compile(r"\bdriftline_\w+")
#: A series name as Prometheus' metadata knows it: counters and histograms without their sample suffixes.
_SUFFIX = re.compile(r"_(total|bucket|sum|count|created)$")


@dataclass(frozen=True)
class DashboardQuery:
    dashboard: str  #: file name
    where: str  #: the panel's title, or "variable <name>", "annotation <name>"
    expr: str  #: as Grafana holds it, with its $variables

    @property
    def promql(self) -> str:
        """The query with every variable set: ``label_values(s, l)`` (Grafana's) as ``group by (l) (s)``."""
        concrete = self.expr.replace("$stream", ".*").replace("$model", ".*").replace("$__rate_interval", "1m")
        values = _LABEL_VALUES.match(concrete)
        return f"group by ({values['label']}) ({values['series']})" if values else concrete

    @property
    def metrics(self) -> set[str]:
        return set(_METRIC.findall(self.expr))

    def __str__(self) -> str:
        return f"{self.dashboard}: {self.where}: {self.promql}"


def dashboard_queries(folder: Path = DASHBOARD_DIR) -> list[DashboardQuery]:
    found = []
    for path in sorted(folder.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            found += [DashboardQuery(path.name, panel["title"], t["expr"]) for t in panel.get("targets", [])]
        for variable in dashboard["templating"]["list"]:
            found.append(DashboardQuery(path.name, f"variable {variable['name']}", variable["query"]))
        for annotation in dashboard["annotations"]["list"]:
            found.append(DashboardQuery(path.name, f"annotation {annotation['name']}", annotation["target"]["expr"]))
    return found


def has_data(prometheus: str, query: DashboardQuery, last_s: float = 3600, step: str = "15s") -> bool:
    """Whether the query returns any point over the last ``last_s`` seconds, as a dashboard panel shows it."""
    now = time.time()
    params = {"query": query.promql, "start": now - last_s, "end": now, "step": step}
    response = httpx.get(f"{prometheus}/api/v1/query_range", params=params, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{query}: {body}"
    return any(series["values"] for series in body["data"]["result"])


def unknown_metrics(prometheus: str, names: set[str]) -> list[str]:
    """Of the metric names given, those no target Prometheus scrapes declares (by its # TYPE line)."""
    metadata = httpx.get(f"{prometheus}/api/v1/metadata", timeout=10).json()["data"]
    return sorted(n for n in names if n not in metadata and _SUFFIX.sub("", n) not in metadata)
