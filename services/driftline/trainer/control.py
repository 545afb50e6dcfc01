"""What the trainer does besides learning its events: control commands, and its reactions to drift.

:class:`TrainerControl` is a part of :class:`~driftline.trainer.core.TrainerCore` (which holds the
models and the state these act on): ``on_command`` applies a reset, rollback, snapshot, import or a
challenger's addition or removal to the model keys a command names, once per command and key, with
an ack per key; ``_react`` applies a stream's ``drift.on_alert`` to one model key where its judge
detected a concept drift or warning (:meth:`~driftline.trainer.core.TrainerCore._watch`).
"""

from __future__ import annotations

import base64
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from driftline import modelfile
from driftline.checkpoint import CheckpointError
from driftline.contracts import MAX_TEXT, ControlAck, ControlCommand
from driftline.learning.slot import ModelSlot
from driftline.modelspec import ModelSpecError
from driftline.rules.keys import stream_of

if TYPE_CHECKING:
    from driftline.checkpoint import Signer
    from driftline.config.settings import Settings
    from driftline.trainer.core import KeyState
    from driftline.trainer.metrics import TrainerMetrics

log = logging.getLogger(__name__)


class TrainerControl:
    """Control commands and drift reactions, on the models and state of the
    :class:`~driftline.trainer.core.TrainerCore` it is part of."""

    if TYPE_CHECKING:  # what the TrainerCore holds
        settings: Settings
        metrics: TrainerMetrics
        slots: dict[str, ModelSlot]
        keys: dict[str, KeyState]
        lock: threading.RLock
        signer: Signer

        @property
        def snapshot_root(self) -> Path: ...

        def _report_version(self, slot: ModelSlot) -> None: ...

        def wake(self, key: str) -> bool: ...

        def wake_stream(self, stream: str | None = None) -> None: ...

    # Drift

    def _react(self, slot: ModelSlot, level: str) -> str | None:
        """Apply the stream's ``drift.on_alert`` to one model key: what was done, or None.

        A warning starts a background model (for a later warm reset); a drift applies the policy:
        ``warm_reset`` swaps the background model in (a cold reset if none), ``cold_reset`` starts
        afresh (both keep the replaced model in the key's library, ``drift.library``), ``rollback`` serves
        the newest snapshot, ``notify`` changes nothing. A recall from the library comes later, at the
        end of the trial the reset began (:meth:`_recalled`).
        """
        policy = slot.stream.drift.on_alert
        done: str | None = None
        if level == "warning":
            done = "background" if policy == "warm_reset" and slot.start_background() else None
        elif policy == "rollback":
            try:
                done = "rollback" if slot.rollback(self.snapshot_root, self.signer) else None
            except CheckpointError as e:
                log.error("%s: drift rollback refused: %s", slot.key, e)
        elif policy != "notify":
            done = slot.drifted("warm" if policy == "warm_reset" else "cold")
        if done is not None:
            self._report_version(slot)
            self.metrics.drift_reactions.labels(stream_of(slot.key), done).inc()
        return done

    def _recalled(self, slot: ModelSlot) -> None:
        """A model of the key's library serves again (a new version), at the end of the trial after a drift."""
        self._report_version(slot)
        self.metrics.drift_reactions.labels(stream_of(slot.key), "recall").inc()

    # Control

    def _count_command(self, command: ControlCommand, status: str) -> None:
        # Anyone who can write to the control topic names the stream: bound the label by config.
        stream = command.stream if command.stream in self.settings.streams else "(unknown)"
        self.metrics.commands.labels(stream, command.action, status).inc()

    def on_command(self, command: ControlCommand) -> list[ControlAck]:
        """Apply a command to the model keys it names that this trainer holds; one ack per key.

        Each key remembers the commands applied to it, so a command read again (a duplicate, or
        a replay after recovery) is applied once.
        """
        with self.lock:
            if command.model_key:
                self.wake(command.model_key)
            else:
                self.wake_stream(command.stream)
            keys = [key for key in self.slots if (command.model_key or key) == key and stream_of(key) == command.stream]
            if not keys:
                self._count_command(command, "ignored")
                return [self._ack(command, command.model_key, "ignored", None, "no such model key here")]
            fresh = [key for key in keys if not self.keys[key].applied.seen(command.command_id)]
            if not fresh:
                self._count_command(command, "duplicate")
                return [self._ack(command, None, "duplicate", None, "command already applied")]
            acks = [self._apply(command, key, self.slots[key]) for key in fresh]
        for ack in acks:
            self._count_command(command, ack.status)
            log.info("%s %s on %s: %s (%s)", command.action, ack.status, ack.model_key, ack.detail, command.reason)
        return acks

    def _apply(self, command: ControlCommand, key: str, slot: ModelSlot) -> ControlAck:
        if command.action == "import":
            return self._import(command, key, slot)
        if command.action in ("add_challenger", "remove_challenger"):
            return self._challenger(command, key, slot)
        if command.action == "snapshot":
            path = slot.snapshot(self.snapshot_root, self.signer)
            self.metrics.snapshots.labels(command.stream).inc()
            return self._ack(command, key, "applied", slot.version, f"snapshot {path.name}")
        if command.action == "rollback":
            try:
                path = slot.rollback(self.snapshot_root, self.signer)
            except CheckpointError as e:
                return self._ack(command, key, "failed", slot.version, str(e))
            if path is None:
                return self._ack(command, key, "failed", slot.version, "no snapshot to roll back to")
            detail = f"rolled back to {path.name}"
        else:
            detail = f"{slot.reset(command.mode)} reset"
        self._report_version(slot)
        return self._ack(command, key, "applied", slot.version, detail)

    def _import(self, command: ControlCommand, key: str, slot: ModelSlot) -> ControlAck:
        """Install the command's model file, verified with the checkpoint key before anything is unpickled."""
        name = f"the model of command {command.command_id}"
        try:
            data = base64.b64decode(command.model or "", validate=True)
            header, model = modelfile.load(data, self.signer, name, lambda h: h.misfit(stream_of(key), slot.stream))
        except (CheckpointError, ValueError) as e:
            return self._ack(command, key, "failed", slot.version, str(e))
        role = command.role or "champion"
        if role == "champion":
            # The model it replaces is kept as the newest snapshot: a rollback undoes the import.
            slot.snapshot(self.snapshot_root, self.signer)
            self.metrics.snapshots.labels(command.stream).inc()
        installed = slot.install(header.model_name, model, role, header.learned)
        self._report_version(slot)
        source = f"{header.model_key} v{header.model_version} ({header.learned} learned)"
        return self._ack(command, key, "applied", slot.version, f"imported {source} as {role} {installed}")

    def _challenger(self, command: ControlCommand, key: str, slot: ModelSlot) -> ControlAck:
        """Add a challenger built from the command's spec (learning from here on), or remove one added so."""
        try:
            if command.action == "add_challenger":
                name = slot.add_challenger(command.spec or "", command.candidate)
                detail = f"added challenger {name}"
            else:
                slot.remove_challenger(command.candidate or "")
                detail = f"removed challenger {command.candidate}"
        except (ModelSpecError, ValueError) as e:
            return self._ack(command, key, "failed", slot.version, str(e))
        return self._ack(command, key, "applied", slot.version, detail)

    @staticmethod
    def _ack(command: ControlCommand, key: str | None, status: str, version: int | None, detail: str) -> ControlAck:
        return ControlAck(
            command_id=command.command_id,
            action=command.action,
            stream=command.stream,
            model_key=key,
            status=status,
            model_version=version,
            detail=detail[:MAX_TEXT],  # a model key or a file's complaint can be longer than an ack holds
        )
