"""The trainer at the Kafka edge: events, labels, commands in; outcomes, drift, label requests, acks, dead letters out.

All Kafka I/O is the :class:`~driftline.kafkaio.loop.StreamLoop`'s; this class is the trainer's
:class:`~driftline.kafkaio.loop.Handler`. Its unit of state is a partition number: events and
labels are keyed by model key and co-partitioned, so partition *p* of both holds the same model
keys, and the group's range assignment gives both to one instance. A checkpoint of unit ``p<p>``
holds every model key seen on partition *p*.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

import orjson
from confluent_kafka import Message

from driftline.config.settings import Settings
from driftline.contracts import (
    Contract,
    ContractError,
    ControlCommand,
    LabelEvent,
    OutcomeRecord,
    SensorEvent,
    parse_any,
)
from driftline.kafkaio.checkpoints import store_for
from driftline.kafkaio.clients import secured
from driftline.kafkaio.deadletter import dead_letter_headers
from driftline.kafkaio.loop import Output, StreamLoop
from driftline.kafkaio.loopconfig import LoopConfig
from driftline.trainer.core import TrainerCore, UnknownStream
from driftline.wire import WireEvent, WireLabel, decode_event, decode_label

log = logging.getLogger(__name__)
C = TypeVar("C", WireEvent | SensorEvent, WireLabel | LabelEvent)

LAG_EVERY_S = 5.0


def unit_of_partition(partition: int) -> str:
    return f"p{partition}"


class TrainerService:
    """One trainer instance: a member of the trainer group on events and labels, reading control whole."""

    def __init__(self, settings: Settings, bootstrap: str, core: TrainerCore | None = None) -> None:
        self.settings = settings
        self.bootstrap = bootstrap = secured(bootstrap, settings.kafka)
        self.core = core or TrainerCore(settings)
        self.stopped = threading.Event()
        #: Why the loop stopped on its own, if it did (health checks and the CLI report it).
        self.error: BaseException | None = None
        topics = settings.topics
        trainer = settings.trainer
        self._record_handlers: dict[str, Callable[[str, Message], list[Output]]] = {
            topics.events.name: partial(self._on_data, decode=decode_event, handle=self.core.on_event),
            topics.labels.name: partial(self._on_data, decode=decode_label, handle=self.core.on_label),
        }
        self._outcomes_topic = topics.outcomes.name
        self._keys: dict[str, set[str]] = {}
        config = LoopConfig.of(
            trainer,
            trainer.group_id,
            [topics.events.name, topics.labels.name],
            side_topics=[(topics.control.name, topics.control.partitions)],
            client_id=f"{settings.kafka.client_id}-trainer",
            batch=trainer.max_poll_records,
            align_wait_s=trainer.align_labels_s,
            # A model key is the record key, and all its state is its own.
            group_by_key=True,
        )
        self.loop = StreamLoop(
            bootstrap,
            config,
            self,
            store_for(settings, bootstrap),
            self._count_checkpoint,
            lambda _: self.core.metrics.recoveries.inc(),
        )

    @property
    def ready(self) -> threading.Event:
        """Set once the first assigned partitions are restored."""
        return self.loop.ready

    def loop_fault(self) -> str | None:
        """The Kafka fault the loop is waiting out, if any."""
        fault = self.loop.fault
        return f"trainer loop recovering from a Kafka fault: {fault}" if fault else None

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; a failure is kept in ``error`` (health checks report it)."""
        lag = threading.Thread(target=self._report_lag, args=(stop,), name="trainer-lag", daemon=True)
        lag.start()
        try:
            self.loop.run(stop)
        except BaseException as e:
            # Not Kafka's (those are waited out): a checkpoint refused, a bug. Stop visibly.
            log.error("trainer loop stopped: %s: %s", type(e).__name__, e, exc_info=not isinstance(e, RuntimeError))
            self.error = e
        finally:
            self.stopped.set()

    # Handler: units of state

    def unit_of(self, topic: str, partition: int) -> str:
        return unit_of_partition(partition)

    def snapshot(self, unit: str) -> bytes:
        return self.core.snapshot(self._keys.get(unit, set()))

    def restore(self, unit: str, state: bytes | None) -> None:
        self._keys[unit] = set(self.core.restore(state)) if state is not None else set()

    def release(self, unit: str) -> None:
        self.core.release(self._keys.pop(unit, set()))

    # Handler: records

    def on_record(self, unit: str, message: Message) -> list[Output]:
        try:
            return self._record_handlers[message.topic()](unit, message)
        except Exception as e:
            # One event a model cannot digest must not stop the stream: park it, go on.
            log.exception("failed on a record of %s", message.topic())
            return [self._reject(message, f"processing_error: {type(e).__name__}: {e}")]

    @staticmethod
    def time_of(message: Message) -> float:
        """An event's or a label's own time (epoch s), for aligning the two topics; unreadable: first."""
        try:
            return datetime.fromisoformat(orjson.loads(message.value())["ts"]).timestamp()
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return float("-inf")  # handled at once, and dead-lettered there

    def on_side(self, message: Message) -> tuple[list[Output], set[str]]:
        return self._on_control(message)

    def _on_data(
        self, unit: str, message: Message, decode: Callable[[bytes], C], handle: Callable[[C], OutcomeRecord | None]
    ) -> list[Output]:
        """Decode an event or a label, let the core handle it, publish its outcome; dead-letter what fails."""
        try:
            parsed = decode(message.value())
        except ContractError as e:
            return [self._reject(message, f"invalid: {e}")]
        try:
            outcome = handle(parsed)
        except UnknownStream as e:
            return [self._reject(message, f"unknown_stream: {e}", parsed.stream, parsed.device_id)]
        # The unit's checkpoint holds every model key its records reached.
        keys = self._keys.get(unit)
        if keys is None:
            keys = self._keys[unit] = set()
        keys.add(outcome.model_key if outcome is not None else self.core.key_of(parsed.stream, parsed.device_id))
        if outcome is None:
            return []
        outputs = [(self._outcomes_topic, outcome.model_key.encode(), outcome.to_bytes(), None)]
        if outcome.drift:
            # In the outcome's transaction: a detection is published exactly once, where it was made.
            drift_topic = self.settings.topics.drift.name
            outputs.extend(self._output(drift_topic, event, event.model_key) for event in outcome.drift)
        # In the same transaction as the outcome: a request is published exactly once, like it.
        if outcome.label is None and (request := self.core.label_request(outcome)) is not None:
            outputs.append(self._output(self.settings.topics.label_requests.name, request, request.model_key))
        return outputs

    def _on_control(self, message: Message) -> tuple[list[Output], set[str]]:
        try:
            command = parse_any(message.value())
        except ContractError as e:
            return [self._reject(message, f"invalid: {e}")], set()
        if not isinstance(command, ControlCommand):
            return [], set()  # acks, ours or another instance's, share the topic
        acks = self.core.on_command(command)
        changed = {self._unit_of_key(ack.model_key) for ack in acks if ack.status == "applied" and ack.model_key}
        topic = self.settings.topics.acks.name
        return [self._output(topic, ack, ack.model_key or ack.stream) for ack in acks], changed

    def _unit_of_key(self, key: str) -> str:
        for unit, keys in self._keys.items():
            if key in keys:
                return unit
        return ""

    @staticmethod
    def _output(topic: str, message: Contract | OutcomeRecord, key: str) -> Output:
        return topic, key.encode(), message.to_bytes(), None

    def _reject(self, message: Message, error: str, stream: str | None = None, device: str | None = None) -> Output:
        topic = message.topic()
        self.core.metrics.invalid.labels(topic, error.split(":", 1)[0]).inc()
        headers = dead_letter_headers(error, f"trainer:{topic}", device, stream)
        return self.settings.topics.deadletter.name, message.key(), message.value(), headers

    # Telemetry

    def _count_checkpoint(self, size: int, seconds: float) -> None:
        self.core.metrics.checkpoints.inc()
        self.core.metrics.checkpoint_bytes.set(size)
        self.core.metrics.checkpoint_seconds.observe(seconds)

    def _report_lag(self, stop: threading.Event) -> None:
        reported = 0
        while not stop.wait(LAG_EVERY_S):
            for topic, lag in self.loop.lag().items():
                self.core.metrics.consumer_lag.labels(topic).set(lag)
            waited_out = self.loop.waited_out
            self.core.metrics.align_waited_out.inc(max(waited_out - reported, 0))
            reported = waited_out
