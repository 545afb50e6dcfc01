"""The HTTP services work without internet, and a path none of them serves is a 404, not a 401.

Real uvicorn servers on loopback (no Kafka: the apps are served without their loops). A page is
offline-proof when everything it loads comes from the same server: no ``http(s)://`` or ``//``
address in any ``src`` or ``href``, and every address it names answers 200 there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from driftline.collector.app import create_app as collector_app
from driftline.collector.intake import Ingestor
from driftline.config import settings_from_dict
from driftline.config.settings import Settings
from driftline.httpserver import BackgroundServer, add_docs_routes, docs_assets
from driftline.monitor.app import create_app as monitor_app
from driftline.monitor.state import MonitorState
from driftline.monitor.webhook import AlertPolicy
from driftline.status.fetching import Sources, fetch
from driftline.trainer.api import create_app as trainer_app
from driftline.trainer.core import TrainerCore

ROOMS = {"task": "binary", "features": {"temperature": {}, "humidity": {}}}
TOKEN = "a-long-random-token"
#: Where a page names what it loads: src and href, ReDoc's spec-url and Swagger UI's url.
ADDRESSES = re.compile(r"""\b(?:src=|href=|spec-url=|url:\s*)["']([^"']+)["']""")


def settings(tmp_path: Path) -> Settings:
    return settings_from_dict({"state_dir": str(tmp_path / "state"), "streams": {"rooms": ROOMS}}, "test")


def app_of(service: str, tmp_path: Path) -> FastAPI:
    config = settings(tmp_path)
    if service == "collector":
        return collector_app(Ingestor(config, publisher=None))  # type: ignore[arg-type]  # nothing is posted
    return trainer_app(TrainerCore(config))


def addresses(page: str) -> list[str]:
    found = ADDRESSES.findall(page)
    assert found, page[:500]
    return found


@pytest.mark.parametrize("service", ["collector", "trainer"])
def test_the_api_docs_pages_load_nothing_from_elsewhere(service: str, tmp_path: Path) -> None:
    with BackgroundServer(app_of(service, tmp_path)) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/openapi.json").status_code == 200
        for path in ("/docs", "/redoc"):
            page = http.get(path)
            assert page.headers["content-type"].startswith("text/html")
            named = addresses(page.text)
            assert [a for a in named if a.startswith(("http:", "https:", "//"))] == [], named
            for address in named:
                answer = http.get(address)
                assert answer.status_code == 200 and answer.content, (path, address, answer.status_code)
            if docs_assets() is None:  # the package with the pages' files is missing: the pages say so
                assert page.status_code == 404 and "pip install fastapi-offline" in page.text
                continue
            assert page.status_code == 200
            assets = [a for a in named if a.endswith((".js", ".css"))]
            assert len(assets) == (2 if path == "/docs" else 1), named
            assert all(http.get(a).headers["content-type"].startswith(("text/javascript", "text/css")) for a in assets)


def test_without_the_pages_files_the_docs_say_where_the_openapi_document_is() -> None:
    app = FastAPI(title="driftline test", docs_url=None, redoc_url=None)
    add_docs_routes(app, assets={})
    with BackgroundServer(app) as server:
        for path in ("/docs", "/redoc"):
            page = httpx.get(f"{server.url}{path}")
            assert page.status_code == 404 and 'href="/openapi.json"' in page.text
            assert "API docs pages are off" in page.text and "pip install fastapi-offline" in page.text
        assert httpx.get(f"{server.url}/openapi.json").status_code == 200


def monitor(tmp_path: Path, with_ui: bool) -> FastAPI:
    config = settings(tmp_path)
    state = MonitorState(config) if with_ui else None
    return monitor_app(CollectorRegistry(), AlertPolicy(config.streams), lambda _: None, TOKEN, state=state)


def guarded_trainer(tmp_path: Path) -> FastAPI:
    return trainer_app(TrainerCore(settings(tmp_path)), token=TOKEN)


#: Per service, paths it does not serve (another service's among them), asked without a token.
UNKNOWN = {
    "monitor": ["/nope", "/models", "/predict", "/docs", "/openapi.json/x", "/ui/nope"],
    "monitor without its page": ["/ui", "/ui/data", "/ui/uPlot.min.css", "/nope"],
    "trainer": ["/nope", "/ui", "/alerts", "/models/x", "/docs/assets/nope.js"],
    "collector": ["/nope", "/ui", "/models", "/v1/streams/rooms", "/docs/assets/nope.js"],
}


@pytest.mark.parametrize("service", UNKNOWN)
def test_a_path_no_service_serves_is_a_404_before_any_token_is_asked_for(service: str, tmp_path: Path) -> None:
    apps: dict[str, Any] = {
        "monitor": lambda: monitor(tmp_path, with_ui=True),
        "monitor without its page": lambda: monitor(tmp_path, with_ui=False),
        "trainer": lambda: guarded_trainer(tmp_path),
        "collector": lambda: app_of("collector", tmp_path),
    }
    with BackgroundServer(apps[service]()) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        for path in UNKNOWN[service]:
            for method in ("GET", "POST"):
                answer = http.request(method, path)
                assert answer.status_code == 404, (method, path, answer.status_code, answer.text)
                assert "WWW-Authenticate" not in answer.headers
        # What is served is still guarded (the collector's ingest by device tokens), a known path's
        # other method is no 404 either.
        guarded = {"monitor": ("POST", "/alerts"), "monitor without its page": ("POST", "/alerts"),
                   "trainer": ("GET", "/models"), "collector": ("POST", "/v1/streams/rooms/events")}  # fmt: skip
        assert http.request(*guarded[service]).status_code == 401
        assert http.get("/healthz").status_code == 200


def test_the_monitors_page_with_a_trailing_slash_is_its_page(tmp_path: Path) -> None:
    with BackgroundServer(monitor(tmp_path, with_ui=True)) as server:
        page = httpx.get(f"{server.url}/ui/", follow_redirects=True)
        assert page.status_code == 200 and page.url.path == "/ui" and "<html" in page.text.lower()
        # A guarded path's twin redirects to it, where the token is asked for: nothing guarded shows.
        assert httpx.post(f"{server.url}/alerts/", json={}).status_code == 401


def test_status_pointed_at_the_monitor_as_trainer_asks_whether_it_is_the_trainer(tmp_path: Path) -> None:
    with BackgroundServer(monitor(tmp_path, with_ui=True)) as server:
        snapshot = fetch(Sources(trainer=server.url, monitor=server.url, collector=server.url, token=""))
    refusal = snapshot.failures[("trainer", f"{server.url}/models")]
    assert refusal == "answered 404 (no /models there): is it the trainer?"
    assert not any("token" in why for why in snapshot.failures.values()), snapshot.failures
