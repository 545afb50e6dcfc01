"""The collector's HTTP ingest: an ASGI app (FastAPI) with its OpenAPI document at /openapi.json (pages: /docs).

``POST /v1/streams/{stream}/events`` (or ``/labels``) takes one JSON object or an array of them.
The sender names itself with ``X-Device-Id`` and proves it with ``Authorization: Bearer <token>``.
Answers: 202 all accepted, 207 some rejected, 422 none accepted, 401/403/404, and 503 with
Retry-After when Kafka did not acknowledge (then nothing of the request counts as accepted). A body
refused whole (413 too large, 415 not ``application/json``, 422 not JSON, nested too deep, empty) is
dead-lettered with its original bytes too. ``/metrics`` and ``/healthz`` are the usual ops routes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

import orjson
from fastapi import APIRouter, FastAPI, Header, Request, Response

from driftline.collector.auth import Denial, DeviceAuth
from driftline.collector.ingest import (
    Accepted,
    BodyError,
    RawItems,
    Rejected,
    Result,
    problems_json,
    split_body,
)
from driftline.collector.intake import Ingestor
from driftline.collector.publisher import KafkaUnavailable
from driftline.contracts import LabelEvent, SensorEvent
from driftline.httpserver import add_docs_routes, add_ops_routes, bearer_token
from driftline.kafkaio.deadletter import DEAD_LETTER_MAX_BYTES

log = logging.getLogger(__name__)

_ITEM_SCHEMA = {"oneOf": [{"$ref": "#/components/schemas/SensorEvent"}, {"$ref": "#/components/schemas/LabelEvent"}]}
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [_ITEM_SCHEMA, {"type": "array", "items": _ITEM_SCHEMA}]},
            }
        },
    },
    "responses": {
        "202": {"description": "Every item acknowledged by Kafka."},
        "207": {"description": "Valid items acknowledged by Kafka; the others dead-lettered, listed per item."},
        "401": {"description": "Missing credentials or an unknown token."},
        "403": {"description": "The token belongs to another device, or the device may not use this stream."},
        "404": {"description": "No such stream."},
        "413": {"description": "Body larger than the configured bytes or items (dead-lettered)."},
        "415": {"description": "Content-Type is not application/json (dead-lettered)."},
        "422": {
            "description": "No item was valid (problems listed per item), or the body is not JSON, nested too deep "
            "or empty (dead-lettered)."
        },
        "500": {"description": "A bug in the collector (logged there); nothing may count as accepted."},
        "503": {"description": "Kafka did not acknowledge; retry after Retry-After seconds."},
    },
}


def _json(status: int, content: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, {"detail": detail}, headers)


def item_results(results: list[Result]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in results:
        if isinstance(r, Accepted):
            out.append({"index": r.index, "status": "accepted", "event_id": r.message.event_id})
        else:
            out.append(
                {"index": r.index, "status": "rejected", "reason": r.reason, "problems": problems_json(r.problems)}
            )
    return out


def create_app(ingestor: Ingestor, healthy: Callable[[], str | None] = lambda: None) -> FastAPI:
    """The HTTP app over an :class:`Ingestor` (which owns the producer and the metrics)."""
    settings = ingestor.settings
    limits = settings.collector
    auth = DeviceAuth(settings)
    metrics = ingestor.metrics
    # The docs pages are add_docs_routes': from files in the package rather than a CDN.
    app = FastAPI(title="driftline collector", version="1", description=__doc__, docs_url=None, redoc_url=None)
    app.state.ingestor = ingestor

    def refuse(status: int, reason: str, detail: str, headers: dict[str, str] | None = None) -> Response:
        metrics.refused.labels("http", reason).inc()
        return _error(status, detail, headers)

    @app.post("/v1/streams/{stream}/{kind}", openapi_extra=_BODY_DOC, status_code=202, tags=["ingest"])
    async def post_items(
        stream: str,
        kind: Literal["events", "labels"],
        request: Request,
        x_device_id: str | None = Header(default=None, description="The sending device."),
        authorization: str | None = Header(default=None, description="Bearer <the device's token>."),
    ) -> Response:
        """Ingest one event (or label) or a batch of them for ``stream``."""
        verdict = auth.check(x_device_id, bearer_token(authorization), stream)
        if verdict.denial in (Denial.MISSING, Denial.WRONG):
            return refuse(401, "unauthorized", verdict.denial.value, {"WWW-Authenticate": "Bearer"})
        if verdict.denial is Denial.OTHER_DEVICE:
            return refuse(403, "forbidden", verdict.denial.value)
        if stream not in settings.streams:
            return refuse(404, "unknown_stream", f"no such stream {stream!r}")
        if verdict.denial is Denial.STREAM_NOT_ALLOWED:
            return refuse(403, "forbidden", f"device {x_device_id!r} may not post to stream {stream!r}")

        async def refuse_body(status: int, reason: str, detail: str, body: bytes, size: str | None = None) -> Response:
            """Refuse the body whole, once its dead letter (the original bytes) is in Kafka."""
            try:
                await ingestor.refuse_async(body, reason, detail, stream, verdict.device_id, size)
            except KafkaUnavailable as e:
                return _error(503, str(e), {"Retry-After": str(limits.retry_after_s)})
            return refuse(status, reason, detail)

        body, complete = await _read_limited(request, limits.max_body_bytes)
        if not complete:
            declared = request.headers.get("content-length", "")
            size = f"{declared} bytes" if declared.isdigit() else f"more than {limits.max_body_bytes} bytes"
            return await refuse_body(413, "too_large", f"body larger than {limits.max_body_bytes} bytes", body, size)
        if (problem := json_media_problem(request.headers.get("content-type"))) is not None:
            return await refuse_body(415, "unsupported_media_type", problem, body)
        try:
            items, batch = split_body(body)
        except BodyError as e:
            return await refuse_body(422, e.reason, str(e), body)
        if len(items) > limits.max_batch_items:
            detail = f"{len(items)} items, more than the {limits.max_batch_items} allowed"
            return await refuse_body(413, "too_large", detail, body)
        if not items:
            return await refuse_body(422, "empty", "empty batch", body)
        try:
            raw = RawItems(body, batch)
            results = await ingestor.ingest_async(items, kind, stream, verdict.device_id, "http", raw)
        except KafkaUnavailable as e:
            return _error(503, str(e), {"Retry-After": str(limits.retry_after_s)})
        except Exception:
            # Not an outage but a bug: say so in the log, and do not ask the device to retry.
            log.exception("collector: failed on a request for stream %r", stream)
            return _error(500, "internal error; see the collector's log")
        rejected = sum(isinstance(r, Rejected) for r in results)
        accepted = len(results) - rejected
        summary: dict[str, Any] = {"accepted": accepted, "rejected": rejected}
        if not rejected:
            return _json(202, summary)
        summary["items"] = item_results(results)
        return _json(207 if accepted else 422, summary)

    # Out of the OpenAPI document: devices read it, and the ops routes are not theirs.
    ops = APIRouter()
    add_ops_routes(ops, metrics.exposition, healthy)
    app.include_router(ops, include_in_schema=False)
    add_docs_routes(app)

    # Publish the contracts in the OpenAPI document for the $refs in the request body.
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (SensorEvent, LabelEvent):
                components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def json_media_problem(content_type: str | None) -> str | None:
    """What is wrong with a request's Content-Type for a JSON body, or None: application/json or
    ``application/<...>+json``, in UTF-8 (JSON's only encoding between systems, RFC 8259)."""
    if not content_type:
        return "Content-Type is missing: send application/json"
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        return f"Content-Type {content_type!r} is not JSON: send application/json"
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            return f"Content-Type {content_type!r}: JSON is read as UTF-8 only"
    return None


async def _read_limited(request: Request, limit: int) -> tuple[bytes, bool]:
    """``(body, True)``, or ``(its head, False)`` once it exceeds ``limit`` bytes.

    A declared length over the limit is refused after reading only the head a dead letter keeps.
    """
    declared = request.headers.get("content-length", "")
    too_long = declared.isdigit() and int(declared) > limit
    if too_long:
        limit = min(limit, DEAD_LETTER_MAX_BYTES - 1)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return bytes(body), False
    return bytes(body), not too_long
