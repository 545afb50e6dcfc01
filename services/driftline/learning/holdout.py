"""Which labeled events are held out: predicted, scored, never learned."""

from __future__ import annotations

import hashlib


def is_holdout(event_id: str, fraction: float) -> bool:
    """A stable choice by hashing the event id, so every replay holds out the same events."""
    if fraction <= 0:
        return False
    digest = hashlib.blake2b(event_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < fraction
