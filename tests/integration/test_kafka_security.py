"""Kafka nobody can write to without credentials: SCRAM-SHA-512 over TLS, and driftline's ACLs.

One broker for the module, with a user per service and one device-level user, SASL_SSL only,
and KRaft's StandardAuthorizer holding the ACLs of kafkaio/acls.py. kafka-python plays the
outside client (no credentials, a device's credentials); confluent-kafka, the services' own
client, checks each role's writes; and a collector, a trainer and a monitor run end to end,
each as its own principal.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import KafkaError, KafkaException
from kafka import KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError, TopicAuthorizationFailedError
from kafka_helpers import make_consumer
from monitor_fixtures import wait_for
from typer.testing import CliRunner

from conftest import unique_topics
from driftline.cli import app
from driftline.collector.app import create_app
from driftline.collector.auth import hash_token
from driftline.collector.intake import Ingestor
from driftline.collector.publisher import Publisher
from driftline.config import settings_from_dict
from driftline.config.settings import Settings
from driftline.contracts import Outcome, parse
from driftline.httpserver import BackgroundServer, exposed_total
from driftline.kafkaio.acls import ROLES
from driftline.kafkaio.broker import ADMIN, LocalBroker
from driftline.kafkaio.clients import cluster, deliver, make_producer
from driftline.kafkaio.topics import ensure_topics
from driftline.monitor.service import MonitorService
from driftline.trainer.runner import TrainerRunner

DEVICE_USER = "device-7"
ROOMS = {"task": "binary", "features": {"temperature": {}, "humidity": {}}}


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalBroker, dict[str, Any]]]:
    """A SASL_SSL broker with ACLs for one run's topics, and the config every principal shares."""
    users = {user: uuid.uuid4().hex for user in (*ROLES, DEVICE_USER)}
    broker = LocalBroker(tmp_path_factory.mktemp("secure-kafka"), users=users, tls=True).start()
    run = uuid.uuid4().hex[:8]
    base = {
        "topics": unique_topics("sec"),
        "trainer": {"group_id": f"trainer-{run}", "port": 0, "commit_interval_s": 0.2},
        "monitor": {"group_id": f"monitor-{run}", "port": 0, "webhook_token": "hook-token"},
        "state_dir": str(tmp_path_factory.mktemp("secure-state")),
        "checkpoints": {"secret": "a key every service of the test shares"},
        "devices": {"dev-a": {"token_sha256": hash_token("token-a")}},
        "streams": {"rooms": ROOMS},
    }
    settings = settings_from_dict(base)
    topics: dict[str, Any] = base["topics"]
    ensure_topics(broker.cluster_for(ADMIN), settings.topics)
    # The ACLs as a deployment creates them: `driftline acls --apply` as the admin, password from a file.
    admin = tmp_path_factory.mktemp("admin") / "admin.toml"
    admin.write_text(
        "\n".join(
            [
                "[kafka]",
                f'bootstrap_servers = "{broker.bootstrap_servers}"',
                "[kafka.security]",
                'protocol = "SASL_SSL"',
                f'username = "{ADMIN}"',
                f'password_file = "{broker.data_dir / "admin.password"}"',
                f'ca_file = "{broker.ca_file}"',
                "[topics]",
                *(f'{role} = {{ name = "{t["name"]}", partitions = {t["partitions"]} }}' for role, t in topics.items()),
                "[trainer]",
                f'group_id = "{settings.trainer.group_id}"',
                "[monitor]",
                "port = 0",
                f'group_id = "{settings.monitor.group_id}"',
            ]
        )
    )
    created = CliRunner().invoke(app, ["acls", "--apply", "--config", str(admin)])
    assert created.exit_code == 0 and created.output.startswith("created "), created.output
    yield broker, base
    broker.stop()


def as_user(secure: tuple[LocalBroker, dict[str, Any]], user: str | None) -> Settings:
    broker, base = secure
    kafka = {"bootstrap_servers": broker.bootstrap_servers, "security": broker.security_for(user)}
    return settings_from_dict({**base, "kafka": kafka})


def outside_producer(broker: LocalBroker, user: str | None) -> KafkaProducer:
    """kafka-python with TLS and, for a user, SCRAM-SHA-512: what anyone on the network could run."""
    options: dict[str, Any] = {"security_protocol": "SSL", "ssl_cafile": str(broker.ca_file)}
    if user is not None:
        options |= {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": user,
            "sasl_plain_password": broker.users[user] if broker.users else "",
        }
    timeouts = {"max_block_ms": 6000, "bootstrap_timeout_ms": 6000}
    return KafkaProducer(bootstrap_servers=broker.bootstrap_servers, **timeouts, **options)


def test_no_credentials_and_a_device_principal_cannot_write(secure: tuple[LocalBroker, dict[str, Any]]) -> None:
    broker, _ = secure
    topics = as_user(secure, None).topics
    # Without credentials the broker drops the connection before any request: not even metadata.
    with pytest.raises(KafkaTimeoutError, match="bootstrap"):
        outside_producer(broker, None)
    device = outside_producer(broker, DEVICE_USER)
    try:
        for topic in (topics.events.name, topics.labels.name, topics.control.name, topics.outcomes.name):
            with pytest.raises(TopicAuthorizationFailedError):
                device.send(topic, key=b"rooms", value=b'{"forged": true}').get(timeout=10)
    finally:
        device.close(timeout=1)
    # The same outside client with the operator's credentials gets through: the refusals above are the ACLs'.
    operator = outside_producer(broker, "operator")
    operator.send(topics.control.name, key=b"rooms", value=b"{}").get(timeout=30)
    operator.close()


