"""`driftline models export|import` through the real broker: a model moved between trainers answers the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from kafka_helpers import TopicReader, produce
from test_cli import driftline
from test_trainer_control import FEATURES, ROWS, models, phishing_events

from driftline.config.settings import Settings
from driftline.config.streams import StreamConfig
from driftline.contracts import Outcome
from driftline.modelfile import peek
from driftline.trainer.runner import TrainerRunner

STREAMS = {"phish": {"task": "binary", "model": "logistic", "features": FEATURES}}
PROBES = [x for x, _ in ROWS[1000:1100]]
SECRET_A = "the checkpoint key of deployment A"
SECRET_B = "the checkpoint key of deployment B"


def cli_env(settings: Settings, secret: str) -> dict[str, str]:
    """The environment a user's `driftline` command would have for ``settings``' deployment."""
    return {
        "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "DRIFTLINE_STATE_DIR": str(settings.state_dir),
        "DRIFTLINE_TOPICS": json.dumps(settings.topics.model_dump(mode="json")),
        "DRIFTLINE_STREAMS": json.dumps(STREAMS),
        "DRIFTLINE_TRAINER__GROUP_ID": settings.trainer.group_id,
        "DRIFTLINE_CHECKPOINTS__SECRET": secret,
    }


def probe(url: str) -> list[dict[str, Any]]:
    """The served model's probabilities (and its name and version) for the probe rows, over HTTP."""
    with httpx.Client() as client:
        answers = [client.post(f"{url}/predict", json={"model_key": "phish", "features": x}) for x in PROBES]
    return [{k: a.json()[k] for k in ("proba", "prediction", "model_name")} for a in answers]


def learn(settings: Settings, first: int, stop: int) -> None:
    reader = TopicReader(settings.kafka.bootstrap_servers, settings.topics.outcomes.name, Outcome)
    produce(settings.kafka.bootstrap_servers, settings.topics.events.name, phishing_events(first, stop))
    reader.count(stop - first)
    reader.close()


def test_an_exported_model_imported_into_another_trainer_answers_bit_identically(
    make_settings, bootstrap: str, tmp_path: Path
) -> None:
    # Two deployments: own topics, trainer group, state and checkpoint key each.
    a = make_settings(STREAMS, checkpoints={"secret": SECRET_A}, state_dir=str(tmp_path / "a"))
    b = make_settings(STREAMS, checkpoints={"secret": SECRET_B}, state_dir=str(tmp_path / "b"))
    with TrainerRunner(a, bootstrap, port=0) as trainer_a:
        learn(a, 0, 400)
        answers_a = probe(trainer_a.url)
    # A has stopped; its model is read from its checkpoints in Kafka.
    exported = tmp_path / "phish.model"
    done = driftline("models", "export", "--model-key", "phish", "--out", str(exported), env=cli_env(a, SECRET_A))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {exported}: phish logistic v1, 400 learned, ")
    header = peek(exported.read_bytes(), "phish.model")
    assert (header.model_key, header.learned, header.task) == ("phish", 400, "binary")
    shown = driftline("models", "show", str(exported), env=cli_env(a, SECRET_A))
    assert shown.returncode == 0 and shown.stdout.endswith("ok: the signature and the digest verify\n"), shown.stderr
    assert json.loads(shown.stdout.rsplit("\n", 2)[0])["sha256"] == header.sha256
    unverified = driftline("models", "show", str(exported), env=cli_env(b, SECRET_B))
    assert (
        unverified.returncode == 1
        and "REFUSED" in unverified.stdout
        and "signature does not match" in unverified.stdout
    )
    missing = driftline("models", "export", "--model-key", "phish/nobody", env=cli_env(a, SECRET_A))
    assert missing.returncode == 2 and missing.stderr.strip().endswith("holds model key 'phish/nobody'")

    key_a = tmp_path / "a.key"
    key_a.write_text(SECRET_A)
    with TrainerRunner(b, bootstrap, port=0) as trainer_b:
        learn(b, 600, 650)  # B holds the key, with a model of its own
        before = probe(trainer_b.url)
        assert [x["proba"] for x in before] != [x["proba"] for x in answers_a]

        # B's key does not verify A's file: refused in one line, nothing sent.
        foreign = driftline("models", "import", str(exported), "--model-key", "phish", env=cli_env(b, SECRET_B))
        assert foreign.returncode == 2 and foreign.stdout == "", foreign.stderr
        assert foreign.stderr.strip().endswith("signature does not match (tampered, or signed with another key)")

        imported = driftline(
            "models", "import", str(exported), "--model-key", "phish", "--as", "champion",
            "--key-file", str(key_a), env=cli_env(b, SECRET_B),
        )  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.splitlines()[-1] == (
            "applied: imported phish v1 (400 learned) as champion logistic (model version 2)"
        )
        assert probe(trainer_b.url) == answers_a  # every probability equal to the last bit
        assert models(trainer_b.url)["phish"]["model_version"] == 2

        # Checkpointed with the ack, at the command's position: B's own checkpoint holds it already.
        again = tmp_path / "again.model"
        done = driftline("models", "export", "--model-key", "phish", "--out", str(again), env=cli_env(b, SECRET_B))
        assert done.returncode == 0 and "phish logistic v2, 400 learned" in done.stdout, done.stderr

        challenger = driftline(
            "models", "import", str(again), "--model-key", "phish", "--as", "challenger", env=cli_env(b, SECRET_B)
        )
        assert challenger.returncode == 0, challenger.stderr
        assert challenger.stdout.splitlines()[-1].startswith("applied: imported phish v2 (400 learned) as challenger")
        assert models(trainer_b.url)["phish"]["candidates"] == ["logistic", "logistic#1"]

        nobody = driftline(
            "models", "import", str(again), "--model-key", "phish/nobody", "--wait", "5", env=cli_env(b, SECRET_B)
        )
        assert nobody.returncode == 1 and nobody.stderr.strip().endswith(
            "no trainer holds model key 'phish/nobody' (ignored by 1 trainer(s))"
        ), nobody.stderr

    # Restarted, B restores the imported champion and its challenger from its checkpoint.
    with TrainerRunner(b, bootstrap, port=0) as trainer_b:
        assert probe(trainer_b.url) == answers_a
        restored = models(trainer_b.url)["phish"]
        assert (restored["model_version"], restored["candidates"]) == (2, ["logistic", "logistic#1"])


