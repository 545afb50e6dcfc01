"""The trainer at the Kafka edge: consume events, labels, commands and drift; produce outcomes and acks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from driftline.config import Settings
from driftline.contracts import (
    ContractError,
    ControlCommand,
    DriftEvent,
    LabelEvent,
    Outcome,
    SensorEvent,
    parse,
    parse_any,
)
from driftline.kafkaio.clients import make_consumer, make_producer, send
from driftline.kafkaio.deadletter import send_dead_letter
from driftline.trainer.core import TrainerCore, UnknownStream

log = logging.getLogger(__name__)
C = TypeVar("C", SensorEvent, LabelEvent)

LAG_EVERY_S = 5.0
#: Offsets are committed (after every outcome so far is acknowledged) at least this often ...
COMMIT_INTERVAL_S = 0.5
#: ... or once this many sends await their acknowledgement.
COMMIT_RECORDS = 5000


class TrainerService:
    """One trainer instance: a member of the trainer consumer group on events and labels.

    Events and labels are keyed by model key and co-partitioned, so the group's range assignment
    gives one instance both the events and the labels of a model key. Control commands and drift
    warnings are broadcast: every instance reads all of them, from the moment it starts.
    Offsets are committed only once every outcome sent before them is acknowledged, at least
    every COMMIT_INTERVAL_S and on a clean stop (at-least-once; the monitor drops duplicate
    outcomes by id).
    """

    def __init__(self, settings: Settings, bootstrap: str, core: TrainerCore | None = None) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.core = core or TrainerCore(settings)
        self.ready = threading.Event()
        self.stopped = threading.Event()
        #: Why the loop stopped on its own, if it did (health checks and the CLI report it).
        self.error: BaseException | None = None
        topics = settings.topics
        self._handlers: dict[str, Callable[[ConsumerRecord], None]] = {
            topics.events.name: self._on_event_record,
            topics.labels.name: self._on_label_record,
            topics.control.name: self._on_control_record,
            topics.drift.name: self._on_drift_record,
        }
        self._producer: Any = None
        self._pending_sends: list[Any] = []

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; a failure is kept in ``error`` (health checks report it)."""
        clients: list[Any] = []
        try:
            data, side = self._connect(clients)
            self._loop(stop, data, side)
        except BaseException as e:
            # Kafka gave up on us (start-up, a commit after a rebalance, an unacknowledged
            # batch...): stop visibly rather than train on without committing.
            log.exception("trainer loop stopped")
            self.error = e
        finally:
            for client in reversed(clients):
                client.close()
            self.stopped.set()

    def _connect(self, clients: list[Any]) -> tuple[Any, Any]:
        """The group consumer of events and labels, the broadcast consumer of control and drift, the producer."""
        topics = self.settings.topics
        trainer = self.settings.trainer
        client_id = f"{self.settings.kafka.client_id}-trainer"
        data = make_consumer(
            self.bootstrap,
            topics.events.name,
            topics.labels.name,
            group_id=trainer.group_id,
            client_id=client_id,
            max_poll_records=trainer.max_poll_records,
        )
        clients.append(data)
        side = make_consumer(self.bootstrap, group_id=None, client_id=f"{client_id}-side")
        clients.append(side)
        side_partitions = [
            TopicPartition(spec.name, p) for spec in (topics.control, topics.drift) for p in range(spec.partitions)
        ]
        side.assign(side_partitions)
        side.seek_to_end()
        for tp in side_partitions:
            side.position(tp)  # resolve "end" now, so commands sent after start-up are never skipped
        self._producer = make_producer(self.bootstrap, client_id=client_id)
        clients.append(self._producer)
        return data, side

    def _loop(self, stop: threading.Event, data: Any, side: Any) -> None:
        next_lag = 0.0
        uncommitted = False
        last_commit = time.monotonic()
        while not stop.is_set():
            batch = data.poll(timeout_ms=200)
            if data.assignment() and not self.ready.is_set():
                self.ready.set()
            self._handle(batch)
            self._handle(side.poll(timeout_ms=0))
            uncommitted = uncommitted or bool(batch)
            # Waiting for acks after every poll would cost a broker round trip per batch:
            # wait when idle, every COMMIT_INTERVAL_S, or once COMMIT_RECORDS sends are open.
            due = (
                not batch
                or len(self._pending_sends) >= COMMIT_RECORDS
                or time.monotonic() - last_commit >= COMMIT_INTERVAL_S
            )
            if due and (uncommitted or self._pending_sends):
                self._commit(data, uncommitted)
                uncommitted = False
                last_commit = time.monotonic()
            if time.monotonic() >= next_lag:
                self._report_lag(data)
                next_lag = time.monotonic() + LAG_EVERY_S
        # A clean stop: what was processed is acknowledged and committed, nothing is redone.
        self._commit(data, uncommitted)

    def _commit(self, data: Any, offsets: bool) -> None:
        self._flush()
        if offsets:
            data.commit()

    def _handle(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        for tp, records in batch.items():
            handler = self._handlers[tp.topic]
            for record in records:
                try:
                    handler(record)
                except Exception as e:
                    # One event a model cannot digest must not stop the stream: park it, go on.
                    log.exception("failed on a record of %s", record.topic)
                    self._reject(record, f"processing_error: {type(e).__name__}: {e}")

    def _emit(self, topic: str, message: Any, key: str) -> None:
        self._pending_sends.append(send(self._producer, topic, message, key))

    def _flush(self) -> None:
        """Wait for every send of this batch: outcomes are acknowledged before offsets are committed."""
        if not self._pending_sends:
            return
        self._producer.flush()
        for future in self._pending_sends:
            future.get(timeout=30)
        self._pending_sends.clear()

    def _reject(self, record: ConsumerRecord, error: str, stream: str | None = None, device: str | None = None) -> None:
        self.core.metrics.invalid.labels(record.topic, error.split(":", 1)[0]).inc()
        self._pending_sends.append(
            send_dead_letter(
                self._producer,
                self.settings.topics.deadletter.name,
                record.value,
                error,
                source=f"trainer:{record.topic}",
                device=device,
                stream=stream,
                key=record.key,
            )
        )

    def _on_event_record(self, record: ConsumerRecord) -> None:
        self._on_data_record(record, SensorEvent, self.core.on_event)

    def _on_label_record(self, record: ConsumerRecord) -> None:
        self._on_data_record(record, LabelEvent, self.core.on_label)

    def _on_data_record(self, record: ConsumerRecord, contract: type[C], handle: Callable[[C], Outcome | None]) -> None:
        """Parse an event or a label, let the core handle it, publish its outcome; dead-letter what fails."""
        try:
            message = parse(contract, record.value)
        except ContractError as e:
            self._reject(record, f"invalid: {e}")
            return
        try:
            outcome = handle(message)
        except UnknownStream as e:
            self._reject(record, f"unknown_stream: {e}", message.stream, message.device_id)
            return
        if outcome is not None:
            self._emit(self.settings.topics.outcomes.name, outcome, outcome.model_key)

    def _on_control_record(self, record: ConsumerRecord) -> None:
        try:
            message = parse_any(record.value)
        except ContractError as e:
            self._reject(record, f"invalid: {e}")
            return
        if not isinstance(message, ControlCommand):
            return  # acks, ours or another instance's, share the topic
        for ack in self.core.on_command(message):
            self._emit(self.settings.topics.control.name, ack, ack.model_key or ack.stream)

    def _on_drift_record(self, record: ConsumerRecord) -> None:
        try:
            drift = parse(DriftEvent, record.value)
        except ContractError:
            return  # the drift topic is the monitor's; a bad record there is not the trainer's to judge
        if self.core.on_drift(drift):
            log.info("drift warning on %s: background model started", drift.model_key)

    def _report_lag(self, consumer: Any) -> None:
        assigned = list(consumer.assignment())
        if not assigned:
            return
        try:
            ends = consumer.end_offsets(assigned)
        except Exception:  # lag is best-effort telemetry; never stop training for it
            return
        per_topic: dict[str, int] = {}
        for tp in assigned:
            position = consumer.position(tp)
            per_topic[tp.topic] = per_topic.get(tp.topic, 0) + max(ends.get(tp, position) - position, 0)
        for topic, lag in per_topic.items():
            self.core.metrics.consumer_lag.labels(topic).set(lag)
