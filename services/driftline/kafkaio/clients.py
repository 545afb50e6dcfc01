"""Producer and consumer settings the one way driftline's services use Kafka: confluent-kafka.

librdkafka does the per-record work in C (produce 2.3 µs of CPU per record against 26-56 µs with
kafka-python here, consume 0.7-1.5 µs against 7.3 µs; docs/architecture.md) and has transactions.
Its partitioner is set to murmur2, the Java client's, so a model key lands on the partition
kafka-python and every Java client choose too.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from driftline.config.base import ConfigError
from driftline.config.settings import KafkaSecurity, KafkaSettings, Settings

#: Java's partitioner (murmur2 of the key; keyless records spread at random).
PARTITIONER = "murmur2_random"


class Cluster(str):
    """Bootstrap servers that also carry how this service authenticates to them.

    A ``str``, so it travels wherever bootstrap servers already do (the stream loop, the checkpoint
    store, the publishers) and every client built from it through this module is authenticated.
    It prints as the servers alone: the credentials never reach a log line or an error message.
    """

    security: Mapping[str, Any]

    def __new__(cls, servers: str, security: Mapping[str, Any]) -> Cluster:
        cluster = super().__new__(cls, servers)
        cluster.security = MappingProxyType(dict(security))
        return cluster

    def __repr__(self) -> str:
        return f"Cluster({str(self)!r})"

    def __reduce__(self) -> tuple[type[Cluster], tuple[str, dict[str, Any]]]:
        return Cluster, (str(self), dict(self.security))


def security_config(security: KafkaSecurity) -> dict[str, Any]:
    """The librdkafka settings of a ``kafka.security`` section, the password read from its file if so configured."""
    config: dict[str, Any] = {"security.protocol": security.protocol.lower(), **security.client_settings}
    if security.protocol.startswith("SASL_"):
        config["sasl.mechanism"] = security.mechanism
        config["sasl.username"] = security.username
        config["sasl.password"] = _password(security)
    if security.protocol in ("SASL_SSL", "SSL") and security.ca_file is not None:
        if not security.ca_file.is_file():
            raise ConfigError(f"kafka.security.ca_file: {security.ca_file} does not exist")
        config["ssl.ca.location"] = str(security.ca_file)
    return config


def _password(security: KafkaSecurity) -> str:
    if security.password_file is None:
        return security.password.get_secret_value()
    try:
        password = security.password_file.read_text().strip()
    except OSError as e:
        # The path and the reason, never the content.
        raise ConfigError(f"kafka.security.password_file: cannot read {security.password_file}: {e.strerror}") from None
    if not password:
        raise ConfigError(f"kafka.security.password_file: {security.password_file} is empty")
    return password


def secured(servers: str, kafka: KafkaSettings) -> Cluster:
    """``servers`` as a :class:`Cluster` authenticated as ``kafka.security`` says (a Cluster stays as it is)."""
    if isinstance(servers, Cluster):
        return servers
    return Cluster(servers, security_config(kafka.security))


def cluster(settings: Settings, servers: str | None = None) -> Cluster:
    """The configured cluster (or ``servers``), with this service's credentials."""
    return secured(servers or settings.kafka.bootstrap_servers, settings.kafka)


class KafkaUnreachable(RuntimeError):
    """No bootstrap server accepts connections: Kafka is down, or the address is wrong."""


def _host_port(server: str) -> tuple[str, int]:
    # "host:port", "[::1]:9092" or "SASL_SSL://host:port"; Kafka's default port when none is given.
    server = server.rsplit("://", 1)[-1]
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = server.rpartition(":") if ":" in server else (server, "", "")
    return host, int(port or 9092)


