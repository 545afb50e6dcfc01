"""The dead-letter topic: every rejected message, kept as it arrived, with the reason in headers."""

from __future__ import annotations

from datetime import UTC, datetime

#: Largest payload a dead letter keeps whole: below Kafka's default message.max.bytes (1 MB), headers
#: included. A bigger one (a request body refused for its size, say) keeps its first bytes, and a
#: ``truncated`` header gives the size of the original.
DEAD_LETTER_MAX_BYTES = 512 * 1024


def dead_letter_headers(
    error: str,
    source: str,
    device: str | None = None,
    stream: str | None = None,
    reason: str | None = None,
    truncated: str | None = None,
) -> list[tuple[str, bytes]]:
    """Kafka headers describing why a payload was rejected (``reason``: a short code, when known), where and when.

    ``truncated``: the original payload's size, when the dead letter keeps only its head.
    """
    return [
        ("error", error.encode()[:4096]),
        *([("reason", reason.encode())] if reason is not None else []),
        ("source", source.encode()),
        ("device", (device or "").encode()),
        ("stream", (stream or "").encode()),
        ("time", datetime.now(UTC).isoformat().encode()),
        *([("truncated", truncated.encode())] if truncated is not None else []),
    ]


def dead_letter_payload(payload: bytes, size: str | None = None) -> tuple[bytes, str | None]:
    """The bytes a dead letter keeps of ``payload`` and, when it keeps only the head, the original size.

    ``size``: the original's size when ``payload`` is already only its head (a body not read to the end).
    """
    if len(payload) > DEAD_LETTER_MAX_BYTES:
        return payload[:DEAD_LETTER_MAX_BYTES], size or f"{len(payload)} bytes"
    return payload, size
