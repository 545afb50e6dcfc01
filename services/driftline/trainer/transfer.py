"""Moving one model key's model between trainers: from a checkpoint to a model file, and a file to a command.

``driftline models export`` takes the model out of the newest checkpoint of the unit holding the
key (the checkpoint store is in Kafka, so no trainer needs to run); ``driftline models import``
publishes it as an ``import`` control command, and waits for the trainer's ack. The trainer
installs it at the command's position and checkpoints it (``TrainerControl._import``, trainer/control.py).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from driftline import modelfile
from driftline.checkpoint import Signer, load_state
from driftline.config.base import ConfigError
from driftline.config.settings import Settings
from driftline.contracts import (
    MAX_COMMAND_BYTES,
    MAX_TEXT,
    ContractError,
    ControlAck,
    ControlCommand,
    parse,
    parse_any,
)
from driftline.kafkaio.clients import end_offset, make_consumer
from driftline.learning.slot import ModelSlot
from driftline.rules.keys import stream_of
from driftline.trainer.checkpointed import kept_state

#: Room a command's other fields take beside the base64 model (ids, reason, timestamps, JSON).
COMMAND_FRAME_BYTES = 2048
#: The largest model file an import command can carry (base64 grows it by a third).
MAX_MODEL_FILE_BYTES = (MAX_COMMAND_BYTES - COMMAND_FRAME_BYTES) // 4 * 3


Stored = Iterable[tuple[dict[str, Any], list[bytes] | None]]


def slot_in(stored: Stored, group: str, key: str, signer: Signer) -> ModelSlot:
    """The slot of ``key`` in the newest checkpoint of ``group`` holding it, each verified before it is unpickled."""
    found: tuple[float, ModelSlot] | None = None
    for manifest, chunks in stored:
        if manifest.get("group") != group or chunks is None:
            continue
        checkpoint = signer.open(manifest, chunks)
        state: dict[str, Any] = load_state(checkpoint.state)
        if key in state and (found is None or checkpoint.created > found[0]):
            found = (checkpoint.created, kept_state(state[key])[0])
    if found is None:
        raise ConfigError(f"--model-key: no checkpoint of trainer group {group!r} holds model key {key!r}")
    return found[1]


def export(slot: ModelSlot, signer: Signer, challenger: str | None = None) -> bytes:
    """The signed model file of the key's champion, or of the challenger named ``challenger``.

    The header describes the stream as the model learned it (the checkpoint's config of it).
    """
    names = [candidate.name for candidate in slot.candidates]
    if challenger is None:
        candidate = slot.served
    elif challenger in names and challenger != slot.served.name:
        candidate = slot.candidates[names.index(challenger)]
    else:
        others = ", ".join(n for n in names if n != slot.served.name) or "none"
        raise ConfigError(f"--challenger: {slot.key} has no challenger {challenger!r} (challengers: {others})")
    stream_name = stream_of(slot.key)
    header = modelfile.ModelHeader.of(
        stream_name,
        slot.stream,
        model_key=slot.key,
        model_name=candidate.name,
        model_version=slot.version,
        learned=slot.learned,
    )
    return modelfile.dump(header, candidate.model, signer)


def import_command(
    data: bytes, key: str, role: Literal["champion", "challenger"], settings: Settings, signer: Signer, name: str
) -> ControlCommand:
    """The control command carrying a verified, fitting model file to ``key``; refused when too big."""
    if len(data) > MAX_MODEL_FILE_BYTES:
        raise ConfigError(
            f"{name}: {len(data):,} bytes, more than the {MAX_MODEL_FILE_BYTES:,} a control command can carry "
            f"(Kafka's default record limit)"
        )
    header, _ = modelfile.verify(data, signer, name)
    stream_name = stream_of(key)
    if misfit := header.misfit(stream_name, settings.stream(stream_name)):
        raise modelfile.ModelFileError(f"{name}: {misfit}")
    command = {
        "command_id": f"import-{uuid.uuid4().hex}",
        "action": "import",
        "stream": stream_name,
        "model_key": key,
        "role": role,
        "model": base64.b64encode(data).decode(),
        "reason": f"import of {header.model_key} v{header.model_version} ({header.model_name})"[:MAX_TEXT],
        "issuer": "driftline-cli",
    }
    return parse(ControlCommand, command)  # a bad model key is a ContractError naming the field


def acks_ends(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """Where the next acks will be written (read before the command is sent, so its ack is not missed)."""
    consumer = make_consumer(bootstrap, None)
    try:
        return {p: end_offset(consumer, TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        consumer.close()


def await_ack(bootstrap: str, topic: str, command_id: str, since: dict[int, int], timeout: float) -> list[ControlAck]:
    """The acks of ``command_id`` on ``topic``, read from the offsets ``since``.

    Every trainer acks; those not holding the key say ``ignored``. Returns as soon as one answers
    otherwise, else what came within ``timeout``.
    """
    consumer = make_consumer(bootstrap, None)
    acks: list[ControlAck] = []
    try:
        consumer.assign([TopicPartition(topic, p, offset) for p, offset in since.items()])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in consumer.consume(100, timeout=0.2):
                if (error := message.error()) is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(error)
                try:
                    ack = parse_any(message.value())
                except ContractError:
                    continue
                if isinstance(ack, ControlAck) and ack.command_id == command_id:
                    acks.append(ack)
                    if ack.status != "ignored":
                        return acks
        return acks
    finally:
        consumer.close()
