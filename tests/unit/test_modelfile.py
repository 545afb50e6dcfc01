"""Model files and the import command, without a broker: signed, verified before unpickling, installed."""

from __future__ import annotations

import base64
import doctest
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from river import datasets

from driftline import modelfile
from driftline.checkpoint import Signer
from driftline.config import settings_from_dict
from driftline.config.base import ConfigError
from driftline.config.streams import StreamConfig
from driftline.contracts import MAX_COMMAND_BYTES, ContractError, ControlCommand, SensorEvent, parse, parse_any
from driftline.modelfile import ModelFileError, ModelHeader
from driftline.modelspec import build_model
from driftline.trainer import transfer
from driftline.trainer.core import TrainerCore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = list(datasets.Phishing())
FEATURES = {name: {} for name in ROWS[0][0]}
KEY = b"the checkpoint key of a test"
SIGNER = Signer(KEY)


def trained(n: int = 300, spec: str = "logistic") -> Any:
    model = build_model(spec)
    for x, y in ROWS[:n]:
        model.learn_one(x, y)
    return model


def header(**changes: Any) -> ModelHeader:
    stream = StreamConfig(task="binary", features=FEATURES)
    fields = {"model_key": "phish", "model_name": "logistic", "model_version": 3, "learned": 300, **changes}
    return ModelHeader.of("phish", stream, **fields)


