"""Run an ASGI app (FastAPI) with uvicorn in a background thread, for services whose main loop is Kafka."""

from __future__ import annotations

import hmac
import ipaddress
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import Response
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from driftline.config.base import ConfigError
from driftline.processes import free_port


class BackgroundServer:
    """``with BackgroundServer(app, port=0) as server: server.url`` serves ``app`` until the block ends."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, access_log: bool = False) -> None:
        self.host = host
        self.port = port or free_port()
        # uvicorn's access lines are INFO: the level stays at warning unless they were asked for.
        level = "info" if access_log else "warning"
        config = uvicorn.Config(app, host=host, port=self.port, log_level=level, access_log=access_log)
        self._server = uvicorn.Server(config)
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


#: The pip package whose static files (Swagger UI 5 and ReDoc, MIT) the API docs pages are served from.
DOCS_PACKAGE = "fastapi_offline"
#: Where the docs pages' assets are served; the pages load nothing from elsewhere.
DOCS_ASSETS = "/docs/assets"
_DOCS_MEDIA = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def docs_assets() -> dict[str, bytes] | None:
    """The docs pages' files by name (``swagger-ui-bundle.js``, ...), or None when the package is not installed."""
    from importlib import resources

    try:
        folder = resources.files(DOCS_PACKAGE) / "static"
    except ModuleNotFoundError:
        return None
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.name.endswith(tuple(_DOCS_MEDIA))}


def add_docs_routes(app: Any, assets: dict[str, bytes] | None = None) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` over the app's /openapi.json, their assets served by the app itself,
    so the pages work without internet (FastAPI's own pages load them from a CDN: blank offline).

    Create the app with ``docs_url=None, redoc_url=None``. Without the assets (``fastapi-offline`` not
    installed) both pages answer 404 with a note saying so and where the OpenAPI document is.
    """
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    found = docs_assets() if assets is None else assets
    title, spec = app.title, app.openapi_url
    if not found:
        note = (
            f"<!doctype html><title>{title}: API docs off</title><p>The API docs pages are off: they are "
            f"served from the <code>fastapi-offline</code> package's files, which is not installed "
            f"(<code>pip install fastapi-offline</code> turns them on). The OpenAPI document is at "
            f'<a href="{spec}">{spec}</a>; any OpenAPI viewer or client generator reads it.</p>'
        )

        def off() -> HTMLResponse:
            return HTMLResponse(note, status_code=404)

        for path in ("/docs", "/redoc"):
            app.add_api_route(path, off, methods=["GET"], include_in_schema=False)
        return

    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=spec, title=f"{title} - Swagger UI", swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css", swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )  # fmt: skip

    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=spec, title=f"{title} - ReDoc", redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png", with_google_fonts=False,
        )  # fmt: skip

    app.add_api_route("/docs", swagger, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
    for name, body in found.items():
        media = _DOCS_MEDIA[Path(name).suffix]
        app.add_api_route(f"{DOCS_ASSETS}/{name}", _asset(body, media), methods=["GET"], include_in_schema=False)


def _asset(body: bytes, media_type: str) -> Any:
    """A handler serving ``body`` (a closure: FastAPI would read default arguments as query parameters)."""

    def serve() -> Response:
        return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=86400"})

    return serve


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


#: Paths every HTTP service leaves open: Prometheus scrapes /metrics, orchestrators probe /healthz.
OPEN_PATHS = frozenset({"/healthz", "/metrics"})

#: Default request-body limit of the trainer's and the monitor's endpoints (their bodies are small JSON).
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def is_loopback(host: str) -> bool:
    """Whether a listen address is reachable from this host only (0.0.0.0 and host names are not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def configured_token(value: SecretStr, file: Path | None, setting: str) -> str:
    """The token of ``setting`` (given inline or in ``<setting>_file``), or "" when neither is set."""
    if file is None:
        return value.get_secret_value()
    try:
        token = file.read_text().strip()
    except OSError as e:
        raise ConfigError(f"{setting}_file: cannot read {file}: {e.strerror}") from None
    if not token:
        raise ConfigError(f"{setting}_file: {file} is empty")
    return token


def refuse_unguarded(host: str, token: str, setting: str) -> None:
    """Refuse to serve beyond loopback without a bearer token: anyone on the network could call in."""
    if not token and not is_loopback(host):
        raise ConfigError(
            f"{setting}: required when listening on {host} (beyond loopback); "
            f"set it, {setting}_file or its environment variable, or listen on 127.0.0.1"
        )


class Guard:
    """ASGI middleware: a bearer token on every path but ``open_paths``, and a request-body limit on all.

    With the app's ``router``, a path no route serves is a 404 before the token is asked for: an
    unknown path is not a missing credential (a client pointed at the wrong service is told so).

    The token is checked before the body is read, so an unauthenticated caller learns nothing
    about the endpoints' schemas; a body beyond ``max_body_bytes`` is a 413 (declared or counted).
    An empty ``token`` leaves the paths open (only allowed on loopback: :func:`refuse_unguarded`).
    """

    def __init__(
        self,
        app: ASGIApp,
        token: str = "",
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        open_paths: frozenset[str] = OPEN_PATHS,
        router: Router | None = None,
    ) -> None:
        self.app = app
        self._token = token.encode()
        self.max_body_bytes = max_body_bytes
        self.open_paths = open_paths
        self.router = router

    def _served_path(self, scope: Scope) -> str | None:
        """The path a route serves the request at (with any method): its own, or its twin with or without
        the trailing slash (the router redirects ``/ui/`` to ``/ui``); None for a path no route serves."""
        path = scope["path"]
        if self.router is None:
            return path
        twins = [path]
        if self.router.redirect_slashes and path != "/":
            twins.append(path[:-1] if path.endswith("/") else path + "/")
        for twin in twins:
            asked = {**scope, "path": twin}
            if any(route.matches(asked)[0] is not Match.NONE for route in self.router.routes):
                return twin
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        served = self._served_path(scope)
        if served is None:
            await _refuse(scope, send, 404, "Not Found")
            return
        headers = Headers(scope=scope)
        # A twin of an open path is let through to the router's redirect, which shows nothing guarded.
        if self._token and served not in self.open_paths:
            presented = (bearer_token(headers.get("authorization")) or "").encode()
            if not hmac.compare_digest(presented, self._token):
                await _refuse(scope, send, 401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
                return
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _refuse(scope, send, 413, f"body larger than {self.max_body_bytes} bytes")
            return
        # The body is counted as it arrives (a chunked one declares no size), then handed on as one message.
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(message, receive), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await _refuse(scope, send, 413, f"body larger than {self.max_body_bytes} bytes")
                return
        await self.app(scope, _replay({"type": "http.request", "body": bytes(body)}, receive), send)


def _replay(first: Message, receive: Receive) -> Receive:
    """A receive callable that yields ``first`` once, then defers to the real one."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _refuse(scope: Scope, send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