#: What each principal may write; every other (principal, topic) pair is refused.
WRITES = {
    "collector": {"events", "labels", "deadletter"},
    "trainer": {"outcomes", "acks", "label_requests", "deadletter", "checkpoints"},
    "monitor": {"drift", "control", "checkpoints"},
    "operator": {"control"},
    "archiver": set(),
    DEVICE_USER: set(),
}


def test_each_service_writes_only_its_own_topics(secure: tuple[LocalBroker, dict[str, Any]]) -> None:
    broker, _ = secure
    topics = as_user(secure, None).topics
    for user, allowed in WRITES.items():
        servers = broker.cluster_for(user)
        for role in ("events", "labels", "outcomes", "control", "drift", "acks", "label_requests"):
            name = getattr(topics, role).name
            producer = make_producer(servers, **{"message.timeout.ms": 8000})
            if role in allowed:
                deliver(producer, [(name, b"probe", b"{}")], timeout=15)
                continue
            with pytest.raises(KafkaException) as refused:
                deliver(producer, [(name, b"probe", b"{}")], timeout=15)
            # A principal that may write no topic at all is refused even a producer id (cluster authorization).
            refusals = (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED)
            assert refused.value.args[0].code() in refusals, (user, role, refused.value)


def test_transactional_ids_belong_to_their_service(secure: tuple[LocalBroker, dict[str, Any]]) -> None:
    broker, base = secure
    trainer_ids = f"{base['trainer']['group_id']}-someone"
    thief = make_producer(broker.cluster_for("collector"), **{"transactional.id": trainer_ids})
    with pytest.raises(KafkaException) as refused:
        thief.init_transactions(15)
    assert refused.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    make_producer(broker.cluster_for("trainer"), **{"transactional.id": trainer_ids}).init_transactions(30)


def test_collector_trainer_and_monitor_run_end_to_end_as_their_principals(
    secure: tuple[LocalBroker, dict[str, Any]], tmp_path: Path
) -> None:
    """An event and its label posted by a device reach the trainer, whose outcome reaches the monitor.

    The trainer runs exactly-once: its transactions, committed offsets and checkpoints are all
    authorised by its own principal's ACLs.
    """
    broker, _ = secure
    collector, trainer, monitor = (as_user(secure, role) for role in ("collector", "trainer", "monitor"))
    # The trainer reads its password from a file, as a deployment would.
    password_file = tmp_path / "trainer.password"
    password_file.write_text(trainer.kafka.security.password.get_secret_value() + "\n")
    security = trainer.kafka.security.model_copy(update={"password": "", "password_file": password_file})
    trainer = trainer.model_copy(update={"kafka": trainer.kafka.model_copy(update={"security": security})})

    publisher = Publisher(cluster(collector), send_timeout_s=30)
    events = [
        {"event_id": f"e{i}", "device_id": "dev-a", "stream": "rooms", "ts": f"2026-03-01T00:00:{i:02d}Z",
         "features": {"temperature": 20.0 + i, "humidity": 40.0}, "label": i % 2 == 0}
        for i in range(5)
    ]  # fmt: skip
    with (
        TrainerRunner(trainer, trainer.kafka.bootstrap_servers) as runner,
        MonitorService(monitor, monitor.kafka.bootstrap_servers) as monitoring,
        BackgroundServer(create_app(Ingestor(collector, publisher))) as server,
    ):
        answer = httpx.post(
            f"{server.url}/v1/streams/rooms/events",
            json=events,
            headers={"X-Device-Id": "dev-a", "Authorization": "Bearer token-a"},
            timeout=60,
        )
        assert answer.status_code == 202, answer.text

        def monitored() -> float:
            return exposed_total(httpx.get(f"{monitoring.url}/metrics").text, "driftline_monitor_outcomes_total")

        wait_for(lambda: monitored() >= len(events), "the monitor to count the trainer's outcomes", timeout=90)
        assert runner.problem() is None and monitoring.problem() is None
    publisher.close()
    # Both stopped cleanly: their final checkpoints and commits were authorised too.
    assert runner.service.error is None and monitoring.error is None

    # Read back as the operator, with kafka-python: outcomes the trainer committed in its transactions.
    reader = make_consumer(
        broker.bootstrap_servers,
        group_id=None,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="operator",
        sasl_plain_password=(broker.users or {})["operator"],
        ssl_cafile=str(broker.ca_file),
    )
    partitions = [TopicPartition(trainer.topics.outcomes.name, p) for p in range(trainer.topics.outcomes.partitions)]
    reader.assign(partitions)
    reader.seek_to_beginning()
    outcomes: list[Outcome] = []
    for _ in range(50):
        for records in reader.poll(timeout_ms=200).values():
            # The write probes of the test above ("{}") share the topic: only outcomes count.
            outcomes += [parse(Outcome, r.value) for r in records if b"outcome" in r.value]
        if len(outcomes) >= len(events):
            break
    reader.close()
    assert sorted(o.event_id for o in outcomes) == [e["event_id"] for e in events]
