"""The chaos run's devices: labelled Phishing rows over HTTP and over MQTT (QoS 1), retrying as real clients do.

Each device remembers what it got acknowledged (an HTTP 202, an MQTT PUBACK) and what it got
refused (an HTTP 4xx), the ledger the run's checks judge (:mod:`driftline_lab.invariants`).

- :class:`HttpDevice` posts a batch every tick. A 503 is retried after Retry-After and a refused
  connection (the collector killed) after a short pause, the same batch until it is answered
  202: not acknowledged, a batch may be in Kafka all the same, and the trainer drops the repeats.
  Every few ticks it also posts a batch with a wrong token, which must be refused and go nowhere.
- :class:`MqttDevice` publishes an event every tick at QoS 1 with a persistent session; paho
  resends what Mosquitto has not acknowledged when it reconnects, as a device's client does.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from driftline_lab.invariants import EventKey

T0 = datetime(2026, 3, 1, tzinfo=UTC)
STREAM = "phish"
#: Every this many ticks an HTTP device also posts a batch with a wrong token (refused: 401).
REFUSED_EVERY = 10


def event(device: str, n: int, rows: list[tuple[dict[str, Any], bool]], prefix: str = "e") -> dict[str, Any]:
    """The ``n``-th event of ``device``: row ``n`` of ``rows`` (cycling), its label inline."""
    x, y = rows[n % len(rows)]
    ts = (T0 + timedelta(seconds=n)).isoformat()
    return {"event_id": f"{prefix}{n}", "device_id": device, "stream": STREAM, "ts": ts, "features": x, "label": y}


class Device(threading.Thread):
    """A device sending every ``tick_s`` until :meth:`finish`; its ledger in ``acknowledged`` and ``refused``."""

    def __init__(self, device: str, rows: list[tuple[dict[str, Any], bool]], tick_s: float) -> None:
        super().__init__(daemon=True, name=f"device-{device}")
        self.device, self.rows, self.tick_s = device, rows, tick_s
        self.acknowledged: set[EventKey] = set()
        self.refused: set[EventKey] = set()
        self.sent = 0
        self.retries = 0
        self.errors: list[str] = []
        self._finish = threading.Event()

    def finish(self) -> None:
        """Stop after what is under way is acknowledged."""
        self._finish.set()


class HttpDevice(Device):
    def __init__(
        self, device: str, token: str, url: str, rows: list[tuple[dict[str, Any], bool]], tick_s: float, batch: int
    ) -> None:
        super().__init__(device, rows, tick_s)
        self.token, self.url, self.batch = token, url, batch

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            tick = 0
            while not self._finish.is_set():
                began = time.monotonic()
                events = [event(self.device, self.sent + i, self.rows) for i in range(self.batch)]
                if self._deliver(client, events, self.token) == 202:
                    self.acknowledged.update((self.device, e["event_id"]) for e in events)
                self.sent += len(events)
                tick += 1
                if tick % REFUSED_EVERY == 0:
                    wrong = [event(self.device, tick, self.rows, prefix="refused-")]
                    if self._deliver(client, wrong, "not-the-token") in (401, 403):
                        self.refused.add((self.device, wrong[0]["event_id"]))
                self._finish.wait(max(0.0, self.tick_s - (time.monotonic() - began)))

    def _deliver(self, client: httpx.Client, events: list[dict[str, Any]], token: str) -> int:
        """Post until answered otherwise than 503 or a lost connection; returns the status."""
        headers = {"X-Device-Id": self.device, "Authorization": f"Bearer {token}"}
        while True:
            try:
                response = client.post(f"{self.url}/v1/streams/{STREAM}/events", json=events, headers=headers)
            except httpx.TransportError:
                self.retries += 1
                time.sleep(0.5)
                continue
            if response.status_code == 503:
                self.retries += 1
                time.sleep(min(1.0, float(response.headers.get("Retry-After", 1))))
                continue
            if response.status_code not in (202, 401, 403):
                self.errors.append(f"{response.status_code} {response.text[:200]}")
            return response.status_code


class MqttDevice(Device):
    def __init__(
        self, device: str, password: str, port: int, rows: list[tuple[dict[str, Any], bool]], tick_s: float
    ) -> None:
        super().__init__(device, rows, tick_s)
        self.topic = f"sensors/{STREAM}/{device}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"chaos-{device}", clean_session=False)
        self.client.username_pw_set(device, password)
        self.client.reconnect_delay_set(0.2, 2)
        self.client.max_queued_messages_set(0)  # unbounded: what waits for a reconnect is kept
        self.client.on_publish = self._on_publish
        self.port = port
        self._lock = threading.Lock()
        self._pending: dict[int, EventKey] = {}
        self._early: set[int] = set()  # acknowledged before publish() returned its id

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: object, props: object) -> None:
        with self._lock:
            key = self._pending.pop(mid, None)
            if key is None:
                self._early.add(mid)
            else:
                self.acknowledged.add(key)

    @property
    def unacknowledged(self) -> int:
        with self._lock:
            return len(self._pending)

    def run(self) -> None:
        self.client.connect_async("127.0.0.1", self.port)
        self.client.loop_start()
        while not self._finish.is_set():
            began = time.monotonic()
            message = event(self.device, self.sent, self.rows)
            info = self.client.publish(self.topic, orjson.dumps(message), qos=1)  # queued when disconnected
            key = (self.device, message["event_id"])
            with self._lock:
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    self.acknowledged.add(key)
                else:
                    self._pending[info.mid] = key
            self.sent += 1
            self._finish.wait(max(0.0, self.tick_s - (time.monotonic() - began)))

    def close(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for every PUBACK, then disconnect; False if some never came."""
        deadline = time.monotonic() + timeout
        while self.unacknowledged and time.monotonic() < deadline:
            time.sleep(0.1)
        self.client.disconnect()
        self.client.loop_stop()
        return not self.unacknowledged
