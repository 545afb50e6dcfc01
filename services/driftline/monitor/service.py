"""The monitor service: consume outcomes, serve /metrics, the status page and the webhook.

Its unit of state is an outcomes partition, as the trainer's is an events partition: monitors of
one group split the outcomes partitions, each checkpoints and hands over its own, and each serves
the figures of the partitions it holds (docs/metrics.md says how they add up across monitors).
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Message
from prometheus_client import Counter

from driftline.config.settings import Settings
from driftline.contracts import ContractError, ControlCommand
from driftline.httpserver import BackgroundServer, configured_token, refuse_unguarded
from driftline.kafkaio.checkpoints import store_for
from driftline.kafkaio.clients import make_producer, secured
from driftline.kafkaio.health import KafkaProbe
from driftline.kafkaio.loop import Output, StreamLoop
from driftline.kafkaio.loopconfig import LoopConfig
from driftline.monitor.app import create_app
from driftline.monitor.decode import decode_outcome
from driftline.monitor.exposition import registry_for
from driftline.monitor.state import MonitorState, unit_of
from driftline.monitor.webhook import AlertPolicy, kafka_publisher
from driftline.rules import metric_names as names

log = logging.getLogger(__name__)


def webhook_token(settings: Settings) -> str:
    """The configured token, else one generated once and kept in ``state_dir/monitor/webhook_token``.

    Alertmanager's launcher reads the same file, so the two agree without a token in the config.
    A monitor listening beyond loopback must be given one: a generated token there is a token
    nobody outside this host knows, and the start is refused rather than silently generating it.
    """
    m = settings.monitor
    configured = configured_token(m.webhook_token, m.webhook_token_file, "monitor.webhook_token")
    refuse_unguarded(m.host, configured, "monitor.webhook_token")
    if configured:
        return configured
    path = Path(settings.state_dir) / "monitor" / "webhook_token"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(token)
    return token


def build_state(settings: Settings) -> MonitorState:
    m = settings.monitor
    return MonitorState(
        settings,
        window=m.window,
        dedupe_window=m.dedupe_window,
        max_device_series=m.max_device_series,
        dedupe=m.dedupes(settings.trainer),
    )


@dataclass
class MonitorService:
    """Runs the consumer loop and the HTTP server in background threads until :meth:`stop`."""

    settings: Settings
    bootstrap: str
    port: int | None = None
    state: MonitorState = field(init=False)
    policy: AlertPolicy = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False)
    _server: BackgroundServer | None = field(default=None, init=False)
    _producer: Any = field(default=None, init=False)
    loop: StreamLoop | None = field(default=None, init=False)
    error: BaseException | None = field(default=None, init=False)
    probe: KafkaProbe | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.bootstrap = secured(self.bootstrap, self.settings.kafka)
        self.state = build_state(self.settings)
        self.policy = AlertPolicy(self.settings.streams)
        self.port = self.settings.monitor.port if self.port is None else self.port

    @property
    def url(self) -> str:
        return f"http://{self.settings.monitor.host}:{self.port}"

    def publish_commands(self, commands: list[ControlCommand]) -> None:
        """Send reset commands to the control topic (what the webhook and `driftline reset` do)."""
        kafka_publisher(self._producer, self.settings.topics.control.name)(commands)

    def start(self) -> MonitorService:
        self._producer = make_producer(self.bootstrap)
        m = self.settings.monitor
        topics = self.settings.topics
        client_id = f"{self.settings.kafka.client_id}-monitor"
        config = LoopConfig.of(m, m.group_id, [topics.outcomes.name], client_id=client_id)
        registry = registry_for(self.state, self.policy.counts)
        recoveries = Counter(
            names.MONITOR_KAFKA_RECOVERIES,
            "Times Kafka failed the loop and it started over from its checkpoint.",
            registry=registry,
        )
        store = store_for(self.settings, self.bootstrap)
        self.loop = StreamLoop(self.bootstrap, config, self, store, on_recovery=lambda _: recoveries.inc())
        self.probe = KafkaProbe(self.bootstrap).start()
        token = webhook_token(self.settings)
        app = create_app(
            registry,
            self.policy,
            self.publish_commands,
            token,
            self.problem,
            self.settings.monitor.max_body_bytes,
            state=self.state,
            peers=self.settings.monitor.peers,
        )
        m = self.settings.monitor
        self._server = BackgroundServer(app, host=m.host, port=self.port or 0, access_log=m.access_log).start()
        self.port = self._server.port
        self._threads = [threading.Thread(target=self._consume, name="monitor-consumer", daemon=True)]
        self._threads[0].start()
        log.info("monitor serving /metrics, /alerts and the status page /ui on %s", self.url)
        return self

    def problem(self) -> str | None:
        """What keeps the monitor from working (for /healthz), or None."""
        if self.error is not None:
            return f"outcome consumer stopped: {type(self.error).__name__}: {self.error}"
        if self._threads and not self._stop.is_set() and not self._threads[0].is_alive():
            return "outcome consumer stopped"
        if self.probe is not None and (unreachable := self.probe.problem()):
            return unreachable
        if self.loop is not None and self.loop.fault:
            return f"outcome consumer recovering from a Kafka fault: {self.loop.fault}"
        return None

    # The loop's handler: a unit is an outcomes partition, as the trainer's (its model keys' outcomes).

    def unit_of(self, topic: str, partition: int) -> str:
        return unit_of(partition)

    def on_record(self, unit: str, message: Message) -> list[Output]:
        try:
            outcome = decode_outcome(message.value())
        except ContractError as e:
            log.warning("dropping an invalid outcome at offset %s of partition %s: %s", message.offset(),
                        message.partition(), e)  # fmt: skip
            self.state.drop("invalid", unit)
            return []
        self.state.observe(outcome, unit)
        return []

    def on_side(self, message: Message) -> tuple[list[Output], set[str]]:
        return [], set()

    def snapshot(self, unit: str) -> bytes:
        return self.state.snapshot(unit)

    def restore(self, unit: str, state: bytes | None) -> None:
        self.state.restore(unit, state)

    def release(self, unit: str) -> None:
        self.state.release(unit)

    def _consume(self) -> None:
        try:
            self.loop.run(self._stop)
        except BaseException as e:
            log.error("monitor consumer stopped: %s: %s", type(e).__name__, e)
            self.error = e

    def wait(self, until: threading.Event | None = None) -> None:
        """Block until ``until`` is set, the service is stopped, or its consumer fails."""
        while not self._stop.is_set() and all(t.is_alive() for t in self._threads):
            if until is not None and until.is_set():
                break
            self._stop.wait(0.5)
        if self.error:
            raise RuntimeError(f"monitor failed: {self.error}") from self.error

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.stop()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=15)
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None
        if self.probe is not None:
            self.probe.stop()
            self.probe = None

    def __enter__(self) -> MonitorService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
