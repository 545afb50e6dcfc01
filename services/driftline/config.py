"""driftline's configuration: one TOML file, overridable by ``DRIFTLINE_*`` environment variables.

The file declares the Kafka connection, the topics, each service's ports and, above all, the
streams: for each learning task its features, target, River model and drift detectors.
Unknown keys and bad values are rejected with a one-line :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from driftline.contracts import FeatureName, StreamName

#: Where ``driftline`` looks for its config when neither ``--config`` nor DRIFTLINE_CONFIG says (`driftline init`
#: writes it); without that file, the built-in starter config (driftline/assets/driftline.toml) is used.
DEFAULT_CONFIG = Path("config/driftline.toml")


class ConfigError(ValueError):
    """A config that cannot be used; the message is one line naming the key."""


class Strict(BaseModel):
    # Attribute docstrings become field descriptions: docs/configuration.md is generated from them.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class FeatureSpec(Strict):
    """One input of a stream's model, and how the trainer cleans it."""

    type: Literal["number", "category", "bool"] = "number"
    """number, category (text) or bool. A category reaches River's tree classifiers as text, which they split on,
    and every other model one-hot over the values seen (the first 100); a bool is 0/1."""
    unit: str | None = Field(default=None, description="Canonical unit; events in another known unit are converted.")
    min: float | None = None
    """Lowest valid value, in the canonical unit."""
    max: float | None = None
    """Highest valid value, in the canonical unit."""
    missing: Literal["mean", "median", "last", "constant", "drop", "keep"] | None = Field(
        default=None,
        description="What to do with a missing value: impute it, drop the event, or keep it absent. "
        "Default: mean for numbers, last value otherwise.",
    )
    fill: float | str | bool | None = Field(default=None, description="The value imputed by missing = 'constant'.")
    out_of_range: Literal["clip", "reject", "missing"] = "clip"
    """A value outside [min, max]: clip it, reject the event, or treat it as missing."""
    drift: bool = True
    """Judge this feature for data drift; false for a cyclical one (hour, weekday) whose cycle is no drift."""

    @model_validator(mode="after")
    def _coherent(self) -> FeatureSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.missing == "constant" and self.fill is None:
            raise ValueError("missing = 'constant' needs a fill value")
        if self.type != "number" and self.missing in ("mean", "median"):
            raise ValueError(f"missing = {self.missing!r} needs a number feature, this one is a {self.type}")
        return self

    @property
    def missing_policy(self) -> str:
        return self.missing or ("mean" if self.type == "number" else "last")


DetectorName = Literal["ADWIN", "DDM", "EDDM", "HDDM_A", "HDDM_W", "PageHinkley", "KSWIN"]


class DriftSpec(Strict):
    """Which detectors judge a stream, and what an alert does to its models."""

    concept: DetectorName = "ADWIN"
    """Detector on the error stream (concept drift)."""
    concept_params: dict[str, float | int] = Field(default_factory=dict)
    """Keyword arguments of the concept detector (e.g. ADWIN delta)."""
    data: DetectorName | None = Field(default="ADWIN", description="Per-feature detector on cleaned values; None: off.")
    data_params: dict[str, float | int] = Field(default_factory=dict)
    """Keyword arguments of the data detector."""
    debounce: Annotated[int, Field(ge=0)] = Field(
        default=500,
        description="Labelled outcomes after a concept-drift detection during which the key's detector stays "
        "quiet; this cool-down outlives the reset it causes.",
    )
    data_debounce: Annotated[int, Field(ge=0)] = Field(
        default=64,
        description="Events after a data-drift detection during which that feature's detector stays quiet "
        "(64 found the most annotated change points of River's Occupancy set: benchmarks/results/drift.md).",
    )
    data_block: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=16,
        description="A number feature's data detector is fed the mean of each block of this many values: one "
        "update per block instead of one per event (1: every value).",
    )
    data_cooldown_s: Annotated[float, Field(ge=0)] = Field(
        default=0.0,
        description="Event-time seconds after a data-drift detection during which the same feature stays quiet "
        "(besides `data_debounce` events): a slow sensor's one change is one alarm.",
    )
    warmup: Annotated[int, Field(ge=0)] = Field(
        default=500,
        description="Labelled outcomes a new model version is judged on before its concept detector may alarm.",
    )
    on_alert: Literal["cold_reset", "warm_reset", "rollback", "notify"] = "warm_reset"
    """What a concept drift does to the model key that drifted (the trainer applies it at once), and what a
    firing accuracy alert does through the monitor's webhook."""


