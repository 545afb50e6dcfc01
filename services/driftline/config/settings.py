"""The deployment's settings: Kafka and its security, the topics, each service, checkpoint signing, devices, and
the streams (:mod:`driftline.config.streams`), in :class:`Settings`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_serializer, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from driftline.config.base import ConfigError, Strict
from driftline.config.streams import StreamConfig
from driftline.contracts import StreamName


class TopicSpec(Strict):
    """One topic: its name and partition count."""

    name: str
    """Topic name."""
    partitions: Annotated[int, Field(ge=1, le=1000)] = 6
    """Partitions created (existing topics are left as they are)."""


class Topics(Strict):
    """The topics driftline creates at start-up, each with an explicit partition count.

    Events and labels must have the same partition count: both are keyed by model key, so a
    label lands in the partition number of its event and reaches the same trainer.
    """

    events: TopicSpec = TopicSpec(name="driftline.events.v1")
    labels: TopicSpec = TopicSpec(name="driftline.labels.v1")
    outcomes: TopicSpec = TopicSpec(name="driftline.outcomes.v1")
    drift: TopicSpec = TopicSpec(name="driftline.drift.v1", partitions=1)
    control: TopicSpec = TopicSpec(name="driftline.control.v1", partitions=1)
    acks: TopicSpec = TopicSpec(name="driftline.acks.v1", partitions=1)
    """The trainer's answers to control commands: a topic of their own, so the trainer needs no write access
    to the control topic (docs/security.md)."""
    deadletter: TopicSpec = TopicSpec(name="driftline.deadletter.v1", partitions=1)
    label_requests: TopicSpec = TopicSpec(name="driftline.label-requests.v1")
    """The trainer's requests for labels (streams with a label_budget), keyed by model key; an annotation tool
    reads them here or at the trainer's GET /label-requests."""
    checkpoints: TopicSpec = TopicSpec(name="driftline.checkpoints.v1")
    """Compacted: the newest checkpoint of each unit (state and the offsets it corresponds to), chunked."""

    @model_validator(mode="after")
    def _copartitioned(self) -> Topics:
        if self.events.partitions != self.labels.partitions:
            raise ValueError(
                f"events ({self.events.partitions}) and labels ({self.labels.partitions}) need the same partition count"
            )
        return self


#: librdkafka settings whose values are secrets (ssl.key.password, sasl.oauthbearer.client.secret, ssl.key.pem).
_SECRET_SETTING = re.compile(r"password|secret|\.pem$")

#: Settings of :class:`KafkaSecurity` that driftline sets itself; ``client_settings`` may not repeat them.
OWN_CLIENT_SETTINGS = frozenset(
    {"security.protocol", "sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.password", "ssl.ca.location"}
)


