"""Posting batches to a running collector over HTTP, as ``replay --collector`` and the simulator do."""

from __future__ import annotations

import time
from typing import Any

import httpx


class CollectorError(RuntimeError):
    """The collector refused a request whole, rather than answering per item."""


def rejected_in(response: httpx.Response) -> int:
    """How many items of a posted batch the collector rejected (and dead-lettered).

    202, 207 and 422 carry the count in ``rejected``; a 422 with it means every item was rejected,
    which is an answer, not a failure. Any other status, or a body without the count (a 422 for a
    body that is not JSON or an empty batch), raises :class:`CollectorError`.
    """
    if response.status_code in (202, 207, 422):
        try:
            body = response.json()
        except ValueError:
            body = None
        rejected = body.get("rejected") if isinstance(body, dict) else None
        if isinstance(rejected, int) and not isinstance(rejected, bool):
            return rejected
    raise CollectorError(f"collector answered {response.status_code}: {response.text[:300]}")


def post_items(
    client: httpx.Client,
    stream: str,
    kind: str,
    items: list[Any],
    device: str,
    token: str | None,
    retries: int = 10,
) -> int:
    """POST ``items`` to ``/v1/streams/{stream}/{kind}`` as ``device``; returns how many were rejected.

    A 503 (Kafka did not acknowledge, nothing was taken) is retried after its Retry-After, up to
    ``retries`` times; resending is safe since event ids make it idempotent downstream.
    """
    headers = {"X-Device-Id": device, "Authorization": f"Bearer {token or ''}"}
    for attempt in range(retries + 1):
        try:
            response = client.post(f"/v1/streams/{stream}/{kind}", json=items, headers=headers)
        except httpx.HTTPError as e:
            raise CollectorError(f"cannot reach the collector at {client.base_url}: {e}") from None
        if response.status_code != 503 or attempt == retries:
            break
        time.sleep(_retry_after(response))
    return rejected_in(response)


def _retry_after(response: httpx.Response, default: float = 1.0) -> float:
    """Seconds from a Retry-After header (driftline sends seconds; an HTTP date falls back to 1 s)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", default)))
    except ValueError:
        return default
