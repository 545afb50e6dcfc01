"""The checkpoint store on Kafka: a compacted topic holding the newest checkpoint of every unit.

A checkpoint is written as its state chunks (key ``<group>/<unit>/<checkpoint id>/<i>``) followed
by its signed manifest (key ``<group>/<unit>``), all to one partition chosen by the name, and then
tombstones for the previous checkpoint's chunks. Inside a transaction the whole write is atomic;
without one, a crash part-way leaves the previous manifest and its chunks in place, so the
previous checkpoint stays usable either way. Compaction then keeps one manifest per unit and only
the chunks nobody deleted.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from driftline.checkpoint import Checkpoint, CheckpointError, Signer, signer_for
from driftline.config.settings import Settings
from driftline.faults import crash_point
from driftline.kafkaio.clients import end_offset, make_consumer, secured

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 60.0


@dataclass
class _Partition:
    """What one read of a checkpoint partition found: newest manifests and live chunks."""

    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    chunks: dict[str, bytes] = field(default_factory=dict)


def store_for(settings: Settings, bootstrap: str) -> KafkaCheckpointStore:
    """The deployment's checkpoint store, signing with its configured key."""
    spec = settings.topics.checkpoints
    return KafkaCheckpointStore(secured(bootstrap, settings.kafka), spec.name, spec.partitions, signer_for(settings))


