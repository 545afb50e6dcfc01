"""The monitor's HTTP server: /metrics for Prometheus, /alerts for Alertmanager, /healthz."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from fastapi import FastAPI, Header, HTTPException
from prometheus_client import CollectorRegistry

from driftline.httpserver import add_ops_routes, bearer_token
from driftline.monitor.webhook import AlertmanagerPayload, AlertPolicy, Publish, handle_notification

log = logging.getLogger(__name__)


def create_app(
    registry: CollectorRegistry,
    policy: AlertPolicy,
    publish: Publish,
    token: str,
    healthy: Callable[[], str | None] = lambda: None,
) -> FastAPI:
    """The FastAPI app; ``token`` is the bearer token the webhook demands (empty refuses everyone)."""
    app = FastAPI(title="driftline monitor", docs_url=None, redoc_url=None)

    add_ops_routes(app, registry, healthy)

    @app.post("/alerts")
    def alerts(payload: AlertmanagerPayload, authorization: str | None = Header(default=None)) -> dict[str, object]:
        presented = bearer_token(authorization) or ""
        if not token or not hmac.compare_digest(presented.encode(), token.encode()):
            raise HTTPException(
                status_code=401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        result = handle_notification(policy, payload, publish)
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