class TuningSpec(Strict):
    """A search space instead of one model: the trainer selects among its candidates online (driftline.tuning).

    Each combination of the grid's values is a candidate cloned from the stream's `model`; River's
    bandit or successive-halving selector learns them and serves the best one so far.
    """

    grid: dict[str, list[bool | int | float | str]] = Field(min_length=1)
    """Parameter of the model (`Step.param` in a pipeline, e.g. `LogisticRegression.l2`) -> values to try; a
    string value naming a River object (`"optim.SGD(0.1)"`) is built like a model expression. 2 to 32 candidates."""
    selector: Literal["bandit", "successive_halving"] = "bandit"
    """bandit: River's BanditClassifier/Regressor (every candidate learns during burn-in, then the policy's
    pick); successive_halving: every candidate learns, the worse half stops at each rung until one is left."""
    policy: Literal["epsilon_greedy", "ucb"] = "epsilon_greedy"
    """The bandit's policy (bandit only)."""
    epsilon: Annotated[float, Field(ge=0, le=1)] = 0.1
    """epsilon_greedy: share of events that teach a random candidate instead of the best."""
    decay: Annotated[float, Field(ge=0)] = 0.0
    """epsilon_greedy: epsilon shrinks by exp(-decay * candidate updates so far)."""
    delta: Annotated[float, Field(gt=0)] = 1.0
    """ucb: weight of the exploration bonus."""
    burn_in: Annotated[int, Field(ge=0)] = 100
    """Labelled events every candidate learns before the bandit picks (bandit only)."""
    seed: int = 42
    """Seed of the bandit's random choices: the same events make the same choices."""
    budget: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="successive_halving: candidate-updates spent before one candidate is left; "
        "default 1000 per candidate.",
    )
    eta: Annotated[int, Field(ge=2)] = 2
    """successive_halving: each rung keeps 1/eta of the candidates."""

    @model_validator(mode="after")
    def _selector_keys(self) -> TuningSpec:
        bandit_only = {"policy", "epsilon", "decay", "delta", "burn_in"}
        halving_only = {"budget", "eta"}
        stray = sorted(self.model_fields_set & (halving_only if self.selector == "bandit" else bandit_only))
        if stray:
            verb = "does" if len(stray) == 1 else "do"
            raise ValueError(f"{', '.join(stray)} {verb} not apply to selector = {self.selector!r}")
        return self


#: Event ids a per-device model key remembers by default (``streams.S.dedupe_window``).
DEVICE_DEDUPE_WINDOW = 1_000


