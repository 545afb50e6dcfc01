"""The services' background HTTP server: quiet by default."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from driftline.httpserver import BackgroundServer


def test_a_background_server_logs_no_requests_unless_asked(capfd: pytest.CaptureFixture[str]) -> None:
    app = FastAPI()
    app.get("/ping")(lambda: "pong")
    for access_log in (False, True):
        capfd.readouterr()
        with BackgroundServer(app, access_log=access_log) as server:
            assert httpx.get(f"{server.url}/ping", timeout=10).status_code == 200
        # uvicorn's access logger writes to the process's stdout, not through the root logger.
        assert ('"GET /ping HTTP/1.1" 200' in capfd.readouterr().out) == access_log
