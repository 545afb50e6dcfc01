"""Checkpoints: a unit of state with the input offsets it corresponds to, signed and chunked.

Pure logic, no Kafka. A :class:`Checkpoint` is what a service saved for one *unit* (a trainer's
partition, or the monitor's whole assignment): the state bytes its handler produced and the
offsets of every input partition the state has consumed up to. :class:`Signer` seals a
checkpoint into a manifest and chunks, and opens them again only when the HMAC-SHA256 signature
matches, before anything is unpickled.

>>> signer = Signer(b"a key of the deployment")
>>> sealed = signer.seal(Checkpoint("trainer", "p0", {"events:0": 42}, {}, b"state" * 3), chunk_bytes=4)
>>> len(sealed.chunks)
4
>>> signer.open(sealed.manifest, sealed.chunks).offsets
{'events:0': 42}
>>> Signer(b"another key of it").open(sealed.manifest, sealed.chunks)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
driftline.checkpoint.CheckpointError: checkpoint trainer/p0: signature does not match ...
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import hmac
import io
import json
import pickle
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftline.config.settings import Settings

FORMAT = 1
#: Modules whose classes earlier checkpoints and model files name, and where those classes live now
#: (the shared rules and the models' side left the services for packages of their own; a stream's config,
#: the one part of driftline.config a checkpoint holds, is driftline.config.streams).
MOVED_MODULES = {
    "driftline.config": "driftline.config.streams",
    "driftline.monitor.scores": "driftline.rules.scores",
    **{f"driftline.{name}": f"driftline.rules.{name}" for name in ("labels", "keys", "concept", "detectors")},
    **{f"driftline.{name}": f"driftline.rules.{name}" for name in ("datadrift", "dedupe")},
    **{f"driftline.trainer.{name}": f"driftline.learning.{name}" for name in ("cleaning", "units", "slot")},
    **{f"driftline.trainer.{name}": f"driftline.learning.{name}" for name in ("pending", "holdout")},
}


#: Classes that moved out of a module that stayed, (module, name) -> their module now.
MOVED_CLASSES = {
    **{("driftline.learning.slot", name): "driftline.learning.candidate" for name in ("Candidate",)},
    **{("driftline.learning.slot", name): "driftline.learning.model_input" for name in ("ModelInput", "_Levels")},
}


class _StateUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = MOVED_MODULES.get(module, module)
        return super().find_class(MOVED_CLASSES.get((module, name), module), name)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while restored state is built.

    A partition's state is millions of new containers, none of them garbage yet, and each collection
    their allocation sets off walks every object the process holds: a restore of 20,000 keys beside
    20,000 more took 2 to 4 times as long with it running.
    """
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


def load_state(data: bytes) -> Any:
    """Unpickle saved state (a checkpoint's, a snapshot's, a model file's), already verified by the caller,
    finding the classes of modules that moved since it was saved (:data:`MOVED_MODULES`); the garbage
    collector is paused meanwhile (:func:`gc_paused`)."""
    with gc_paused():
        return _StateUnpickler(io.BytesIO(data)).load()


#: Kafka's default record limit is 1 MiB; chunks stay well below it with headers and batching.
CHUNK_BYTES = 512 * 1024


class CheckpointError(RuntimeError):
    """A checkpoint that must not be loaded: tampered, foreign, incomplete or of an unknown format."""


def offset_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


@dataclass
class Checkpoint:
    """The state of one unit of a consumer group, and the input positions it corresponds to.

    ``offsets`` maps ``topic:partition`` to the next offset to read; ``side_offsets`` does the
    same for the broadcast topics (control, drift) whose records the state has applied.
    """

    group: str
    unit: str
    offsets: dict[str, int]
    side_offsets: dict[str, int]
    state: bytes
    created: float = field(default_factory=time.time)
    checkpoint_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def name(self) -> str:
        return f"{self.group}/{self.unit}"

    def describe(self) -> dict[str, Any]:
        """What `driftline checkpoints show` prints: everything but the state bytes."""
        return {
            "name": self.name,
            "checkpoint_id": self.checkpoint_id,
            "created": self.created,
            "size": len(self.state),
            "offsets": self.offsets,
            "side_offsets": self.side_offsets,
        }


@dataclass(frozen=True)
class Sealed:
    """A checkpoint as stored: a signed manifest and the chunks of its state."""

    manifest: dict[str, Any]
    chunks: list[bytes]


