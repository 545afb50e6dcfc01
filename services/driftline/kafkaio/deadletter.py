"""The dead-letter topic: every rejected message, kept as it arrived, with the reason in headers."""

from __future__ import annotations

from datetime import UTC, datetime


def dead_letter_headers(
    error: str, source: str, device: str | None = None, stream: str | None = None, reason: str | None = None
) -> list[tuple[str, bytes]]:
    """Kafka headers describing why a payload was rejected (``reason``: a short code, when known), where and when."""
    return [
        ("error", error.encode()[:4096]),
        *([("reason", reason.encode())] if reason is not None else []),
        ("source", source.encode()),
        ("device", (device or "").encode()),
        ("stream", (stream or "").encode()),
        ("time", datetime.now(UTC).isoformat().encode()),
    ]
