"""The model file: one River model of one model key, signed, for ``driftline models export|import``.

Layout (docs/security.md, "Model files", describes it for people)::

    driftline-model 1\\n           magic and format version
    <HMAC-SHA256 hex>\\n           over the header line below, with the checkpoint key
    <header JSON>\\n               one line: where the model comes from, and the payload's size and SHA-256
    <payload>                     the model, pickled

The payload is a pickle, and unpickling runs code: a file is only as safe as the key that signed
it. So :func:`load` checks the magic, the format, the signature and the payload's digest, in that
order, then whether the model fits where it goes, and unpickles only a file that passed all of it.

>>> from driftline.checkpoint import Signer
>>> signer = Signer(b"a key of the deployment")
>>> data = dump(ModelHeader("rooms", "binary", ["t"], None, "rooms", "logistic", 2, 100), {"w": 0.5}, signer)
>>> data.split(b"\\n")[0]
b'driftline-model 1'
>>> verify(data, signer, "rooms.model")[0].learned
100
>>> verify(data, Signer(b"another key of it"), "rooms.model")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
driftline.modelfile.ModelFileError: rooms.model: signature does not match ...
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from driftline.checkpoint import CheckpointError, Signer, load_state
from driftline.config.streams import StreamConfig

MAGIC = b"driftline-model"
FORMAT = 1
#: A header is a few hundred bytes; anything much longer is not one of ours.
MAX_HEADER_BYTES = 64 * 1024


class ModelFileError(CheckpointError):
    """A model file that must not be loaded: not one, of an unknown format, tampered, foreign, or unfit.

    A :class:`~driftline.checkpoint.CheckpointError`: refused the same way, for the same reasons.
    """


def river_version() -> str:
    return version("river")


@dataclass(frozen=True)
class ModelHeader:
    """What a model file says about its model, signed with it.

    ``features`` and ``classes`` are the source stream's, so an import can refuse a model that
    would see other inputs or speak other classes; ``river`` the version that pickled it.
    """

    stream: str
    task: str
    features: list[str]
    classes: list[bool | int | str] | None
    model_key: str
    model_name: str
    model_version: int
    learned: int
    river: str = field(default_factory=river_version)
    python: str = field(default_factory=platform.python_version)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    size: int = 0
    sha256: str = ""
    format: int = FORMAT

    @classmethod
    def of(cls, stream_name: str, stream: StreamConfig, **model: Any) -> ModelHeader:
        """A header for a model of ``stream``; ``model``: model_key, model_name, model_version, learned."""
        return cls(stream_name, stream.task, sorted(stream.features), stream.classes, **model)

    def misfit(self, stream_name: str, stream: StreamConfig) -> str | None:
        """Why this model cannot serve ``stream`` (other task, features, classes or River), or None."""
        if self.task != stream.task:
            return f"a {self.task} model, and stream {stream_name} is {stream.task}"
        if self.features != sorted(stream.features):
            theirs, ours = set(self.features), set(stream.features)
            return (
                f"features differ from stream {stream_name}'s: only in the file {sorted(theirs - ours)}, "
                f"only in the stream {sorted(ours - theirs)}"
            )
        if self.classes != stream.classes:
            return f"classes {self.classes} differ from stream {stream_name}'s {stream.classes}"
        if self.river != river_version():
            return f"pickled by River {self.river}, and this trainer runs River {river_version()}"
        return None


def dump(header: ModelHeader, model: Any, signer: Signer) -> bytes:
    """The signed file of ``model``; the header's size and digest are filled in from the payload."""
    payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    header = dataclasses.replace(header, size=len(payload), sha256=hashlib.sha256(payload).hexdigest())
    line = json.dumps(dataclasses.asdict(header), sort_keys=True, separators=(",", ":")).encode()
    return _assemble(line, payload, signer)


def _assemble(line: bytes, payload: bytes, signer: Signer) -> bytes:
    return MAGIC + b" %d\n" % FORMAT + signer.sign_blob(line) + b"\n" + payload


def _parts(data: bytes, name: str) -> tuple[bytes, bytes, bytes]:
    """(signature, header line, payload), once the magic and the format are ours."""
    first, _, rest = data.partition(b"\n")
    magic, _, fmt = first.partition(b" ")
    if magic != MAGIC:
        raise ModelFileError(f"{name}: not a driftline model file")
    if fmt != b"%d" % FORMAT:
        raise ModelFileError(f"{name}: unknown model file format {fmt.decode(errors='replace')!r} (this is {FORMAT})")
    mac, _, rest = rest.partition(b"\n")
    line, newline, _ = rest[: MAX_HEADER_BYTES + 1].partition(b"\n")
    if not newline:
        raise ModelFileError(f"{name}: no header line (truncated)")
    return mac, line, rest[len(line) + 1 :]


def _header(line: bytes, name: str) -> ModelHeader:
    try:
        return ModelHeader(**json.loads(line))
    except (ValueError, TypeError) as e:
        raise ModelFileError(f"{name}: header is not a model header ({e})") from None


def peek(data: bytes, name: str) -> ModelHeader:
    """The header, unverified and without touching the payload (for people to read)."""
    return _header(_parts(data, name)[1], name)


def verify(data: bytes, signer: Signer, name: str) -> tuple[ModelHeader, bytes]:
    """The header and the pickled payload, once the signature and the payload's digest match; nothing unpickled."""
    mac, line, payload = _parts(data, name)
    try:
        signer.open_blob(mac + b"\n" + line, name)
    except CheckpointError as e:
        raise ModelFileError(str(e)) from None
    header = _header(line, name)
    if len(payload) != header.size or hashlib.sha256(payload).hexdigest() != header.sha256:
        raise ModelFileError(f"{name}: model does not match its signed digest (tampered or truncated)")
    return header, payload


def load(
    data: bytes, signer: Signer, name: str, fits: Callable[[ModelHeader], str | None] = lambda _: None
) -> tuple[ModelHeader, Any]:
    """The header and the model, unpickled only after :func:`verify` passed and ``fits(header)`` found no misfit."""
    header, payload = verify(data, signer, name)
    if misfit := fits(header):
        raise ModelFileError(f"{name}: {misfit}")
    try:
        model = load_state(payload)
    except Exception as e:  # signed, yet not loadable here (a class this installation lacks)
        raise ModelFileError(f"{name}: the model does not unpickle: {type(e).__name__}: {e}") from None
    if not callable(getattr(model, "learn_one", None)) or not callable(getattr(model, "predict_one", None)):
        raise ModelFileError(f"{name}: the payload is a {type(model).__name__}, not a River model")
    return header, model


def resign(data: bytes, verify_with: Signer, sign_with: Signer, name: str) -> bytes:
    """The same file signed with another key, once the first key verified it (a move between deployments)."""
    _, line, payload = _parts(data, name)
    verify(data, verify_with, name)
    return _assemble(line, payload, sign_with)
