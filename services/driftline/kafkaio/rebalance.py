"""The stream loop's side of a rebalance: units handed back, kept, restored and taken over.

:class:`Rebalancing` is a part of :class:`~driftline.kafkaio.loop.StreamLoop` (which holds the
clients, the units and the handler): librdkafka calls ``_on_assign``, ``_on_revoke`` and
``_on_lost`` from the consumer's poll, on the loop's thread. A revoked unit is committed and
checkpointed, then *parked*: the range assignor's rebalances revoke every partition of every
member, and a unit assigned back with the group's offsets as this member committed them goes on
from memory (:meth:`~driftline.kafkaio.units.Unit.still_current`); the others are released, and
units new to this member are restored from their newest checkpoints before any record is handled.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from driftline.checkpoint import offset_key
from driftline.kafkaio.clients import end_offset
from driftline.kafkaio.units import TP, Unit

if TYPE_CHECKING:
    from driftline.kafkaio.align import Aligner
    from driftline.kafkaio.checkpoints import KafkaCheckpointStore
    from driftline.kafkaio.loop import Handler
    from driftline.kafkaio.loopconfig import LoopConfig

log = logging.getLogger("driftline.kafkaio.loop")


class PartitionsLost(RuntimeError):
    """The group gave our partitions to another member (we missed the session): start over."""


class Rebalancing:
    """Assignment and revocation of the loop's units; see the module's docstring."""

    if TYPE_CHECKING:  # what the StreamLoop holds
        config: LoopConfig
        handler: Handler
        store: KafkaCheckpointStore | None
        side: Consumer | None
        ready: threading.Event
        fault: str | None
        _units: dict[str, Unit]
        _unit_of_tp: dict[TP, Unit]
        _parked: dict[str, Unit]
        _side_positions: dict[TP, int]
        _failure: BaseException | None
        _abandoning: bool
        _aligner: Aligner | None

        def _commit(self, force_checkpoints: bool = False, only: set[str] | None = None) -> None: ...

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            self._assign(consumer, partitions)
        except BaseException as e:
            # Raised inside librdkafka's callback it would be lost: the loop raises it instead.
            self._failure = e
            consumer.assign([])

    def _assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        foreign = sorted({tp.topic for tp in partitions} - set(self.config.topics))
        if foreign:
            raise RuntimeError(
                f"group {self.config.group_id!r} assigned {self.config.member_id} partitions of {foreign}, "
                f"which it does not read ({self.config.topics}): another member of the group with this "
                "instance id reads other topics; give each its own instance_id or group_id"
            )
        committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(partitions, timeout=60)}
        by_unit: dict[str, list[TP]] = {}
        for tp in partitions:
            by_unit.setdefault(self.handler.unit_of(tp.topic, tp.partition), []).append((tp.topic, tp.partition))
        start: list[TopicPartition] = []
        side_from: dict[TP, int] = {}
        began, restoring = time.perf_counter(), 0.0
        kept = self._keep_parked(by_unit, committed, start)
        # The units' checkpoints together: each checkpoint partition is read once, however many units it holds.
        others = sorted(set(by_unit) - kept)
        if self.store is not None:
            loaded = self.store.load_each(self.config.group_id, others)
        else:
            loaded = ((name, None) for name in others)
        for name, checkpoint in loaded:
            tps = by_unit[name]
            restore_began = time.perf_counter()
            self.handler.restore(name, checkpoint.state if checkpoint else None)
            restoring += time.perf_counter() - restore_began
            unit = self._units[name] = Unit(name)
            for tp in tps:
                self._unit_of_tp[tp] = unit
                done = committed.get(tp, -1)
                unit.emit_from[tp] = done if done >= 0 else -1
                if checkpoint is not None:
                    offset = checkpoint.offsets.get(offset_key(*tp), OFFSET_BEGINNING)
                elif self.store is not None or done < 0:
                    # No checkpoint: the state is rebuilt from the first record (outputs not emitted twice).
                    offset = OFFSET_BEGINNING
                else:
                    offset = done
                if offset >= 0:
                    unit.positions[tp] = offset
                start.append(TopicPartition(tp[0], tp[1], offset))
            if checkpoint is not None:
                for key, offset in checkpoint.side_offsets.items():
                    topic, _, partition = key.rpartition(":")
                    tp = (topic, int(partition))
                    side_from[tp] = min(offset, side_from.get(tp, offset))
            log.info(
                "%s: took over %s from %s", self.config.instance_id, name,
                f"checkpoint {checkpoint.checkpoint_id[:8]} at {checkpoint.offsets}" if checkpoint else "the start",
            )  # fmt: skip
        consumer.assign(start)
        self._position_side(side_from)
        took = time.perf_counter() - began
        log.info(
            "%s: took %d units in %.1f s (%d kept in memory; restoring the others %.1f s, reading checkpoints %.1f s)",
            self.config.instance_id, len(by_unit), took, len(kept), restoring, took - restoring,
        )  # fmt: skip
        self.fault = None
        self.ready.set()

    def _keep_parked(
        self, by_unit: dict[str, list[TP]], committed: dict[TP, int], start: list[TopicPartition]
    ) -> set[str]:
        """Of the units assigned, those handed back at the revocation just before and still current
        (:meth:`Unit.still_current`): they go on from memory, not from their checkpoints. The other
        units handed back are released. Returns the names kept."""
        kept: set[str] = set()
        parked, self._parked = self._parked, {}
        for name, unit in parked.items():
            tps = by_unit.get(name)
            if tps is None or not unit.still_current(tps, committed):
                self.handler.release(name)
                continue
            kept.add(name)
            self._units[name] = unit
            for tp in tps:
                self._unit_of_tp[tp] = unit
                start.append(TopicPartition(tp[0], tp[1], unit.positions.get(tp, OFFSET_BEGINNING)))
        return kept

    def _position_side(self, side_from: dict[TP, int]) -> None:
        """Start the side reader where the oldest restored state left it (else at the end, now)."""
        if self.side is None:
            return
        if not self._side_positions:
            for topic, partitions in self.config.side_topics:
                for partition in range(partitions):
                    tp = (topic, partition)
                    if tp not in side_from:
                        side_from[tp] = end_offset(self.side, TopicPartition(topic, partition))
            self._side_positions = dict(side_from)
            self.side.assign([TopicPartition(t, p, o) for (t, p), o in side_from.items()])
            return
        for tp, offset in side_from.items():
            if offset < self._side_positions.get(tp, offset):
                # Commands this state has not seen yet are read again; applied ones are skipped by id.
                self.side.seek(TopicPartition(tp[0], tp[1], offset))
                self._side_positions[tp] = offset

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._abandoning:
            return  # closing a consumer we gave up on: its units are dropped already
        try:
            names = {u.name for tp in partitions if (u := self._unit_of_tp.get((tp.topic, tp.partition)))}
            began = time.perf_counter()
            if names and self._failure is None:
                self._commit(force_checkpoints=True, only=names)
            committed = time.perf_counter()
            # Kept until the assignment that follows: most come back (eager rebalancing revokes all).
            self._drop(names, partitions, park=self._failure is None)
            log.info(
                "%s: handed back %d units in %.1f s (commit and checkpoints %.1f s)",
                self.config.instance_id, len(names), time.perf_counter() - began, committed - began,
            )  # fmt: skip
        except BaseException as e:
            self._failure = e

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member owns them now: nothing of ours may be committed for them, and the open
        # transaction holds outputs of theirs. The loop starts over from the checkpoints.
        if self._abandoning:
            return
        lost = ", ".join(f"{p.topic}[{p.partition}]" for p in partitions)
        self._failure = PartitionsLost(f"partitions lost to the group: {lost}")

    def _drop(self, names: set[str], partitions: list[TopicPartition], park: bool = False) -> None:
        for tp in partitions:
            self._unit_of_tp.pop((tp.topic, tp.partition), None)
        if self._aligner is not None:
            self._aligner.drop(names)  # not handled, so not committed: the next owner reads them
        for name in names:
            unit = self._units.pop(name, None)
            if park and unit is not None:
                self._parked[name] = unit
            else:
                self.handler.release(name)