def require_reachable(bootstrap_servers: str, timeout: float = 5.0) -> None:
    """Fail in one line unless some bootstrap server accepts a TCP connection within ``timeout``.

    librdkafka retries an unreachable broker quietly for as long as each call's timeout and then
    fails with a traceback-worthy error after a screen of connection logs; a plain connect first
    tells a user at once that Kafka is not there.
    """
    servers = [s.strip() for s in str(bootstrap_servers).split(",") if s.strip()]
    deadline = time.monotonic() + timeout
    reason = "no servers given"
    while servers:
        for server in servers:
            try:
                host, port = _host_port(server)
                with socket.create_connection((host, port), timeout=min(2.0, max(0.1, timeout))):
                    return
            except ValueError:
                raise KafkaUnreachable(f"kafka: {server!r} is not host:port") from None
            except OSError as e:
                reason = e.strerror or str(e) or type(e).__name__
        if time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    raise KafkaUnreachable(f"kafka: no broker reachable at {bootstrap_servers} ({reason}); is Kafka running there?")


def client_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    """What every client needs: the servers and, from a :class:`Cluster`, its security settings."""
    security = getattr(bootstrap_servers, "security", {})
    return {"bootstrap.servers": str(bootstrap_servers), **security, **overrides}


def producer_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    """An idempotent producer that waits for all in-sync replicas: an acknowledged send is durable."""
    return client_config(
        bootstrap_servers,
        **{
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "partitioner": PARTITIONER,
            **overrides,
        },
    )


def consumer_config(bootstrap_servers: str, group_id: str | None, **overrides: Any) -> dict[str, Any]:
    """A consumer that starts at the earliest record, commits only when told to, and sees committed data only."""
    return client_config(
        bootstrap_servers,
        **{
            # librdkafka needs a group id even for a consumer that only assigns partitions by hand.
            "group.id": group_id or "driftline-unmanaged",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            **overrides,
        },
    )


def make_producer(bootstrap_servers: str, **overrides: Any) -> Producer:
    return Producer(producer_config(bootstrap_servers, **overrides))


def make_consumer(bootstrap_servers: str, group_id: str | None, **overrides: Any) -> Consumer:
    return Consumer(consumer_config(bootstrap_servers, group_id, **overrides))


def deliver(producer: Producer, records: list[tuple[str, bytes | None, bytes]], timeout: float = 30.0) -> None:
    """Produce (topic, key, value) records and wait until Kafka acknowledged every one; raise on any failure."""
    errors: list[KafkaError] = []

    def report(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            errors.append(error)

    for topic, key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=report)
    if producer.flush(timeout) > 0:
        raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, f"not acknowledged within {timeout:.0f}s"))
    if errors:
        raise KafkaException(errors[0])


def read_topic(bootstrap_servers: str, topic: str, partitions: int, timeout: float = 60.0) -> list[Message]:
    """Every committed record of ``topic`` as it is now, partition by partition."""
    consumer = make_consumer(bootstrap_servers, None, **{"enable.partition.eof": True})
    try:
        ends = {p: end_offset(consumer, TopicPartition(topic, p)) for p in range(partitions)}
        pending = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in pending])
        records: list[Message] = []
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=0.5):
                error = message.error()
                if error is None:
                    records.append(message)
                elif error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                else:
                    raise KafkaException(error)
        return records
    finally:
        consumer.close()


def end_offset(consumer: Consumer, tp: TopicPartition, timeout: float = 30.0) -> int:
    """The partition's end (its last stable offset for a read_committed consumer).

    A topic created a moment ago answers "not leader" until its leader is known, and a new leader
    (after a broker was lost) "offset not available" until its high watermark caught up: asked again.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=max(1.0, deadline - time.monotonic()))[1]
        except KafkaException as e:
            retriable = e.args[0].code() in (
                KafkaError.NOT_LEADER_FOR_PARTITION,
                KafkaError.LEADER_NOT_AVAILABLE,
                KafkaError.UNKNOWN_TOPIC_OR_PART,
                KafkaError.OFFSET_NOT_AVAILABLE,
                KafkaError._TIMED_OUT,
            )
            if not retriable or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
