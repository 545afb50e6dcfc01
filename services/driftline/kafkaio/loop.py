"""The one loop every consumer of driftline runs: consume → handle → emit → checkpoint.

:class:`StreamLoop` owns all of a service's Kafka I/O: a consumer-group member on the service's
input topics, an optional reader of broadcast *side* topics (control, drift), one producer, and
the checkpoint store. The service's logic is a :class:`Handler`: it turns records into outputs
and snapshots or restores the state of a *unit* — a partition number for the trainer (events and
labels partition *p* hold the same model keys), a partition of outcomes for the monitor.

Guarantees, with ``exactly_once``: the outputs of a batch, the checkpoints due and the input
offsets are committed in one Kafka transaction. On assignment a unit is restored from its newest
checkpoint and replays its input from the checkpoint's offsets; records the group had already
committed are handled again (rebuilding the state exactly) but their outputs are not emitted
again. On revocation and on a clean stop every changed unit is checkpointed first. A revoked unit's
state is kept until the assignment that follows (the range assignor's rebalances revoke every
partition of every member): one assigned back with the group's offsets as it committed them goes on
from memory (:meth:`~driftline.kafkaio.units.Unit.still_current`), the others are released. Without
``exactly_once`` the same happens with flush-then-commit (at least once), one offset commit awaiting
the group coordinator at a time.

Faults are waited out, never fatal: when Kafka fails the loop (brokers gone, a commit or a
transaction refused, partitions lost to the group) it drops everything since its last commit —
clients, open transaction, the units' state in memory — waits with backoff, and starts again
exactly as a restarted process would: every unit from its newest checkpoint, outputs emitted
once. Only what is not Kafka's (a bug, a checkpoint refused by its signature) stops it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from driftline.checkpoint import Checkpoint, offset_key
from driftline.faults import crash_point
from driftline.kafkaio.align import Aligner
from driftline.kafkaio.checkpoints import KafkaCheckpointStore
from driftline.kafkaio.clients import consumer_config, make_consumer, producer_config
from driftline.kafkaio.loopconfig import LoopConfig
from driftline.kafkaio.rebalance import PartitionsLost, Rebalancing
from driftline.kafkaio.units import TP, Unit

log = logging.getLogger(__name__)


def _record_key(message: Message) -> bytes:
    return message.key() or b""


def group_by_key(messages: list[Message]) -> None:
    """Order a batch by record key, in place; each key's records keep their order (the sort is stable)."""
    messages.sort(key=_record_key)


#: One record to produce: topic, key, value, headers.
Output = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]] | None]

#: A transaction left open by a killed instance blocks read_committed readers (and the committed
#: offsets its successor needs) until it times out: keep that short; commits come every 0.5 s.
TRANSACTION_TIMEOUT_MS = 15_000
#: A transaction's AddOffsetsToTxn (and EndTxn) sent while the broker still writes the previous
#: one's markers is refused with CONCURRENT_TRANSACTIONS and retried after retry.backoff.ms, 100 ms by
#: default: a tenth of the transactions (40 of 444 in a paced run) came 100 ms late. librdkafka
#: retries AddPartitionsToTxn every 20 ms whatever this says. Retries still double, up to
#: retry.backoff.max.ms (1 s).
TRANSACTION_RETRY_BACKOFF_MS = 10
#: How long a commit may wait for the brokers before the loop starts over from its checkpoints.
COMMIT_TIMEOUT_S = 30.0
#: Checkpointing time one transaction may take. A unit's checkpoint pickles all its model keys (about
#: 0.4 ms of CPU per logistic key): with tens of thousands of keys the due checkpoints of one commit
#: would outlast TRANSACTION_TIMEOUT_MS, the broker would abort the transaction and fence the instance,
#: and it would restore and try again for ever. Past this budget a routine checkpoint waits for the next
#: commit; a forced one (a hand-over, a stop) goes on in a transaction of its own.
CHECKPOINT_BUDGET_S = TRANSACTION_TIMEOUT_MS / 1000 / 3
#: librdkafka's send_offsets_to_transaction can ignore its timeout and wait for ever when the
#: group coordinator's node is gone (confluentinc/librdkafka#5456, #5511; seen here when a cluster
#: node was killed): the loop stops waiting this much later and starts over with a new producer.
WEDGED_AFTER_S = COMMIT_TIMEOUT_S + 15.0
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0


def recoverable(error: BaseException) -> bool:
    """Whether the loop waits ``error`` out: everything Kafka raises, and lost partitions.

    A fenced producer is included: a transaction the coordinator aborted during an outage fences
    its producer too, and a new one is what resolves it.
    """
    return isinstance(error, KafkaException | PartitionsLost)


