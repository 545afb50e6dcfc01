"""Per-device tokens: only their SHA-256 is configured, and a token names exactly one device."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum

from driftline.config.settings import Settings


def hash_token(token: str) -> str:
    """The hex SHA-256 stored as ``devices.<id>.token_sha256``."""
    return hashlib.sha256(token.encode()).hexdigest()


class Denial(Enum):
    """Why a request is refused before its body is looked at."""

    MISSING = "missing credentials"
    WRONG = "unknown token"
    OTHER_DEVICE = "token belongs to another device"
    STREAM_NOT_ALLOWED = "device may not post to this stream"


@dataclass(frozen=True)
class Verdict:
    device_id: str | None
    denial: Denial | None = None

    @property
    def ok(self) -> bool:
        return self.denial is None


class DeviceAuth:
    """Checks a (device, token) claim against the configured devices."""

    def __init__(self, settings: Settings):
        self._devices = settings.devices
        self._owner = {d.token_sha256: device_id for device_id, d in settings.devices.items()}

    def check(self, device_id: str | None, token: str | None, stream: str) -> Verdict:
        if not device_id or not token:
            return Verdict(device_id, Denial.MISSING)
        digest = hash_token(token)
        device = self._devices.get(device_id)
        if device is None or not hmac.compare_digest(device.token_sha256, digest):
            # A valid token presented under another device's name is a 403, not a 401: it authenticates.
            owner = self._owner.get(digest)
            return Verdict(device_id, Denial.OTHER_DEVICE if owner is not None else Denial.WRONG)
        if device.streams and stream not in device.streams:
            return Verdict(device_id, Denial.STREAM_NOT_ALLOWED)
        return Verdict(device_id)
