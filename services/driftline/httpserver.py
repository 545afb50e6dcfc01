"""Run an ASGI app (FastAPI) with uvicorn in a background thread, for services whose main loop is Kafka."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from driftline.processes import free_port


class BackgroundServer:
    """``with BackgroundServer(app, port=0) as server: server.url`` serves ``app`` until the block ends."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port()
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name=f"http-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"HTTP server on {self.host}:{self.port} did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def add_ops_routes(app: Any, registry: Any, healthy: Callable[[], str | None] = lambda: None) -> None:
    """``GET /metrics`` (Prometheus text of ``registry``) and ``GET /healthz`` on a FastAPI app.

    ``healthy`` returns None when all is well, else what is wrong; /healthz then answers 503.
    """

    @app.get("/metrics", tags=["ops"])
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> Response:
        problem = healthy()
        body = '{"status": "ok"}' if problem is None else f'{{"status": "failing", "problem": {json.dumps(problem)}}}'
        return Response(body, status_code=200 if problem is None else 503, media_type="application/json")


def exposed_total(text: str, sample: str, **labels: str) -> float:
    """The sum of ``sample`` over the series of a /metrics page whose labels include ``labels``."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample and labels.items() <= s.labels.items()
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive), else None."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