class Handler(Protocol):
    """A service's logic as the loop sees it."""

    def unit_of(self, topic: str, partition: int) -> str:
        """The unit of state an input partition belongs to."""
        ...

    def on_record(self, unit: str, message: Message) -> list[Output]:
        """Handle one input record of ``unit``; return what to produce."""
        ...

    def on_side(self, message: Message) -> tuple[list[Output], set[str]]:
        """Handle one record of a side topic; return outputs and the units it changed (checkpointed at once)."""
        ...

    def snapshot(self, unit: str) -> bytes: ...

    def restore(self, unit: str, state: bytes | None) -> None:
        """Take over ``unit``: from its checkpointed state, or fresh when ``state`` is None."""
        ...

    def release(self, unit: str) -> None: ...

    # Optional: ``before_commit()``, called first in every commit (the archiver writes its files there);
    # ``time_of(message) -> float``, the time a record is ordered by when the loop aligns its inputs.


class StreamLoop(Rebalancing):
    """Run with :meth:`run` on a thread of its own until the stop event is set."""

    def __init__(
        self,
        bootstrap: str,
        config: LoopConfig,
        handler: Handler,
        store: KafkaCheckpointStore | None,
        on_checkpoint: Callable[[int, float], None] | None = None,
        on_recovery: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.config = config
        self.handler = handler
        self.store = store if config.checkpoints else None
        self.on_checkpoint = on_checkpoint
        self.on_recovery = on_recovery
        self.ready = threading.Event()
        #: What the loop is waiting out, while it is (for /healthz); None when it runs.
        self.fault: str | None = None
        self.recoveries = 0
        self.consumer: Consumer | None = None
        self.side: Consumer | None = None
        self.producer: Producer | None = None
        self._units: dict[str, Unit] = {}
        self._unit_of_tp: dict[TP, Unit] = {}
        #: Units handed back at a revocation, committed and checkpointed, their state still held: the
        #: assignment that follows keeps those it gives back unchanged and releases the others.
        self._parked: dict[str, Unit] = {}
        self._side_positions: dict[TP, int] = {}
        self._uncommitted = 0
        self._last_commit = time.monotonic()
        self._delivery_error: KafkaError | None = None
        #: Without transactions: offset commits sent asynchronously and not answered yet (served by consume()).
        self._commits_unanswered = 0
        self._failure: BaseException | None = None
        self._abandoning = False
        self._transactions: ThreadPoolExecutor | None = None
        #: The producer is blocked inside librdkafka on the transactions thread: not to be touched.
        self._wedged = False
        self._aligner: Aligner[Message] | None = (
            Aligner(config.topics, config.align_wait_s) if config.align_wait_s > 0 else None
        )

    # Start and stop

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then checkpoint and commit everything.

        Kafka's faults are waited out (see the module's docstring); anything else is raised.
        """
        attempt = 0
        try:
            while not stop.is_set():
                try:
                    self._connect()
                    self._loop(stop)
                except Exception as e:
                    if not recoverable(e):
                        raise
                    # The backoff grows while faults follow each other; one that cleared starts it anew.
                    attempt = attempt + 1 if self.fault else 1
                    self._recover(e, attempt, stop)
                    continue
                self._final_commit()
                return
        finally:
            self._close()

    def _recover(self, error: BaseException, attempt: int, stop: threading.Event) -> None:
        """Drop everything since the last commit; wait before the next attempt."""
        delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** min(attempt - 1, 10)) * random.uniform(0.8, 1.2)
        self.fault = f"{type(error).__name__}: {error}"
        self.recoveries += 1
        log.warning("%s: Kafka failed the loop (%s); starting over from the checkpoints in %.1fs",
                    self.config.instance_id, self.fault, delay)  # fmt: skip
        if self.on_recovery is not None:
            self.on_recovery(error)
        self._abandon()
        stop.wait(delay)

    def _final_commit(self) -> None:
        try:
            self._commit(force_checkpoints=True)
        except Exception as e:
            if not recoverable(e):
                raise
            # Nothing is lost: the next start replays from the last committed checkpoint.
            log.warning("%s: stopped without a last checkpoint (%s)", self.config.instance_id, e)

    def _abandon(self) -> None:
        """Forget the clients, the open transaction and the units' state since the last checkpoint."""
        self._abandoning = True
        try:
            for name in [*self._units, *self._parked]:
                self.handler.release(name)
            if self._aligner is not None:
                self._aligner.drop()
            self._units.clear()
            self._parked.clear()
            self._unit_of_tp.clear()
            self._side_positions = {}
            self._uncommitted = 0
            self._delivery_error = self._failure = None
            if self.producer is not None:
                # Undelivered outputs belong to an aborted attempt; a new producer fences this one.
                if not self._wedged:
                    self.producer.purge(in_queue=True, in_flight=True, blocking=False)
                self.producer = None
                self._wedged = False
            for client in (self.side, self.consumer):
                if client is not None:
                    try:
                        client.close()
                    except (KafkaException, RuntimeError) as e:
                        log.debug("closing a consumer we gave up on: %s", e)
            self.side = self.consumer = None
            self._commits_unanswered = 0  # the next consumer starts with none
            if self.store is not None:
                # Its reader too: a client can keep asking a node that is gone (stale metadata).
                self.store.close()
        finally:
            self._abandoning = False

    def _connect(self) -> None:
        c = self.config
        eos = c.exactly_once
        transactional = {
            "transactional.id": f"{c.group_id}-{c.instance_id}",
            "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
            "retry.backoff.ms": TRANSACTION_RETRY_BACKOFF_MS,
        }
        self.producer = Producer(
            producer_config(
                self.bootstrap,
                **{"client.id": f"{c.client_id}-{c.instance_id}"},
                # A transaction's commit reports failed deliveries itself: a Python callback per record
                # is only needed without one.
                **(transactional if eos else {"on_delivery": self._on_delivery}),
                error_cb=self._on_error,
            )
        )
        if eos:
            # Fences a previous incarnation of this instance and aborts what it left open.
            self.producer.init_transactions(60)
            self.producer.begin_transaction()
        self.consumer = Consumer(
            consumer_config(
                self.bootstrap,
                c.group_id,
                **{
                    "client.id": f"{c.client_id}-{c.instance_id}",
                    **({"group.instance.id": c.member_id} if c.static_membership else {}),
                    "session.timeout.ms": c.session_timeout_ms,
                    "heartbeat.interval.ms": max(1000, c.session_timeout_ms // 5),
                    # Range: partition p of every input topic goes to the same member (co-partitioning).
                    "partition.assignment.strategy": "range",
                    "max.poll.interval.ms": 600_000,
                    "fetch.wait.max.ms": 50,
                    "error_cb": self._on_error,
                    "on_commit": self._on_commit,
                },
            )
        )
        self.consumer.subscribe(c.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        if c.side_topics:
            self.side = make_consumer(self.bootstrap, None, **{"client.id": f"{c.client_id}-{c.instance_id}-side"})

    def _close(self) -> None:
        # librdkafka clients are closed when dropped: keep no reference once done.
        if self.side is not None:
            self.side.close()
            self.side = None
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None
        if self.producer is not None:
            if not self._wedged:
                self.producer.flush(10)
            self.producer = None
        if self._transactions is not None:
            self._transactions.shutdown(wait=False)
            self._transactions = None
        if self.store is not None:
            self.store.close()

    # The loop

    def _loop(self, stop: threading.Event) -> None:
        assert self.consumer is not None and self.producer is not None
        while not stop.is_set():
            # What is fetched already, at once; else wait for the first record only, not for a whole
            # batch (consume() waits until it has ``batch`` records or the timeout ends).
            messages = self.consumer.consume(self.config.batch, timeout=0)
            drained = not messages
            if drained:
                messages = self.consumer.consume(1, timeout=0.1)
            if self._failure is not None:
                raise self._failure
            if self._aligner is not None:
                messages = self._aligned(messages)
            if self.config.group_by_key and len(messages) > 1:
                group_by_key(messages)
            for message in messages:
                self._handle(message)
            if self.side is not None and self._side_positions:
                for message in self.side.consume(100, timeout=0):
                    self._handle_side(message)
            self.producer.poll(0)
            if self._commit_due(idle=drained):
                self._commit()

    def _aligned(self, messages: list[Message]) -> list[Message]:
        """Of ``messages`` and those that waited, the ones whose turn has come (errors at once)."""
        assert self._aligner is not None
        now: list[Message] = []
        for message in messages:
            tp = (message.topic(), message.partition())
            unit = self._unit_of_tp.get(tp)
            if message.error() is not None or unit is None:
                now.append(message)
            else:
                self._aligner.add(unit.name, tp[0], self.handler.time_of(message), message)  # type: ignore[attr-defined]
        return now + self._aligner.ready()

    def _commit_due(self, idle: bool) -> bool:
        c = self.config
        now = time.monotonic()
        if self._commits_unanswered:
            # The group coordinator answers a member's requests one at a time, an offset commit in
            # about 6 ms on a local broker. Commits sent faster queue there, the member's heartbeats
            # queue behind them, and a commit that waits (a checkpoint's) waits for the whole queue:
            # the at-least-once stall of issue 20 (seconds, then the session lost and a replay).
            return False
        if self._uncommitted or any(u.uncommitted for u in self._units.values()):
            full = self._uncommitted >= c.commit_records
            # Only a transaction's commit makes outputs visible: without one they are out within
            # linger.ms anyway, and a commit per pause in the input would only record progress.
            idle = idle and c.commit_when_idle and c.exactly_once
            return idle or full or now - self._last_commit >= c.commit_interval_s
        # An idle unit still gets its checkpoint once the interval has passed.
        interval = c.checkpoint_interval_s
        stale = any(u.changed and now - u.checkpointed_at >= interval for u in self._units.values())
        return bool(self.store and interval and stale)

    def _handle(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return
            if error.fatal():
                raise KafkaException(error)
            log.warning("consumer: %s", error)
            return
        tp = (message.topic(), message.partition())
        unit = self._unit_of_tp.get(tp)
        if unit is None:
            return  # revoked while this batch was in flight
        outputs = self.handler.on_record(unit.name, message)
        offset = message.offset()
        positions = unit.positions
        if offset >= positions.get(tp, 0):  # grouped by key, a partition's records may come out of order
            positions[tp] = offset + 1
        unit.records_since += 1
        unit.changed = unit.uncommitted = True
        self._uncommitted += 1
        if offset >= unit.emit_from.get(tp, -1):
            self._emit(outputs)

    def _handle_side(self, message: Message) -> None:
        if message.error() is not None:
            if message.error().code() != KafkaError._PARTITION_EOF:
                log.warning("side consumer: %s", message.error())
            return
        outputs, changed = self.handler.on_side(message)
        self._side_positions[(message.topic(), message.partition())] = message.offset() + 1
        self._emit(outputs)
        for name in changed:
            unit = self._units.get(name)
            if unit is not None:
                unit.changed = unit.force = True
        if changed:
            self._commit()  # a command takes effect at a recorded position: checkpoint it now

    def _emit(self, outputs: list[Output]) -> None:
        assert self.producer is not None
        for topic, key, value, headers in outputs:
            while True:
                try:
                    self.producer.produce(topic, value=value, key=key, headers=headers)
                    break
                except BufferError:
                    self.producer.poll(0.05)
        self._uncommitted += len(outputs)

    def _on_error(self, error: KafkaError) -> None:
        # A fatal error may reach only this callback: a static member fenced after its coordinator
        # moved keeps answering consume() with nothing, and the loop would idle on a dead client.
        if error.fatal() and self._failure is None:
            self._failure = KafkaException(error)

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        # Called for asynchronous commits only.
        self._commits_unanswered = max(self._commits_unanswered - 1, 0)
        if error is not None:
            # At least once: the next commit carries these offsets, or a restart replays a little.
            log.debug("offset commit not accepted: %s", error)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None and self._delivery_error is None:
            self._delivery_error = error

    # Commit and checkpoint

    def _commit(self, force_checkpoints: bool = False, only: set[str] | None = None) -> None:
        """Checkpoint the units that are due (with ``force_checkpoints``: every changed one of ``only``,
        else of all), then commit the outputs and every unit's offsets together.

        Offsets go for every unit even when only some are checkpointed: the outputs of all of them
        are in this one transaction. Checkpoints that outlast :data:`CHECKPOINT_BUDGET_S` are split:
        the scheduled ones left wait for the next commit, the forced ones go on in another transaction
        (a checkpoint records its own offsets, so any transaction may carry it).
        """
        assert self.producer is not None and self.consumer is not None
        before_commit = getattr(self.handler, "before_commit", None)
        if before_commit is not None:
            before_commit()
        now = time.monotonic()
        c = self.config
        units = list(self._units.values())
        checkpointed = False
        if self.store is not None:
            forced, scheduled = [], []
            for unit in units:
                if not unit.changed:
                    continue
                if unit.force or (force_checkpoints and (only is None or unit.name in only)):
                    forced.append(unit)
                elif (c.checkpoint_every_records and unit.records_since >= c.checkpoint_every_records) or (
                    c.checkpoint_interval_s and now - unit.checkpointed_at >= c.checkpoint_interval_s
                ):
                    scheduled.append(unit)
            # The forced first, then the longest unsaved: what the budget leaves out is the newest saved.
            scheduled.sort(key=lambda unit: unit.checkpointed_at)
            began = time.monotonic()
            for unit in [*forced, *scheduled]:
                if checkpointed and time.monotonic() - began > CHECKPOINT_BUDGET_S:
                    if unit not in forced:
                        break  # still due: the next commit, 0.5 s on, takes it first
                    if c.exactly_once:
                        self._end_transaction(self._offsets(units))  # the forced ones go on in a new one
                    began = time.monotonic()
                self._checkpoint(unit)
                checkpointed = True
        offsets = self._offsets(units)
        crash_point("commit")
        if c.exactly_once:
            self._end_transaction(offsets)
        else:
            remaining = self.producer.flush(COMMIT_TIMEOUT_S)
            if remaining or self._delivery_error is not None:
                raise KafkaException(self._delivery_error or KafkaError(KafkaError._MSG_TIMED_OUT))
            if offsets:
                # The outputs are out already: a routine commit need not wait for the group
                # coordinator (a lost one replays a little, as at-least-once allows). A hand-over,
                # a stop or a checkpoint waits, so the group agrees with what was saved.
                routine = not (force_checkpoints or checkpointed)
                self.consumer.commit(offsets=offsets, asynchronous=routine)
                self._commits_unanswered += routine
        for unit in units:
            unit.uncommitted = False
        self._uncommitted = 0
        self._last_commit = time.monotonic()
        self.fault = None

    def _offsets(self, units: list[Unit]) -> list[TopicPartition]:
        return [TopicPartition(t, p, offset) for unit in units for (t, p), offset in unit.committable().items()]

    def _end_transaction(self, offsets: list[TopicPartition]) -> None:
        """Commit the open transaction with the input ``offsets``, and begin the next."""
        assert self.producer is not None and self.consumer is not None
        if offsets:
            group = self.consumer.consumer_group_metadata()
            self._bounded(self.producer.send_offsets_to_transaction, offsets, group, COMMIT_TIMEOUT_S)
        self._bounded(self.producer.commit_transaction, COMMIT_TIMEOUT_S)
        self.producer.begin_transaction()

    def _bounded(self, call: Callable[..., Any], *args: Any) -> None:
        """``call(*args)`` on the transactions thread, given up on after :data:`WEDGED_AFTER_S`."""
        if self._transactions is None:
            self._transactions = ThreadPoolExecutor(1, thread_name_prefix="transactions")
        future = self._transactions.submit(call, *args)
        try:
            future.result(WEDGED_AFTER_S)
        except FutureTimeout:
            # The thread stays blocked inside librdkafka, holding the producer: both are left behind.
            self._transactions.shutdown(wait=False)
            self._transactions = None
            self._wedged = True
            stuck = f"{getattr(call, '__name__', 'a transaction call')} did not return in {WEDGED_AFTER_S:.0f}s"
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, stuck)) from None

    def _checkpoint(self, unit: Unit) -> None:
        assert self.store is not None and self.producer is not None
        began = time.perf_counter()
        checkpoint = Checkpoint(
            group=self.config.group_id,
            unit=unit.name,
            offsets={offset_key(t, p): position for (t, p), position in unit.positions.items()},
            side_offsets={offset_key(t, p): position for (t, p), position in self._side_positions.items()},
            state=self.handler.snapshot(unit.name),
        )
        size = self.store.save(self.producer, checkpoint)
        seconds = time.perf_counter() - began
        unit.records_since = 0
        unit.checkpointed_at = time.monotonic()
        unit.changed = unit.force = False
        if self.on_checkpoint is not None:
            self.on_checkpoint(size, seconds)

    # Telemetry

    @property
    def waited_out(self) -> int:
        """Records the aligner handed out when their wait ran out (0 when the loop does not align)."""
        return self._aligner.waited_out if self._aligner is not None else 0

    def lag(self) -> dict[str, int]:
        """Records behind the partitions' high watermarks, per topic, from the consumer's cached figures."""
        per_topic: dict[str, int] = {}
        consumer = self.consumer  # the loop may replace it meanwhile (starting over after a fault)
        if consumer is None:
            return per_topic
        for tp, unit in list(self._unit_of_tp.items()):
            try:
                _, high = consumer.get_watermark_offsets(TopicPartition(*tp), cached=True)
            except (KafkaException, RuntimeError):  # RuntimeError: closed by the loop just now
                continue
            position = unit.positions.get(tp)
            if high >= 0 and position is not None:
                per_topic[tp[0]] = per_topic.get(tp[0], 0) + max(high - position, 0)
        return per_topic