def test_a_bad_model_file_or_argument_is_one_line_and_nothing_is_sent(tmp_path: Path) -> None:
    """Refused before Kafka is looked for: the configured bootstrap server does not even exist."""
    from test_cli import _one_line_error

    from driftline.checkpoint import Signer
    from driftline.modelfile import ModelHeader, dump
    from driftline.modelspec import build_model

    stream = StreamConfig(**STREAMS["phish"])
    good = tmp_path / "phish.model"
    header = ModelHeader.of("phish", stream, model_key="phish", model_name="logistic", model_version=1, learned=0)
    good.write_bytes(dump(header, build_model("logistic"), Signer(SECRET_A.encode())))
    tampered = tmp_path / "tampered.model"
    tampered.write_bytes(good.read_bytes()[:-1] + b"\x00")
    short_key = tmp_path / "short.key"
    short_key.write_text("short")
    env = {
        "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "DRIFTLINE_STATE_DIR": str(tmp_path / "state"),
        "DRIFTLINE_STREAMS": json.dumps(STREAMS),
        "DRIFTLINE_CHECKPOINTS__SECRET": SECRET_A,
    }

    def refused(*args: str) -> str:
        return _one_line_error(driftline("models", "import", *args, env=env))

    assert refused(str(tampered), "--model-key", "phish").endswith(
        "model does not match its signed digest (tampered or truncated)"
    )
    assert "Invalid value for '--as': 'boss' is not one of 'champion', 'challenger'." in refused(
        str(good), "--model-key", "phish", "--as", "boss"
    )
    assert refused(str(tmp_path / "none.model"), "--model-key", "phish").endswith(
        "none.model: No such file or directory"
    )
    assert "--key-file" in refused(str(good), "--model-key", "phish", "--key-file", str(short_key))
    assert "phish.model: features differ from stream rooms's" in refused(str(good), "--model-key", "rooms")
    assert refused(str(good), "--model-key", "nowhere").endswith("streams.nowhere: no such stream (configured: "
                                                                  "rooms, machines, phish)")  # fmt: skip