class Marker:
    """A payload whose unpickling creates a file: proof of whether ``pickle.loads`` ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(modelfile).failed == 0


def test_a_model_comes_back_bit_identical_with_its_header() -> None:
    model = trained()
    data = modelfile.dump(header(), model, SIGNER)
    read, loaded = modelfile.load(data, SIGNER, "phish.model")
    assert (read.model_key, read.model_version, read.learned, read.task) == ("phish", 3, 300, "binary")
    assert read.features == sorted(FEATURES) and read.size == len(pickle.dumps(model, pickle.HIGHEST_PROTOCOL))
    for x, _ in ROWS[500:600]:
        assert loaded.predict_proba_one(x) == model.predict_proba_one(x)
    assert modelfile.peek(data, "phish.model") == read


def _tampered_payload(data: bytes, payload: bytes, fix_digest: bool) -> bytes:
    first, mac, line, _ = data.split(b"\n", 3)
    if fix_digest:  # an attacker without the key can rewrite the header too, but not its signature
        import hashlib
        import json

        fields = json.loads(line) | {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
        line = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return b"\n".join([first, mac, line, payload])


@pytest.mark.parametrize("fix_digest", [False, True])
def test_a_tampered_file_is_refused_before_anything_is_unpickled(tmp_path: Path, fix_digest: bool) -> None:
    marker = tmp_path / "unpickled"
    evil = pickle.dumps(Marker(marker))
    pickle.loads(evil)  # the payload does what it says when it is unpickled...
    assert marker.exists()
    marker.unlink()

    data = _tampered_payload(modelfile.dump(header(), trained(50), SIGNER), evil, fix_digest)
    expected = "signature does not match" if fix_digest else "does not match its signed digest"
    with pytest.raises(ModelFileError, match=expected):
        modelfile.load(data, SIGNER, "phish.model")
    assert not marker.exists()  # ...and load refused it before unpickling


def test_a_file_signed_with_the_key_is_trusted_whatever_it_holds(tmp_path: Path) -> None:
    """The key is the whole defence: pickle runs what a signed file says (docs/security.md)."""
    marker = tmp_path / "unpickled"
    data = modelfile.dump(header(), Marker(marker), SIGNER)
    marker.unlink(missing_ok=True)  # dump pickles without running the payload; make sure
    with pytest.raises(ModelFileError, match="not a River model"):
        modelfile.load(data, SIGNER, "phish.model")
    assert marker.exists()


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: b"PK\x03\x04" + d, "not a driftline model file"),
        (lambda d: d.replace(b"driftline-model 1\n", b"driftline-model 2\n", 1), "unknown model file format '2'"),
        (lambda d: d.split(b"\n", 2)[0] + b"\n" + b"0" * 64, "no header line"),
        (lambda d: d.replace(b'"learned":300', b'"learned":301'), "signature does not match"),
        (lambda d: d[:-1], "does not match its signed digest"),
    ],
)
def test_what_is_not_a_sound_model_file_is_refused_in_one_line(mangle: Any, message: str) -> None:
    data = modelfile.dump(header(), trained(50), SIGNER)
    with pytest.raises(ModelFileError, match=message) as caught:
        modelfile.load(mangle(data), SIGNER, "phish.model")
    assert "\n" not in str(caught.value)


def test_another_key_refuses_and_resign_moves_a_file_between_deployments() -> None:
    other = Signer(b"another deployment's checkpoint key")
    data = modelfile.dump(header(), trained(50), SIGNER)
    with pytest.raises(ModelFileError, match=r"phish\.model: signature does not match"):
        modelfile.load(data, other, "phish.model")
    moved = modelfile.resign(data, SIGNER, other, "phish.model")
    assert modelfile.load(moved, other, "phish.model")[0] == modelfile.peek(data, "phish.model")
    with pytest.raises(ModelFileError, match="signature does not match"):
        modelfile.resign(data, other, other, "phish.model")  # the first key must vouch for it


def test_a_model_that_would_see_other_inputs_does_not_fit() -> None:
    fitted = header()
    stream = StreamConfig(task="binary", features=FEATURES)
    assert fitted.misfit("phish", stream) is None
    assert "is regression" in str(fitted.misfit("p", StreamConfig(task="regression", features=FEATURES)))
    fewer = StreamConfig(task="binary", features={"x": {}, **dict(list(FEATURES.items())[1:])})
    assert "only in the file ['empty_server_form_handler'], only in the stream ['x']" in str(fitted.misfit("p", fewer))
    named = StreamConfig(task="binary", features=FEATURES, classes=["ok", "phish"])
    assert "classes None differ" in str(fitted.misfit("p", named))
    older = ModelHeader(**{**fitted.__dict__, "river": "0.1.0"})
    assert "pickled by River 0.1.0" in str(older.misfit("phish", stream))


def test_an_import_command_carries_its_model_and_only_an_import_does() -> None:
    with pytest.raises(ContractError, match="an import names one model_key and carries its model"):
        parse(ControlCommand, {"command_id": "c", "action": "import", "stream": "phish", "model": "AAAA"})
    with pytest.raises(ContractError, match="a reset command carries no model"):
        parse(ControlCommand, {"command_id": "c", "action": "reset", "stream": "phish", "model": "AAAA"})
    # Bigger than other messages may be, up to the command limit, and no further.
    big = ControlCommand(command_id="c", action="import", stream="phish", model_key="phish", model="A" * 200_000)
    assert parse_any(big.to_bytes()) == big == parse(ControlCommand, big.to_bytes())
    huge = big.to_bytes().replace(b'"A', b'"' + b"A" * MAX_COMMAND_BYTES, 1)
    with pytest.raises(ContractError, match=f"more than the {MAX_COMMAND_BYTES} allowed"):
        parse_any(huge)


def test_a_file_too_big_for_a_command_is_refused_naming_its_size(tmp_path: Path) -> None:
    settings = settings_from_dict(
        {"state_dir": str(tmp_path), "streams": {"phish": {"task": "binary", "features": FEATURES}}}, "t"
    )
    data = modelfile.dump(header(), [0.5] * 100_000, SIGNER)
    assert len(data) > transfer.MAX_MODEL_FILE_BYTES
    with pytest.raises(ConfigError, match=rf"big.model: {len(data):,} bytes, more than the 673,"):
        transfer.import_command(data, "phish", "champion", settings, SIGNER, "big.model")
    fits = modelfile.dump(header(), trained(50), SIGNER)
    command = transfer.import_command(fits, "phish", "challenger", settings, SIGNER, "fits.model")
    assert len(command.to_bytes()) < MAX_COMMAND_BYTES and base64.b64decode(command.model or "") == fits


# The import applied by the trainer's core


def core(tmp_path: Path, name: str, first: int, stop: int, **stream: Any) -> TrainerCore:
    spec = {"task": "binary", "model": "logistic", "features": FEATURES, **stream}
    settings = settings_from_dict(
        {"state_dir": str(tmp_path / name), "checkpoints": {"secret": KEY.decode()}, "streams": {"phish": spec}}, "t"
    )
    trainer = TrainerCore(settings)
    for i in range(first, stop):
        event = SensorEvent(event_id=f"e{i}", device_id="d", stream="phish", ts=T0 + timedelta(seconds=i),
                            features=ROWS[i][0], label=ROWS[i][1])  # fmt: skip
        trainer.on_event(event)
    return trainer


def import_of(data: bytes, role: str = "champion", command_id: str = "imp-1") -> ControlCommand:
    return ControlCommand(command_id=command_id, action="import", stream="phish", model_key="phish", role=role,
                          model=base64.b64encode(data).decode(), issuer="test")  # fmt: skip


def probes(trainer: TrainerCore) -> list[dict[str, float] | None]:
    return [trainer.predict("phish", x)["proba"] for x, _ in ROWS[1000:1100]]


def test_an_imported_champion_answers_as_its_source_did(tmp_path: Path) -> None:
    source, target = core(tmp_path, "a", 0, 400), core(tmp_path, "b", 600, 650)
    before = probes(target)
    assert probes(source) != before
    data = transfer.export(source.slots["phish"], source.signer)
    [ack] = target.on_command(import_of(data))
    assert (ack.status, ack.model_version) == ("applied", 2), ack.detail
    assert ack.detail == "imported phish v1 (400 learned) as champion logistic"
    assert probes(target) == probes(source)
    assert target.slots["phish"].learned == 400
    [again] = target.on_command(import_of(data))
    assert (again.status, target.slots["phish"].version) == ("duplicate", 2)
    restored = core(tmp_path, "c", 0, 0)
    restored.restore(target.snapshot(["phish"]))
    assert probes(restored) == probes(source)
    # The replaced model was kept as a snapshot: a rollback undoes the import.
    [undone] = target.on_command(ControlCommand(command_id="undo", action="rollback", stream="phish", issuer="t"))
    assert (undone.status, undone.model_version) == ("applied", 3)
    assert probes(target) == before


def test_an_imported_challenger_competes_and_the_champion_stays(tmp_path: Path) -> None:
    source = core(tmp_path, "a", 0, 600)
    target = core(tmp_path, "b", 600, 620, model="dummy.NoChangeClassifier", promote_window=50)
    served = probes(target)
    [ack] = target.on_command(import_of(transfer.export(source.slots["phish"], source.signer), role="challenger"))
    slot = target.slots["phish"]
    assert (ack.status, ack.model_version) == ("applied", 1)
    assert [c.name for c in slot.candidates] == ["dummy.NoChangeClassifier", "logistic"]
    assert probes(target) == served
    for i in range(620, 700):
        target.on_event(SensorEvent(event_id=f"e{i}", device_id="d", stream="phish", ts=T0 + timedelta(seconds=i),
                                    features=ROWS[i][0], label=ROWS[i][1]))  # fmt: skip
    assert slot.served.name == "logistic"  # the better imported model was promoted


def test_a_refused_import_leaves_the_model_as_it_was(tmp_path: Path) -> None:
    source, target = core(tmp_path, "a", 0, 300), core(tmp_path, "b", 600, 650)
    before = probes(target)
    foreign = transfer.export(source.slots["phish"], Signer(b"a key from elsewhere entirely"))
    [ack] = target.on_command(import_of(foreign, command_id="imp-foreign"))
    assert ack.status == "failed" and "signature does not match" in ack.detail
    regression = modelfile.dump(
        ModelHeader.of("phish", StreamConfig(task="regression", features=FEATURES), model_key="phish",
                       model_name="linear", model_version=1, learned=0),
        build_model("linear_model.LinearRegression"), target.signer,
    )  # fmt: skip
    [ack] = target.on_command(import_of(regression, command_id="imp-regression"))
    assert ack.status == "failed" and "a regression model, and stream phish is binary" in ack.detail
    command = import_of(b"", command_id="imp-bad").model_copy(update={"model": "not base64!"})
    [ack] = target.on_command(command)
    assert ack.status == "failed"
    assert target.slots["phish"].version == 1 and probes(target) == before
