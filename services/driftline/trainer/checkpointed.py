"""The model keys a checkpoint holds: snapshot them, take them over lazily, release them.

:class:`CheckpointedKeys` is a part of :class:`~driftline.trainer.core.TrainerCore`. A snapshot
holds each key's state (its model slot and :class:`~driftline.trainer.core.KeyState`) pickled
and compressed on its own. A restore unpickles only that outer map: each key stays *dormant*, its
bytes held, until something needs it (its next event or label, a command, ``/models``,
``/predict``, its label requests), and a snapshot writes a dormant key's bytes back as they came.
A hand-over of tens of thousands of keys thus costs reading the checkpoints, not rebuilding every
model; the keys the new owner's events reach wake one by one, and a dormant key takes a fifth of
the memory of a live one.

A per-device key no event or label used since the previous snapshot of its unit (so for a whole
checkpoint interval, ``checkpoint_interval_s`` or ``checkpoint_every_events``) goes dormant at this
one, its bytes the ones just written: memory follows the keys in use, not every key ever met, and a
snapshot pickles only keys in use and keys going to sleep. An idle device's next event pays for
waking its key (about a third of a millisecond for ``logistic``).

A stream-scoped key (one model for the stream) wakes at once: there are few, and its gauges and
serving are wanted from the start. A checkpoint written before keys were pickled one by one is
restored whole, as it was.
"""

from __future__ import annotations

import pickle
import threading
import zlib
from typing import TYPE_CHECKING, Any

from driftline.checkpoint import gc_paused, load_state
from driftline.rules.concept import ConceptWatch
from driftline.rules.datadrift import DataWatch
from driftline.rules.keys import stream_of

if TYPE_CHECKING:
    from driftline.config.settings import Settings
    from driftline.learning.slot import ModelSlot
    from driftline.trainer.core import KeyState

#: zlib's fastest level: a logistic key's pickle shrinks to 44% (6,484 to 2,829 B) for about 40% more snapshot time.
LEVEL = 1


def freeze(slot: ModelSlot, state: KeyState) -> bytes:
    """One key's state as a dormant key keeps it and a checkpoint holds it."""
    return zlib.compress(pickle.dumps((slot, state), protocol=pickle.HIGHEST_PROTOCOL), LEVEL)


def thaw(frozen: bytes) -> tuple[ModelSlot, KeyState]:
    """The state :func:`freeze` kept."""
    return load_state(zlib.decompress(frozen))


def kept_state(kept: bytes | tuple[ModelSlot, KeyState]) -> tuple[ModelSlot, KeyState]:
    """A key's state as a :meth:`CheckpointedKeys.snapshot` holds it (or one from before keys were frozen)."""
    return kept if isinstance(kept, tuple) else thaw(kept)


class CheckpointedKeys:
    """Snapshot, restore (lazily) and release model keys; see the module's docstring."""

    settings: Settings
    slots: dict[str, ModelSlot]
    keys: dict[str, KeyState]
    lock: threading.RLock
    #: Keys taken over from a checkpoint and not needed since: their state as :func:`freeze` kept it.
    _dormant: dict[str, bytes]
    #: Keys an event or a label used since the last snapshot of their unit.
    _used: set[str]

    if TYPE_CHECKING:  # what the TrainerCore holds
        _lanes: dict[str, Any]

        def _open(self, key: str) -> Any: ...

        def _report_version(self, slot: ModelSlot) -> None: ...

    def snapshot(self, keys: set[str] | list[str]) -> bytes:
        """The whole state of ``keys``: models with versions and counters, cleaning, dedupe, waiting labels."""
        frozen: dict[str, bytes] = {}
        with self.lock:
            used = self._used
            for key in sorted(keys):
                if key in self.slots:
                    frozen[key] = freeze(self.slots[key], self.keys[key])
                    if key not in used and key != stream_of(key):
                        self._sleep(key, frozen[key])  # unused for a whole checkpoint interval
                    used.discard(key)
                elif (dormant := self._dormant.get(key)) is not None:
                    frozen[key] = dormant
        return pickle.dumps(frozen, protocol=pickle.HIGHEST_PROTOCOL)

    def _sleep(self, key: str, frozen: bytes) -> None:
        self.slots.pop(key)
        self.keys.pop(key)
        self._lanes.pop(key, None)
        self._dormant[key] = frozen

    def restore(self, state: bytes) -> list[str]:
        """Take over the keys of a :meth:`snapshot` (verified by the caller before this unpickles); returns them.

        Each key stays dormant until needed (a stream-scoped key wakes now).
        """
        restored: dict[str, Any] = load_state(state)
        with self.lock, gc_paused():
            for key, kept in restored.items():
                # A checkpoint from before keys were frozen one by one holds them unpickled already.
                if isinstance(kept, tuple) or key == stream_of(key):
                    self._adopt(key, *kept_state(kept))
                else:
                    self._dormant[key] = kept
        return list(restored)

    def release(self, keys: set[str] | list[str]) -> None:
        """Forget ``keys`` (another instance takes them over)."""
        with self.lock:
            for key in keys:
                self.slots.pop(key, None)
                self.keys.pop(key, None)
                self._lanes.pop(key, None)
                self._dormant.pop(key, None)
                self._used.discard(key)

    def held(self) -> int:
        """Model keys held, dormant ones included."""
        with self.lock:
            return len(self.slots) + len(self._dormant)

    def wake(self, key: str) -> bool:
        """Make a dormant ``key`` live (the caller holds the lock); whether it was dormant."""
        frozen = self._dormant.pop(key, None)
        if frozen is None:
            return False
        with gc_paused():
            self._adopt(key, *thaw(frozen))
        return True

    def wake_stream(self, stream: str | None = None) -> None:
        """Make every dormant key of ``stream`` (of every stream: None) live (the caller holds the lock)."""
        for key in [k for k in self._dormant if stream is None or stream_of(k) == stream]:
            self.wake(key)

    def _adopt(self, key: str, slot: ModelSlot, key_state: KeyState) -> None:
        for name in ("asking", "requests"):
            if not hasattr(key_state, name):  # a checkpoint from before label requests
                setattr(key_state, name, None)
        # The running config decides cleaning and promotion; the models keep their own spec.
        stream = self.settings.streams.get(stream_of(key), slot.stream)
        slot.stream = key_state.cleaner.stream = stream
        if getattr(key_state, "watch", None) is None:  # a checkpoint from before the trainer judged drift
            key_state.watch = ConceptWatch(stream.drift, stream.task)
        if not hasattr(key_state, "data"):  # from before the trainer judged data drift
            key_state.data = DataWatch.of(stream.drift, stream.features)
        self.slots[key], self.keys[key] = slot, key_state
        self._open(key)
        self._report_version(slot)
