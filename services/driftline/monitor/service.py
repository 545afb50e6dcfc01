"""The monitor service: consume outcomes, publish drift events, serve /metrics and the webhook."""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftline.config import Settings
from driftline.contracts import ContractError, ControlCommand, Outcome, parse
from driftline.httpserver import BackgroundServer
from driftline.kafkaio.clients import make_consumer, make_producer, send
from driftline.monitor.app import create_app
from driftline.monitor.exposition import registry_for
from driftline.monitor.state import MonitorState
from driftline.monitor.webhook import AlertPolicy, kafka_publisher

log = logging.getLogger(__name__)
#: How long to wait for Kafka to acknowledge the drift events of a batch before committing it.
SEND_TIMEOUT_S = 30.0


def webhook_token(settings: Settings) -> str:
    """The configured token, else one generated once and kept in ``state_dir/monitor/webhook_token``.

    Alertmanager's launcher reads the same file, so the two agree without a token in the config.
    """
    if settings.monitor.webhook_token:
        return settings.monitor.webhook_token
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
    return MonitorState(settings, window=m.window, dedupe_window=m.dedupe_window, max_device_series=m.max_device_series)


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
    error: BaseException | None = field(default=None, init=False)

    def __post_init__(self) -> None:
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
        registry = registry_for(self.state, self.policy.counts)
        app = create_app(registry, self.policy, self.publish_commands, webhook_token(self.settings), self.problem)
        self._server = BackgroundServer(app, host=self.settings.monitor.host, port=self.port or 0).start()
        self.port = self._server.port
        self._threads = [threading.Thread(target=self._consume, name="monitor-consumer", daemon=True)]
        self._threads[0].start()
        log.info("monitor serving /metrics and /alerts on %s", self.url)
        return self

    def problem(self) -> str | None:
        """What keeps the monitor from working (for /healthz), or None."""
        if self.error is not None:
            return f"outcome consumer stopped: {type(self.error).__name__}: {self.error}"
        if self._threads and not self._stop.is_set() and not self._threads[0].is_alive():
            return "outcome consumer stopped"
        return None

    def _consume(self) -> None:
        topics = self.settings.topics
        group = self.settings.monitor.group_id
        try:
            consumer = make_consumer(self.bootstrap, topics.outcomes.name, group_id=group, max_poll_records=500)
        except BaseException as e:
            log.exception("monitor consumer could not start")
            self.error = e
            return
        try:
            while not self._stop.is_set():
                batches = consumer.poll(timeout_ms=200)
                events = []
                sent: list[Any] = []
                for records in batches.values():
                    for record in records:
                        try:
                            outcome = parse(Outcome, record.value)
                        except ContractError as e:
                            log.warning("dropping an invalid outcome at offset %s: %s", record.offset, e)
                            self.state.drop("invalid")
                            continue
                        events += self.state.observe(outcome)
                for event in events:
                    log.info(
                        "%s %s drift on %s (%s%s) at %d",
                        event.level,
                        event.drift_kind,
                        event.model_key,
                        event.detector,
                        f", feature {event.feature}" if event.feature else "",
                        event.position,
                    )
                    sent.append(send(self._producer, topics.drift.name, event, key=event.model_key))
                # Commit only what Kafka acknowledged: a lost drift event would never be detected again.
                if sent:
                    self._producer.flush()
                    for future in sent:
                        future.get(timeout=SEND_TIMEOUT_S)
                if batches:
                    consumer.commit()
        except BaseException as e:
            log.exception("monitor consumer stopped")
            self.error = e
        finally:
            consumer.close()

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
            self._producer.close(timeout=10)
            self._producer = None

    def __enter__(self) -> MonitorService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
