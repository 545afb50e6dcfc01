"""The MQTT bridge: sensors publish to ``<prefix>/<stream>/<device>`` at QoS 1; the bridge forwards to Kafka.

Each message is validated like an HTTP item and published keyed by model key, or dead-lettered.
The bridge acknowledges a message to the MQTT broker only once Kafka acknowledged it, so a
message Kafka never took stays with Mosquitto (persistent session) and comes back after a crash.
While Kafka is down the bridge holds what Kafka refused and, after one pause of ``retry_s`` per
round (not per message), resends all of it at once; Mosquitto's ``max_inflight_messages`` bounds
how many messages the bridge holds, the broker keeps the rest queued.

With several collector workers each runs a bridge client, ``slot`` k of them: client id
``<client_id>`` for slot 0 and ``<client_id>-k`` for the others, all in one MQTT shared
subscription (``$share/<client_id>/...``), so Mosquitto hands each message to one of them.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from driftline.collector.ingest import Rejected, Result, check_raw
from driftline.collector.intake import Ingestor
from driftline.collector.publisher import KafkaUnavailable, Record
from driftline.config.settings import MqttSettings
from driftline.contracts import SensorEvent

log = logging.getLogger(__name__)

#: How often the bridge serves Kafka's reports itself when no message arrives (the ack's delay then).
IDLE_POLL_S = 0.02


@dataclass(frozen=True, slots=True)
class Pending:
    """A message Kafka has not acknowledged yet: its MQTT id, the record and what it was."""

    mid: int
    qos: int
    record: Record
    result: Result
    stream: str


def route(topic: str, prefix: str) -> tuple[str, str] | None:
    """``(stream, device)`` of ``<prefix>/<stream>/<device>``, or None for any other topic."""
    parts = topic.removeprefix(prefix + "/").split("/") if topic.startswith(prefix + "/") else []
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


class MqttBridge:
    def __init__(
        self,
        ingestor: Ingestor,
        mqtt_settings: MqttSettings | None = None,
        retry_s: float = 1.0,
        slot: int | None = None,
    ):
        """``slot``: this bridge's place among several sharing the subscription; None when it is the only one."""
        self.ingestor = ingestor
        self.settings = mqtt_settings or ingestor.settings.collector.mqtt
        self.retry_s = retry_s
        self.slot = slot
        self.client_id = self.settings.client_id if not slot else f"{self.settings.client_id}-{slot}"
        self._held: queue.Queue[Pending] = queue.Queue()
        self._last_error: object = None
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._retiring = False
        self._last_news = time.monotonic()  # a message in, or Kafka's answer to one
        self.received = 0
        self.settled = 0  # acknowledged by Kafka and to Mosquitto
        self._settled_lock = threading.Lock()  # reports are served on paho's thread and the service thread
        self._service = threading.Thread(target=self._service_loop, name="mqtt-bridge-service", daemon=True)
        self._send_latency = ingestor.metrics.send_latency.labels("mqtt")
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,  # Mosquitto keeps our QoS 1 messages while we are away
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        self.client.username_pw_set(self.settings.username, self.settings.password.get_secret_value())
        self.client.max_inflight_messages_set(0)
        self.client.reconnect_delay_set(0.5, 5)  # back within seconds of the broker (paho's default waits up to 2 min)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    @property
    def pattern(self) -> str:
        """The subscription: shared by the group of bridges when there are several."""
        return self._patterns[self.slot is None]

    @property
    def _patterns(self) -> tuple[str, str]:
        alone = f"{self.settings.topic_prefix}/+/+"
        return f"$share/{self.settings.client_id}/{alone}", alone

    def start(self, timeout: float = 10.0) -> MqttBridge:
        """Connect, subscribe and return once the subscription is in place.

        A broker that refuses the connection (Mosquitto down, or restarting) is no reason to stay down:
        the bridge returns at once and connects, then subscribes, when the broker is back, so the
        collector's HTTP ingest serves meanwhile (a collector restarted while Mosquitto was away exited,
        and stayed down until Mosquitto was back). A broker that answers but refuses the bridge
        (credentials, ACL) still fails the start: that is a mistake, not an outage.
        """
        try:
            self.client.connect(self.settings.host, self.settings.port, keepalive=30)
        except OSError as e:
            log.warning("MQTT broker %s:%s unreachable (%s); the bridge connects when it is back",
                        self.settings.host, self.settings.port, e)  # fmt: skip
            self.client.connect_async(self.settings.host, self.settings.port, keepalive=30)
            self.client.loop_start()
            self._service.start()
            return self
        self.client.loop_start()
        self._service.start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise ConnectionError(
                f"MQTT bridge not subscribed to {self.pattern} on {self.settings.host}:{self.settings.port} "
                f"within {timeout:g}s (wrong credentials?)"
            )
        log.info(
            "MQTT bridge %s subscribed to %s on %s:%s",
            self.client_id,
            self.pattern,
            self.settings.host,
            self.settings.port,
        )
        return self

    @property
    def subscribed(self) -> bool:
        """Whether the subscription is in place (at once after :meth:`start`, unless the broker was away)."""
        return self._subscribed.is_set()

    def stop(self) -> None:
        """Disconnect; messages still held stay unacknowledged, so Mosquitto delivers them again later."""
        self._stop.set()
        if self._service.is_alive():
            self._service.join()
        # Kafka's last answers while still connected, so their PUBACKs go out before the DISCONNECT;
        # a PUBACK lost here would only bring the message back (a duplicate), never lose it.
        self.ingestor.publisher.flush(self.ingestor.publisher.send_timeout_s)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        if getattr(reason, "is_failure", False):
            log.error("MQTT connection refused: %s", reason)
            return
        if self._retiring:
            client.unsubscribe(list(self._patterns))
            self._subscribed.set()
            return
        client.subscribe(self.pattern, qos=1)
        # The persistent session may hold the other form from a run with another worker count:
        # left there, Mosquitto would keep queueing a second copy of every message for it.
        client.unsubscribe(self._patterns[self.slot is not None])

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reasons: list, props: object) -> None:
        refused = [reason for reason in reasons if getattr(reason, "is_failure", False)]
        if refused:  # an ACL that denies the pattern: say so rather than wait for messages that never come
            log.error("MQTT broker refused the subscription to %s: %s", self.pattern, refused[0])
        else:
            self._subscribed.set()

    def check(self, topic: str, payload: bytes) -> tuple[Result, str, str | None]:
        """Validate one message: ``(result, stream, device)``; pure apart from reading the config."""
        where = route(topic, self.settings.topic_prefix)
        if where is None:
            problem = ("(topic)", f"expected {self.settings.topic_prefix}/<stream>/<device>, got {topic!r}")
            return Rejected(0, payload, "bad_topic", [problem]), "", None
        stream, device = where
        if stream not in self.ingestor.settings.streams:
            return Rejected(0, payload, "unknown_stream", [("(topic)", f"no such stream {stream!r}")]), stream, device
        return check_raw(payload, SensorEvent, stream, device, self.ingestor.rules(stream)), stream, device

    def retire(self, quiet_s: float = 1.0, timeout: float = 300.0) -> bool:
        """Empty the persistent session of a slot no longer in use, and leave it subscribed to nothing.

        Mosquitto keeps routing a share of a shared subscription's messages to a member that is
        away, so a slot left behind when the worker count goes down would strand messages. This
        drops its subscriptions and forwards what was queued for it: done when every message it got
        is acknowledged and ``quiet_s`` passed without news. False if that did not happen within
        ``timeout`` (Kafka down, say): what is left stays in the session, unacknowledged.
        """
        self._retiring = True
        self.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            settled = self.settled == self.received
            if settled and time.monotonic() - self._last_news >= quiet_s:
                break
            time.sleep(0.1)
        self.stop()
        return self.settled == self.received

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self._last_news = time.monotonic()
        self.received += 1
        result, stream, device = self.check(message.topic, message.payload)
        (record,) = self.ingestor.records([result], "events", stream, device, "mqtt")
        self._forward(Pending(message.mid, message.qos, record, result, stream))
        # Serve Kafka's reports here, on paho's thread, while messages flow (see publisher.py).
        self.ingestor.publisher.poll()

    def _forward(self, pending: Pending) -> None:
        started = time.perf_counter()

        def done(error: Exception | None) -> None:
            if error is None:
                self._delivered(pending, started)
            else:
                self._hold(pending, error)

        try:
            self.ingestor.publisher.send(pending.record, done)
        except KafkaUnavailable as e:
            self._hold(pending, e)

    def _delivered(self, pending: Pending, started: float) -> None:
        # Runs where the publisher was polled; paho queues the ack for its network thread.
        self.client.ack(pending.mid, pending.qos)
        with self._settled_lock:
            self.settled += 1
        self._last_news = time.monotonic()
        self._send_latency.observe(time.perf_counter() - started)
        # count() labels a stream that is not configured "(unknown)": the topic's name is the device's choice.
        self.ingestor.count([pending.result], pending.stream, "mqtt")

    def _hold(self, pending: Pending, error: object) -> None:
        metrics = self.ingestor.metrics
        metrics.refused.labels("mqtt", "kafka_unavailable").inc()
        metrics.mqtt_held.inc()
        self._last_error = error
        self._held.put(pending)

    def _service_loop(self) -> None:
        """Serve Kafka's reports when no message arrives, and resend what Kafka did not take.

        It polls without waiting inside librdkafka: a thread blocked there would take the reports
        the network thread serves itself while messages flow, each with a GIL hand-off.
        """
        retry_at: float | None = None
        while not self._stop.wait(IDLE_POLL_S):
            self.ingestor.publisher.poll()
            if self._held.empty():
                continue
            # One pause per round, not per message: once Kafka is back the whole held set goes at once.
            now = time.monotonic()
            retry_at = retry_at or now + self.retry_s
            if now < retry_at:
                continue
            retry_at = None
            held: list[Pending] = []
            with contextlib.suppress(queue.Empty):
                for _ in range(self._held.qsize()):
                    held.append(self._held.get_nowait())
            metrics = self.ingestor.metrics
            metrics.mqtt_held.dec(len(held))
            metrics.mqtt_retry_rounds.inc()
            log.warning("Kafka did not take %d MQTT messages (%s); resending them", len(held), self._last_error)
            for pending in held:
                self._forward(pending)

    def __enter__(self) -> MqttBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