def _canonical(manifest: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in manifest.items() if k != "hmac"}, sort_keys=True).encode()


class Signer:
    """Signs and verifies checkpoints with one deployment-wide HMAC-SHA256 key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("checkpoint signing key: at least 16 bytes")
        self._key = key

    def _mac(self, manifest: dict[str, Any]) -> str:
        return hmac.new(self._key, _canonical(manifest), hashlib.sha256).hexdigest()

    def sign_blob(self, data: bytes) -> bytes:
        """``data`` behind its signature, for a file (a model snapshot)."""
        return hmac.new(self._key, data, hashlib.sha256).hexdigest().encode() + b"\n" + data

    def open_blob(self, blob: bytes, name: str) -> bytes:
        """The data of a :meth:`sign_blob` file, only if its signature matches."""
        mac, _, data = blob.partition(b"\n")
        if not hmac.compare_digest(mac, hmac.new(self._key, data, hashlib.sha256).hexdigest().encode()):
            raise CheckpointError(f"{name}: signature does not match (tampered, or signed with another key)")
        return data

    def seal(self, checkpoint: Checkpoint, chunk_bytes: int = CHUNK_BYTES) -> Sealed:
        state = checkpoint.state
        chunks = [state[i : i + chunk_bytes] for i in range(0, len(state), chunk_bytes)] or [b""]
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "group": checkpoint.group,
            "unit": checkpoint.unit,
            "checkpoint_id": checkpoint.checkpoint_id,
            "created": checkpoint.created,
            "offsets": checkpoint.offsets,
            "side_offsets": checkpoint.side_offsets,
            "size": len(state),
            "chunks": len(chunks),
            # The signature covers the manifest, and through this digest every byte of the state.
            "sha256": hashlib.sha256(state).hexdigest(),
        }
        manifest["hmac"] = self._mac(manifest)
        return Sealed(manifest, chunks)

    def verify(self, manifest: dict[str, Any]) -> None:
        """Refuse a manifest whose signature or format is wrong."""
        name = f"{manifest.get('group')}/{manifest.get('unit')}"
        if manifest.get("format") != FORMAT:
            raise CheckpointError(f"checkpoint {name}: unknown format {manifest.get('format')!r}")
        if not hmac.compare_digest(str(manifest.get("hmac", "")), self._mac(manifest)):
            raise CheckpointError(f"checkpoint {name}: signature does not match (tampered, or signed with another key)")

    def open(self, manifest: dict[str, Any], chunks: list[bytes]) -> Checkpoint:
        """The checkpoint, once its signature and every chunk are verified."""
        self.verify(manifest)
        name = f"{manifest['group']}/{manifest['unit']}"
        if len(chunks) != manifest["chunks"]:
            raise CheckpointError(f"checkpoint {name}: {len(chunks)} of {manifest['chunks']} chunks found")
        state = b"".join(chunks)
        if len(state) != manifest["size"] or hashlib.sha256(state).hexdigest() != manifest["sha256"]:
            raise CheckpointError(f"checkpoint {name}: state does not match its signed digest (tampered)")
        return Checkpoint(
            group=manifest["group"],
            unit=manifest["unit"],
            offsets=dict(manifest["offsets"]),
            side_offsets=dict(manifest["side_offsets"]),
            state=state,
            created=manifest["created"],
            checkpoint_id=manifest["checkpoint_id"],
        )


def signer_for(settings: Settings) -> Signer:
    c = settings.checkpoints
    return Signer(signing_key(c.secret.get_secret_value(), c.secret_file, settings.state_dir))


def signing_key(secret: str, secret_file: Path | None, state_dir: Path) -> bytes:
    """The configured key, else the key file, else one generated once in ``state_dir``.

    Instances that share checkpoints (a consumer group across hosts) must share the key: set
    ``checkpoints.secret`` or ``checkpoints.secret_file`` for them. A generated key suits one host.
    """
    if secret:
        return secret.encode()
    path = secret_file or state_dir / "checkpoint.key"
    if path.exists():
        return path.read_bytes().strip()
    if secret_file is not None:
        raise CheckpointError(f"checkpoints.secret_file: {path} does not exist")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32).encode()
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_bytes(key)
    tmp.replace(path)
    return key
