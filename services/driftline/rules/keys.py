"""The model key: the Kafka message key that routes every event of one model to one consumer."""

from __future__ import annotations

from typing import Literal

Scope = Literal["stream", "device"]


def model_key(stream: str, device_id: str, scope: Scope) -> str:
    """``stream`` for one model per stream, ``stream/device`` for one model per device."""
    return stream if scope == "stream" else f"{stream}/{device_id}"


def stream_of(key: str) -> str:
    return key.split("/", 1)[0]
