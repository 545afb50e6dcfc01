"""The monitor's HTTP server: /metrics for Prometheus, /alerts for Alertmanager, /healthz, the /ui status page."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from driftline.httpserver import DEFAULT_MAX_BODY_BYTES, OPEN_PATHS, Guard, add_ops_routes
from driftline.monitor.state import MonitorState
from driftline.monitor.ui import UI_PATHS, add_ui_routes
from driftline.monitor.webhook import AlertmanagerPayload, AlertPolicy, Publish, handle_notification

log = logging.getLogger(__name__)


def create_app(
    registry: CollectorRegistry,
    policy: AlertPolicy,
    publish: Publish,
    token: str,
    healthy: Callable[[], str | None] = lambda: None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    state: MonitorState | None = None,
    peers: list[str] | None = None,
) -> FastAPI:
    """The FastAPI app; ``token`` is the bearer token the webhook demands (never empty: see webhook_token).

    With ``state``, it also serves the status page of that state on /ui, with the pages of ``peers``
    (the other monitors of the group) added.
    """
    if not token:
        raise ValueError("the monitor's webhook needs a token")
    app = FastAPI(title="driftline monitor", docs_url=None, redoc_url=None)
    # The token guards every route but /metrics, /healthz and the read-only status page (which shows
    # what /metrics already does), and is checked before any body is read.
    open_paths = OPEN_PATHS | UI_PATHS if state is not None else OPEN_PATHS
    # An unknown path is a 404, not a 401: the Guard asks for the token only on paths the app serves.
    app.add_middleware(Guard, token=token, max_body_bytes=max_body_bytes, open_paths=open_paths, router=app.router)

    add_ops_routes(app, registry, healthy)
    if state is not None:
        add_ui_routes(app, state, peers)

    @app.post("/alerts")
    async def alerts(request: Request) -> dict[str, object]:
        payload = parse_payload(await request.body())
        # Publishing waits for Kafka's acks: off the event loop.
        result = await run_in_threadpool(handle_notification, policy, payload, publish)
        for decision in result.decisions:
            if decision.reason:
                log.warning("alert ignored: %s", decision.reason)
        for command in result.commands:
            log.info(
                "alert -> %s %s for %s (%s)",
                command.action,
                command.mode,
                command.model_key or command.stream,
                command.reason,
            )
        return result.summary()

    return app


def parse_payload(body: bytes) -> AlertmanagerPayload:
    """The body as an Alertmanager v4 notification, else HTTP 422 saying what is wrong."""
    try:
        return AlertmanagerPayload.model_validate(json.loads(body))
    except (ValueError, ValidationError) as e:
        problems = (
            "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in e.errors()[:5])
            if isinstance(e, ValidationError)
            else f"not JSON: {e}"
        )
        raise HTTPException(
            status_code=422, detail=f"not an Alertmanager webhook notification (version 4): {problems}"
        ) from None