class KafkaSecurity(Strict):
    """How every driftline client authenticates to Kafka and protects the connection (docs/security.md).

    A deployment runs SASL_SSL with SCRAM-SHA-512 and one Kafka user per service, so the broker's
    ACLs decide who may write which topic. Secrets come from a file or the environment
    (``DRIFTLINE_KAFKA__SECURITY__PASSWORD``) and are never printed.
    """

    protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    """PLAINTEXT (no authentication: development only), SASL_SSL (SCRAM over TLS), SASL_PLAINTEXT or SSL."""
    mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    """The SASL mechanism of the SASL_* protocols."""
    username: str = ""
    """This service's Kafka user (its ACL principal User:<username>)."""
    password: SecretStr = Field(
        default=SecretStr(""), description="Its password; prefer password_file or DRIFTLINE_KAFKA__SECURITY__PASSWORD."
    )
    password_file: Path | None = None
    """A file holding the password (surrounding whitespace ignored)."""
    ca_file: Path | None = Field(
        default=None, description="PEM file of the CA that signed the brokers' certificates; none: the system's CAs."
    )
    client_settings: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        repr=False,
        description="Further librdkafka settings passed to every client as they are (e.g. ssl.certificate.location, "
        "ssl.endpoint.identification.algorithm).",
    )

    @field_serializer("client_settings")
    def _masked(self, settings: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
        # Dumps are for people: a key's password or an inline PEM key is shown as masked, like a SecretStr.
        return {k: "**********" if _SECRET_SETTING.search(k) else v for k, v in settings.items()}

    @model_validator(mode="after")
    def _coherent(self) -> KafkaSecurity:
        if self.protocol.startswith("SASL_"):
            if not self.username:
                raise ValueError(f"protocol {self.protocol} needs a username")
            if not self.password.get_secret_value() and self.password_file is None:
                raise ValueError(f"protocol {self.protocol} needs a password or a password_file")
        if self.password.get_secret_value() and self.password_file is not None:
            raise ValueError("give a password or a password_file, not both")
        if own := sorted(OWN_CLIENT_SETTINGS & set(self.client_settings)):
            raise ValueError(f"client_settings may not set {', '.join(own)}: use this section's own keys")
        return self


class KafkaSettings(Strict):
    """The Kafka cluster every service uses."""

    bootstrap_servers: str = Field(
        default="",
        description="host:port,...; empty: only `driftline stack` and `smoke` run, on a local broker of their own.",
    )
    client_id: str = Field(default="driftline", description="Prefix of the trainer's Kafka client ids.")
    replication_factor: Annotated[int, Field(ge=1)] = Field(
        default=1, description="Replicas of each topic driftline creates (1 for the single local broker)."
    )
    security: KafkaSecurity = KafkaSecurity()
    """Authentication and TLS of every Kafka client."""


class ServiceSettings(Strict):
    """A service's HTTP server."""

    host: str = "127.0.0.1"
    """Address the service's HTTP server listens on."""
    port: Annotated[int, Field(ge=0, le=65535)]
    """Its port (0: any free port)."""
    access_log: bool = False
    """Log a line per HTTP request (uvicorn's access log); off, the log keeps to what the service does."""


class ConsumerSettings(ServiceSettings):
    """A service that consumes in a group and keeps state: membership, transactions, checkpoints."""

    instance_id: str = Field(
        default="",
        description="Stable name of this instance in the group (static membership, transactional id); "
        "empty: the host name. Give each instance of one group its own.",
    )
    exactly_once: bool = Field(
        default=True, description="Outcomes, checkpoints and input offsets in one Kafka transaction."
    )
    checkpoints: bool = Field(
        default=True, description="Save the state with the offsets it corresponds to; off: every start is fresh."
    )
    checkpoint_every_events: Annotated[int, Field(ge=0)] = Field(
        default=10_000, description="Input records of a unit between its checkpoints; 0: by time only."
    )
    checkpoint_interval_s: Annotated[float, Field(ge=0)] = Field(
        default=30.0, description="Seconds between checkpoints of a unit that changed; 0: by count only."
    )
    commit_interval_s: Annotated[float, Field(gt=0)] = Field(
        default=0.5, description="Seconds between commits of outputs and input offsets (transactions)."
    )
    session_timeout_ms: Annotated[int, Field(ge=6000)] = Field(
        default=10_000, description="A member silent this long (killed) loses its partitions to the others."
    )


class TrainerSettings(ConsumerSettings):
    """The trainer: its consumer group, batch size and snapshot cadence."""

    port: Annotated[int, Field(ge=0, le=65535)] = 8001
    """HTTP port of /predict, /models, /metrics."""
    group_id: str = "driftline-trainer"
    """Kafka consumer group of the trainers."""
    max_poll_records: Annotated[int, Field(ge=1)] = 500
    """Records fetched per poll."""
    align_labels_s: Annotated[float, Field(ge=0)] = Field(
        default=0.0,
        description="Handle each partition's events and labels in the order of their time (ts), an event waiting "
        "at most this long for an older label still to be read: the same input then gives the same models "
        "whatever the timing, at up to this much latency. 0: as they arrive. A label dated before its "
        "event is then handled first and finds no prediction.",
    )
    snapshot_every: Annotated[int, Field(ge=0)] = Field(
        default=10_000, description="Learned events between snapshots of a model key; 0: only on command."
    )
    api_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token /predict, /models and the API docs demand (/healthz and /metrics stay open); "
        "required when host is beyond loopback. Or DRIFTLINE_TRAINER__API_TOKEN.",
    )
    api_token_file: Path | None = None
    """A file holding api_token."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    """Request body size at most (413 beyond)."""


class CheckpointSettings(Strict):
    """Signing of the checkpoints every stateful service stores, so a model key can move between hosts."""

    secret: SecretStr = Field(
        default=SecretStr(""),
        description="HMAC-SHA256 key of checkpoints; empty: secret_file, else one generated in state_dir.",
    )
    secret_file: Path | None = Field(default=None, description="A file holding the key (share it across hosts).")


class MqttSettings(Strict):
    """The MQTT broker the collector's bridge subscribes to; devices publish to ``<prefix>/<stream>/<device>``."""

    enabled: bool = Field(default=False, description="Run the MQTT bridge beside the HTTP ingest.")
    host: str = "127.0.0.1"
    """The MQTT broker's address."""
    port: Annotated[int, Field(ge=0, le=65535)] = 1883
    """Its port."""
    username: str = "collector"
    """The bridge's MQTT user."""
    password: SecretStr = Field(
        default=SecretStr(""), description="Bridge password (DRIFTLINE_COLLECTOR__MQTT__PASSWORD)."
    )
    topic_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")] = "sensors"
    """Devices publish to <prefix>/<stream>/<device>."""
    client_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "driftline-collector"
    """The bridge's MQTT client id (its persistent session); with several workers, worker k > 0 adds -k."""