class StreamConfig(Strict):
    """One learning task: what its events carry and which model learns from them."""

    task: Literal["binary", "multiclass", "regression"]
    """The learning task."""
    target: str = Field(default="label", description="Name of the ground truth (documentation and exports).")
    classes: list[bool | int | str] | None = Field(
        default=None,
        description="A binary stream's two class names, negative first (e.g. ['DOWN', 'UP']), or a multiclass "
        "stream's classes; None: binary labels are true/false (or 0/1), multiclass labels any string or integer.",
    )
    positive: bool | int | str | None = Field(
        default=None, description="The positive class among a binary stream's `classes` (default: the second one)."
    )
    new_classes: bool | None = Field(
        default=None,
        description="A multiclass stream takes labels outside its `classes` (new classes); default: true "
        "without `classes`, false with them.",
    )
    features: dict[FeatureName, FeatureSpec] = Field(min_length=1)
    """The model's inputs, by name."""
    model: str = Field(default="logistic", description="A preset name or a River pipeline expression.")
    challengers: list[str] = Field(default_factory=list, description="Other candidate models learning alongside.")
    tuning: TuningSpec | None = None
    """A search space around `model` tuned online (no challengers then); None: `model` as it is."""
    promote_margin: Annotated[float, Field(ge=0, le=1)] = 0.02
    """How much better a challenger must be: accuracy points, or the fraction of MAE."""
    promote_window: Annotated[int, Field(ge=10)] = 1000
    """Labelled events over which champion and challengers are compared."""
    scope: Literal["stream", "device"] = Field(default="stream", description="One model per stream or per device.")
    holdout_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.0
    """Share of labelled events predicted and scored but never learned."""
    allowed_lateness_s: Annotated[float, Field(ge=0)] = 3600.0
    """How far an event may lag the newest event time of its own device (per model key)."""
    late_events: Literal["accept", "drop"] = "accept"
    """Events later than allowed: learn from them anyway, or drop them."""
    max_watermark_devices: Annotated[int, Field(ge=1)] = Field(
        default=10_000,
        description="Devices whose newest event time a model key remembers to judge lateness; beyond it the one "
        "touched least recently is forgotten (its next event is not late).",
    )
    max_clock_skew_s: Annotated[float, Field(ge=0)] = Field(
        default=300.0,
        description="How far an event's (or a label's) time may be ahead of the collector's clock when it arrives.",
    )
    future_events: Literal["reject", "clamp"] = Field(
        default="reject",
        description="An event further ahead than max_clock_skew_s: reject it (422, dead letter), or clamp its "
        "time to when the collector received it (counted in driftline_collector_events_clamped_total).",
    )
    dedupe_window: Annotated[int, Field(ge=1)] = 100_000
    """Event ids remembered per model key to drop duplicates; for per-device keys (`scope = "device"`) the
    default is 1,000 (a device's own retries), as each key of a fleet keeps its own (~143 B an id)."""
    label_ttl_s: Annotated[float, Field(gt=0)] = 3600.0
    """Event time a prediction waits for its late label."""
    max_pending_labels: Annotated[int, Field(ge=1)] = 100_000
    """Predictions waiting for labels, per model key."""
    label_budget: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.0,
        description="Share of unlabelled events whose label the trainer asks for (0.05: 5%), choosing the ones "
        "its model is least sure of (docs/architecture.md#label-requests); 0: asks for none.",
    )
    per_device_metrics: bool = False
    """Expose per-device series (capped) in the monitor and trainer."""
    outcome_features: bool = Field(
        default=False,
        description="Outcomes carry the cleaned features and the cleaning steps, for tools downstream that read "
        "them; off, outcomes are smaller and cheaper (the trainer judges data drift, the monitor needs neither).",
    )
    drift: DriftSpec = Field(default_factory=DriftSpec)
    """Drift detectors and alert policy."""

    @model_validator(mode="after")
    def _classes(self) -> StreamConfig:
        if self.positive is not None and self.task != "binary":
            raise ValueError(f"positive names a binary stream's positive class; this stream's task is {self.task}")
        if self.new_classes is not None and self.task != "multiclass":
            raise ValueError(f"new_classes is for a multiclass stream; this stream's task is {self.task}")
        if self.classes is None:
            if self.positive is not None:
                raise ValueError("positive needs classes: name the stream's two classes, negative first")
            if self.new_classes is False:
                raise ValueError("new_classes = false needs classes: name the stream's classes")
            return self
        if self.task == "regression":
            raise ValueError("classes name a binary or multiclass stream's classes; this stream's task is regression")
        typed = {(type(c), c) for c in self.classes}
        if self.task == "binary":
            if len(self.classes) != 2 or self.classes[0] == self.classes[1]:
                raise ValueError(f"a binary stream has exactly two different classes, got {self.classes}")
            if self.positive is not None and self.positive not in self.classes:
                raise ValueError(f"positive ({self.positive!r}) is not one of the classes {self.classes}")
            return self
        if len(typed) != len(self.classes) or len(self.classes) < 2:
            raise ValueError(f"a multiclass stream names at least two different classes, got {self.classes}")
        if any(isinstance(c, bool) for c in self.classes):
            raise ValueError(f"a multiclass stream's classes are strings or integers, got {self.classes}")
        return self

    @property
    def allows_new_classes(self) -> bool:
        """Whether a multiclass stream takes labels outside its named classes."""
        return self.classes is None if self.new_classes is None else self.new_classes

    @property
    def positive_class(self) -> bool | int | str:
        """The class a binary stream's scores call positive."""
        if self.classes is None:
            return True
        return self.classes[1] if self.positive is None else self.positive

    @model_validator(mode="before")
    @classmethod
    def _device_dedupe_window(cls, data: Any) -> Any:
        # One dedupe memory per key: a fleet's per-device keys each remember their own device's ids only.
        if isinstance(data, dict) and data.get("scope") == "device" and "dedupe_window" not in data:
            return {**data, "dedupe_window": DEVICE_DEDUPE_WINDOW}
        return data

    @model_validator(mode="after")
    def _tunable(self) -> StreamConfig:
        if self.tuning is None:
            return self
        if self.challengers:
            raise ValueError(
                "tuning and challengers: choose one (the tuned model already selects among its candidates)"
            )
        from driftline.tuning import candidates

        candidates(self.model, self.tuning, self.task == "regression")
        return self

    @field_validator("model", "challengers")
    @classmethod
    def _buildable(cls, value: str | list[str]) -> str | list[str]:
        from driftline.modelspec import check_model_expression

        for expression in [value] if isinstance(value, str) else value:
            check_model_expression(expression)
        return value


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


def _secret(key: str) -> bool:
    """Whether a key holds a secret, whose value an error message must not repeat."""
    return any(word in key for word in ("password", "token", "secret", "client_settings"))


def _env_source(loc: tuple[Any, ...], environ: Mapping[str, str] | None = None) -> str | None:
    """The DRIFTLINE_* variable that set the value at ``loc`` (or a section holding it), if one did.

    The environment overrides the file, so a variable naming the key, or one of its sections
    as JSON (DRIFTLINE_TOPICS), is where a bad value came from.
    """
    environ = os.environ if environ is None else environ
    present = {name.upper() for name in environ}
    for depth in range(len(loc), 0, -1):
        name = "DRIFTLINE_" + "__".join(str(p) for p in loc[:depth]).upper()
        if name in present:
            return name
    return None