class KafkaCheckpointStore:
    """Saves and loads checkpoints on ``topic`` (compacted, ``partitions`` partitions)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, signer: Signer) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.signer = signer
        #: Chunk keys each unit's newest checkpoint superseded, to delete with the next save.
        self._stale: dict[str, list[str]] = {}
        self._reader: Consumer | None = None

    def partition_of(self, name: str) -> int:
        return zlib.crc32(name.encode()) % self.partitions

    def save(self, producer: Producer, checkpoint: Checkpoint) -> int:
        """Produce ``checkpoint`` (in the producer's open transaction, if any); returns bytes written."""
        name = checkpoint.name
        partition = self.partition_of(name)
        sealed = self.signer.seal(checkpoint)
        chunk_keys = [f"{name}/{checkpoint.checkpoint_id}/{i}" for i in range(len(sealed.chunks))]
        for key, chunk in zip(chunk_keys, sealed.chunks, strict=True):
            self._produce(producer, key, chunk, partition)
        # Killed with the chunks on the broker and the manifest not: the riskiest moment of a write.
        crash_point("checkpoint", before=lambda: producer.flush(30))
        manifest = json.dumps(sealed.manifest).encode()
        self._produce(producer, name, manifest, partition)
        for key in self._stale.get(name, []):
            self._produce(producer, key, None, partition)
        self._stale[name] = chunk_keys
        return len(checkpoint.state) + len(manifest)

    def _produce(self, producer: Producer, key: str, value: bytes | None, partition: int) -> None:
        while True:
            try:
                producer.produce(self.topic, key=key.encode(), value=value, partition=partition)
                return
            except BufferError:
                producer.poll(0.1)  # a large checkpoint can fill the queue: let deliveries drain it

    def load(self, group: str, unit: str) -> Checkpoint | None:
        """The newest committed checkpoint of ``group/unit``, verified; None if there is none.

        Raises :class:`CheckpointError` when it exists but must not be loaded.
        """
        return dict(self.load_each(group, [unit]))[unit]

    def load_each(self, group: str, units: list[str]) -> Iterator[tuple[str, Checkpoint | None]]:
        """(unit, :meth:`load` of it) for each of ``units``, reading each checkpoint partition once for all of them.

        A partition holds the checkpoints of several units, and their earlier generations until
        compaction: a hand-over of a dozen units read each partition once per unit before. The units
        come partition by partition, so only one partition's chunks are held at a time.
        """
        by_partition: dict[int, list[str]] = {}
        for unit in units:
            by_partition.setdefault(self.partition_of(f"{group}/{unit}"), []).append(unit)
        for partition, its_units in sorted(by_partition.items()):
            found = self._read(partition, prefixes={f"{group}/{unit}" for unit in its_units})
            for unit in its_units:
                yield unit, self._open(f"{group}/{unit}", found)

    def _open(self, name: str, found: _Partition) -> Checkpoint | None:
        manifest = found.manifests.get(name)
        live = {k for k in found.chunks if k.startswith(f"{name}/")}
        if manifest is None:
            self._stale[name] = sorted(live)
            return None
        self.signer.verify(manifest)
        keys = [f"{name}/{manifest['checkpoint_id']}/{i}" for i in range(manifest["chunks"])]
        missing = [k for k in keys if k not in found.chunks]
        if missing:
            raise CheckpointError(f"checkpoint {name}: {len(missing)} of {len(keys)} chunks are missing")
        checkpoint = self.signer.open(manifest, [found.chunks[k] for k in keys])
        # Chunks of checkpoints that were never completed are deleted with the next save.
        self._stale[name] = sorted(live)
        return checkpoint

    def manifests(self) -> Iterator[tuple[dict[str, Any], list[bytes] | None]]:
        """Every unit's newest manifest with its chunks (None where some are missing), all partitions."""
        for partition in range(self.partitions):
            found = self._read(partition)
            for name, manifest in sorted(found.manifests.items()):
                keys = [f"{name}/{manifest.get('checkpoint_id')}/{i}" for i in range(int(manifest.get("chunks", 0)))]
                chunks = [found.chunks[k] for k in keys] if all(k in found.chunks for k in keys) else None
                yield manifest, chunks

    def _consumer(self) -> Consumer:
        if self._reader is None:
            self._reader = make_consumer(
                self.bootstrap,
                None,
                **{"enable.partition.eof": True, "fetch.max.bytes": 64 << 20, "max.partition.fetch.bytes": 16 << 20},
            )
        return self._reader

    def _read(self, partition: int, prefixes: set[str] | None = None) -> _Partition:
        """Read one partition from its start to its last committed record: every unit's records, or those of
        the units named ``prefixes`` (``group/unit``)."""
        consumer = self._consumer()
        tp = TopicPartition(self.topic, partition)
        end = end_offset(consumer, tp)
        found = _Partition()
        if end <= 0:
            return found
        consumer.assign([TopicPartition(self.topic, partition, 0)])
        deadline = time.monotonic() + READ_TIMEOUT_S
        try:
            while True:
                if time.monotonic() > deadline:
                    # Kafka's fault, not the checkpoint's: the loop waits it out and reads again.
                    late = f"{self.topic}[{partition}]: not read to its end in {READ_TIMEOUT_S:.0f}s"
                    raise KafkaException(KafkaError(KafkaError._TIMED_OUT, late))
                messages = consumer.consume(1000, timeout=0.1)
                eof = False
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            eof = True
                            continue
                        raise KafkaException(error)
                    key = (message.key() or b"").decode()
                    # group/unit, or a chunk's group/unit/id/i: the unit is the key's first two parts.
                    if prefixes is not None and "/".join(key.split("/", 2)[:2]) not in prefixes:
                        continue
                    self._take(found, key, message.value())
                if eof or consumer.position([tp])[0].offset >= end:
                    return found
        finally:
            consumer.unassign()

    @staticmethod
    def _take(found: _Partition, key: str, value: bytes | None) -> None:
        if key.count("/") >= 3:  # a chunk: group/unit/id/i (units and groups hold no slash)
            if value is None:
                found.chunks.pop(key, None)
            else:
                found.chunks[key] = value
            return
        if value is None:
            found.manifests.pop(key, None)
            return
        try:
            found.manifests[key] = json.loads(value)
        except ValueError:
            log.warning("checkpoint topic: record %s is not a manifest; ignored", key)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