class CollectorSettings(ServiceSettings):
    """The collector: ingest limits, Kafka delivery timeout, the MQTT bridge and the lake."""

    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    """HTTP port of ingest, /metrics and the OpenAPI docs."""
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    """Collector processes: they share the HTTP port and, with MQTT, the bridge's subscription."""
    max_batch_items: Annotated[int, Field(ge=1, le=100_000)] = 5000
    """Items in one request at most (413 beyond)."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024
    """Request body size at most (413 beyond)."""
    send_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    """How long a request waits for Kafka's acknowledgement before 503."""
    retry_after_s: Annotated[int, Field(ge=1)] = 5
    """The Retry-After of a 503."""
    mqtt: MqttSettings = MqttSettings()
    """The MQTT bridge."""
    lake_dir: Path | None = Field(default=None, description="The archiver's Parquet folder; default state_dir/lake.")
    lake_batch_events: Annotated[int, Field(ge=1)] = 10_000
    """The archiver writes a Parquet file per this many events ..."""
    lake_batch_seconds: Annotated[float, Field(gt=0)] = 30.0
    """... or after this many seconds."""


class MonitorSettings(ConsumerSettings):
    """The monitor's server, its rolling window, cardinality caps and webhook token."""

    webhook_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token Alertmanager sends to the webhook; empty: webhook_token_file, else one generated "
        "in state_dir (on loopback only: beyond it, configure one).",
    )
    webhook_token_file: Path | None = None
    """A file holding webhook_token."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    """Request body size at most (413 beyond)."""
    window: Annotated[int, Field(ge=10)] = Field(
        default=1000,
        description="Labelled outcomes in rolling metrics; predictions in the confidence estimate and the "
        "prediction quantiles (each outcomes partition keeps its own window; a monitor pools those it holds).",
    )
    max_device_series: Annotated[int, Field(ge=0)] = Field(
        default=50, description="Per-device series per stream and outcomes partition."
    )
    dedupe: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Drop outcomes whose id was seen before. Only a trainer running at least once "
        "(trainer.exactly_once = false) writes an outcome twice, so auto is on exactly then, read from this "
        "same config: give the monitor the trainer's trainer section, or say on.",
    )
    dedupe_window: Annotated[int, Field(ge=1)] = Field(
        default=100_000, description="Outcome ids remembered per outcomes partition, when dedupe is on."
    )
    group_id: str = Field(default="driftline-monitor", min_length=1, description="Kafka consumer group of the monitor.")
    peers: list[str] = Field(
        default_factory=list,
        description="URLs of the other monitors of the group: the status page (/ui) adds their outcomes partitions "
        "to this one's. Empty: the page shows this monitor's partitions.",
    )

    def dedupes(self, trainer: TrainerSettings) -> bool:
        """Whether outcomes are deduplicated by id: ``dedupe``, with auto meaning "the trainer may repeat one"."""
        return self.dedupe == "on" or (self.dedupe == "auto" and not trainer.exactly_once)


class DeviceSettings(Strict):
    """A device allowed to post events; only the SHA-256 of its token is stored."""

    token_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    streams: list[StreamName] = Field(default_factory=list, description="Streams it may post to; empty: all.")


class Settings(BaseSettings):
    """Everything driftline's services read at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFTLINE_", env_nested_delimiter="__", extra="forbid", frozen=True, use_attribute_docstrings=True
    )

    kafka: KafkaSettings = KafkaSettings()
    """The Kafka cluster."""
    topics: Topics = Topics()
    """Topic names and partition counts."""
    collector: CollectorSettings = CollectorSettings()
    """The collector service."""
    trainer: TrainerSettings = TrainerSettings()
    """The trainer service."""
    monitor: MonitorSettings = MonitorSettings(port=8002)
    """The monitor service."""
    checkpoints: CheckpointSettings = CheckpointSettings()
    """Checkpoint signing."""
    state_dir: Path = Field(default=Path(".driftline"), description="Broker data, snapshots, lake, logs.")
    devices: dict[str, DeviceSettings] = Field(default_factory=dict)
    """Devices allowed to post events, by device id."""
    streams: dict[StreamName, StreamConfig] = Field(default_factory=dict)
    """The learning tasks, by stream name."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's content arrives as init arguments; the environment overrides it.
        return env_settings, init_settings

    def stream(self, name: str) -> StreamConfig:
        try:
            return self.streams[name]
        except KeyError:
            raise ConfigError(f"streams.{name}: no such stream (configured: {', '.join(self.streams)})") from None