def _one_line(error: ValidationError, source: str) -> str:
    first = error.errors(include_url=False)[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if variable := _env_source(first["loc"]):
        source = f"environment variable {variable}"
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    else:
        message = first["msg"].removeprefix("Value error, ")
        shown = "input" in first and not isinstance(first["input"], dict | list) and not _secret(key)
        if shown and str(first["input"]) not in message:
            message += f" (got {first['input']!r})"
    more = len(error.errors()) - 1
    return f"{source}: {key}: {message}" + (f" (+{more} more)" if more else "")


def settings_from_dict(data: dict[str, Any], source: str = "config") -> Settings:
    try:
        return Settings(**data)
    except ValidationError as e:
        raise ConfigError(_one_line(e, source)) from None


#: DRIFTLINE_* variables that are not settings: read by the CLI, the tests or ./run.
OTHER_VARIABLES = frozenset({"CONFIG", "LOG_LEVEL", "DEVICE_TOKEN", "VENV", "CACHE", "CRASH_AT"})
#: Variables driftline once read, and what replaced each.
RETIRED_VARIABLES = {
    "TOKEN": "it served two secrets: DRIFTLINE_DEVICE_TOKEN is replay's device token, "
    "DRIFTLINE_TRAINER__API_TOKEN the trainer's api token (for `driftline status` too)",
}


def check_drift_spec(name: str, stream: StreamConfig) -> None:
    """Refuse detectors that cannot judge what they would be fed, naming the config key.

    The trainer runs the detectors; the monitor checks the streams it is given the same way, so a
    config one refuses the other refuses too.
    """
    from driftline.rules.detectors import BINARY_DETECTORS, DebouncedDetector, DetectorError

    spec = stream.drift
    if spec.data in BINARY_DETECTORS:
        raise ConfigError(
            f"streams.{name}.drift.data: {spec.data} judges 0/1 errors, not feature values; "
            "choose ADWIN, PageHinkley or KSWIN"
        )
    for key, detector, params in (
        ("concept", spec.concept, spec.concept_params),
        ("data", spec.data, spec.data_params),
    ):
        if detector is None:
            continue
        try:
            DebouncedDetector(detector, params, warnings=key == "concept")
        except DetectorError as e:
            raise ConfigError(f"streams.{name}.drift.{key}_params: {e}") from None


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Refuse a DRIFTLINE_* variable that names no setting: pydantic-settings would ignore it silently.

    A typo such as DRIFTLINE_KAFKA_BOOTSTRAP_SERVERS (one underscore) would otherwise leave the
    setting at its default with nothing said.
    """
    environ = os.environ if environ is None else environ
    for name in sorted(environ):
        if not name.upper().startswith("DRIFTLINE_"):
            continue
        rest = name[len("DRIFTLINE_") :].upper()
        if rest in RETIRED_VARIABLES:
            raise ConfigError(f"environment variable {name}: no longer read; {RETIRED_VARIABLES[rest]}")
        if rest in OTHER_VARIABLES or rest.split("__", 1)[0].lower() in Settings.model_fields:
            continue
        raise ConfigError(
            f"environment variable {name}: no such setting (top-level keys: {', '.join(Settings.model_fields)}; "
            "nested keys take a double underscore, e.g. DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS)"
        )


def config_file(path: Path | str | None = None) -> Path | None:
    """The file :func:`load_settings` reads: ``path``, else DRIFTLINE_CONFIG, else :data:`DEFAULT_CONFIG`.

    None when none is named and DEFAULT_CONFIG does not exist: the built-in starter config is read then.
    """
    named = path or os.environ.get("DRIFTLINE_CONFIG")
    if not named and not DEFAULT_CONFIG.exists():
        return None
    return Path(named or DEFAULT_CONFIG)


def load_settings(path: Path | str | None = None) -> Settings:
    """Read the config file (see :func:`config_file`) and the environment."""
    check_environment()
    chosen = config_file(path)
    if chosen is None:
        from driftline import assets

        return settings_from_dict(tomllib.loads(assets.starter_config()), assets.STARTER_CONFIG_NAME)
    if not chosen.exists():
        raise ConfigError(f"{chosen}: no such config file")
    try:
        data = tomllib.loads(chosen.read_text())
    except OSError as e:  # a folder, or unreadable
        raise ConfigError(f"{chosen}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{chosen}: not valid TOML: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{chosen}: not valid TOML: {e}") from None
    return settings_from_dict(data, str(chosen))
