"""A real single-node Apache Kafka broker (KRaft, broker + controller) run from Maven Central jars.

Used by the test suite and by ``driftline stack`` when no bootstrap servers are configured.
The jars are fetched once with Maven from the pom shipped beside this module and cached under
``~/.cache/driftline`` (or DRIFTLINE_CACHE); the broker listens on loopback only and logs to a file.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.processes import ManagedProcess, ProcessError, free_port, port_open

if TYPE_CHECKING:  # confluent-kafka is imported only when a client is made
    from driftline.config.settings import Settings
    from driftline.kafkaio.clients import Cluster

log = logging.getLogger(__name__)

POM = Path(str(resources.files("driftline.kafkaio") / "pom.xml"))
LOG4J_CONFIG = Path(str(resources.files("driftline.kafkaio") / "log4j2.properties"))


class BrokerError(ProcessError):
    """The local broker could not be fetched, formatted or started (a :class:`ProcessError`: the CLI reports
    it without importing this launcher)."""


def cache_dir() -> Path:
    return Path(os.environ.get("DRIFTLINE_CACHE") or Path.home() / ".cache" / "driftline")


def jars_dir(pom: Path = POM) -> Path:
    """Where the jars of this pom live; a changed pom gets a fresh folder."""
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    return cache_dir() / f"kafka-jars-{digest}"


def fetch_jars(pom: Path = POM) -> Path:
    """Download the broker's jars with Maven unless they are already cached; return their folder."""
    target = jars_dir(pom)
    if (target / ".complete").exists():
        return target
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is not installed; it is needed once to fetch the Kafka jars")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [
        "mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={partial}", "-DincludeScope=runtime",
    ]  # fmt: skip
    log.info("fetching Kafka jars: %s", " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BrokerError(f"mvn failed ({done.returncode}): {(done.stdout + done.stderr).strip()[-2000:]}")
    (partial / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


#: Further JVM options for local brokers, whitespace-separated: the test suite starts dozens of short-lived
#: brokers and sets ``-XX:TieredStopAtLevel=1`` here (a broker's start-up CPU 12.8 to 7.7 s; with the class archive
#: of :func:`archive_classes` as well, 4.4 s).
JVM_OPTIONS_VARIABLE = "DRIFTLINE_BROKER_JVM_OPTIONS"


def jvm_options() -> list[str]:
    """The extra JVM options the environment names (:data:`JVM_OPTIONS_VARIABLE`)."""
    return os.environ.get(JVM_OPTIONS_VARIABLE, "").split()


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java:
        raise BrokerError("Java 17+ is needed to run Kafka; install a JDK or set JAVA_HOME")
    return java


def class_archive(jars: Path) -> Path:
    """The JVM's class-data archive of a broker on ``jars`` (one per Java install), made by :func:`archive_classes`.

    A broker started with it maps Kafka's classes from one file instead of loading them from the jars:
    about 2 s less CPU and wall time per start (here 9.1 to 6.9 s of CPU), for ``driftline stack`` and the
    tests' dozens of brokers alike. Without it brokers start as before.
    """
    java = Path(java_executable()).resolve()
    stat = java.stat()
    digest = hashlib.sha256(f"{java}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return jars / f"classes-{digest}.jsa"


def archive_classes(jars: Path) -> Path | None:
    """Make :func:`class_archive` unless it exists: a throw-away broker runs once and the JVM writes the classes
    it loaded at its exit (about 15 s, once per machine). None if this Java cannot (the brokers then do without).

    Several processes may make it at once (``./run stack`` beside ``./run test``): each writes a file of its own
    and moves it into place whole, so a broker finds the archive complete or not at all.
    """
    target = class_archive(jars)
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(data_dir=Path(tmp) / "kafka")
        broker._archive_to = written = Path(tmp) / target.name
        try:
            broker.start()
        except BrokerError as e:
            log.warning("no class-data archive: its broker did not start (%s); brokers start without one", e)
            return None
        finally:
            broker.stop(timeout=120)  # also after a failed or interrupted start: no JVM left behind
        # Mapped only if whole and made by this JVM: a check before it is kept where brokers find it.
        check = [java_executable(), f"-XX:SharedArchiveFile={written}", "-Xshare:on", "-cp", f"{jars}/*", "-version"]
        if not written.exists() or subprocess.run(check, capture_output=True).returncode != 0:
            log.warning("this Java made no usable class-data archive: brokers start without one")
            return None
        handle, partial = tempfile.mkstemp(dir=jars, prefix=f".{target.name}.", suffix=".partial")
        os.close(handle)
        shutil.move(written, partial)
        os.replace(partial, target)
    return target


def _cluster_id() -> str:
    """Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # Kafka's own generator redraws these too: the storage tool reads a leading "-" as an option.
        if not text.startswith("-"):
            return text


#: The broker's own principal (inter-broker and controller traffic, ACL administration): a super user.
ADMIN = "admin"


def make_tls_material(folder: Path, host: str = "127.0.0.1") -> None:
    """A throw-away CA (``ca.pem``) and a broker key and certificate for ``host`` it signed (``broker.pem``)."""
    if (folder / "broker.pem").exists():
        return
    if shutil.which("openssl") is None:
        raise BrokerError("openssl is needed to make the local broker's TLS certificates")
    folder.mkdir(parents=True, exist_ok=True)
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=driftline local CA",
         "-keyout", "ca.key", "-out", "ca.pem"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}", "-keyout", "broker.key", "-out", "broker.csr"],
        ["x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "30",
         "-extfile", "san.cnf", "-out", "broker.crt"],
    ]  # fmt: skip
    (folder / "san.cnf").write_text(f"subjectAltName=IP:{host},DNS:localhost\n")
    for step in steps:
        done = subprocess.run(["openssl", *step], cwd=folder, capture_output=True, text=True)
        if done.returncode != 0:
            raise BrokerError(f"openssl {step[0]} failed: {done.stderr.strip()[-500:]}")
    # Kafka's PEM key store: the unencrypted PKCS#8 key, then the certificate chain.
    key = subprocess.run(
        ["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", "broker.key"], cwd=folder, capture_output=True, check=True
    ).stdout
    (folder / "broker.pem").write_bytes(key + (folder / "broker.crt").read_bytes() + (folder / "ca.pem").read_bytes())


@dataclass
class LocalBroker:
    """One Kafka process in KRaft combined mode, bound to loopback ports chosen at construction.

    Ports and the data folder stay the same across :meth:`stop` and :meth:`start`, so a restarted
    broker serves the records it had.

    With ``users`` (name → password) the client listener speaks SASL with SCRAM-SHA-512 only
    (SASL_SSL with ``tls``, a CA and a certificate for 127.0.0.1 made with openssl on first
    start), the users are created when the storage is formatted, and KRaft's StandardAuthorizer
    refuses whatever no ACL allows (see :mod:`driftline.kafkaio.acls`). Without ``users`` the
    broker is the plain, fast one the tests and ``driftline stack`` use.
    """

    data_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    heap: str = "512m"
    #: In a cluster (:class:`~driftline.kafkaio.cluster.LocalCluster`): this node's id, every
    #: controller as ``id@host:port``, the replicas internal topics and new topics get, the
    #: cluster id every node is formatted with.
    node_id: int = 1
    voters: str = ""
    replicas: int = 1
    cluster_id: str = field(default_factory=lambda: _cluster_id())
    users: dict[str, str] | None = field(default=None, repr=False)
    tls: bool = False
    _process: ManagedProcess | None = field(default=None, init=False, repr=False)
    #: Where the JVM writes the classes it loaded when it exits (:func:`archive_classes`), instead of reading them.
    _archive_to: Path | None = field(default=None, init=False, repr=False)

    @property
    def secure(self) -> bool:
        return self.users is not None

    @property
    def protocol(self) -> str:
        if not self.secure:
            return "SSL" if self.tls else "PLAINTEXT"
        return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"

    @property
    def bootstrap_servers(self) -> str:
        """The client listener; on a secure broker, connect with :meth:`cluster_for` a user."""
        return f"127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients trust (``tls`` only)."""
        return self.data_dir / "tls" / "ca.pem"

    def security_for(self, user: str | None) -> dict[str, Any]:
        """The ``kafka.security`` section of a service connecting as ``user`` (None: no credentials)."""
        section: dict[str, Any] = {"protocol": self.protocol if user else self.protocol.removeprefix("SASL_")}
        if user is not None:
            section |= {"username": user, "password": self._password(user)}
        if self.tls:
            section["ca_file"] = str(self.ca_file)
        return section

    def cluster_for(self, user: str | None) -> Cluster:
        """Bootstrap servers authenticated as ``user`` (the broker's own :data:`ADMIN` included)."""
        from driftline.config.settings import KafkaSecurity
        from driftline.kafkaio.clients import Cluster, security_config

        return Cluster(self.bootstrap_servers, security_config(KafkaSecurity(**self.security_for(user))))

    def _password(self, user: str) -> str:
        if user == ADMIN:
            return self._admin_password
        if self.users is None or user not in self.users:
            raise BrokerError(f"no Kafka user {user!r} on this broker")
        return self.users[user]

    @property
    def _admin_password(self) -> str:
        # Kept beside the data, so a restarted broker (and its clients) use the password it was formatted with.
        path = self.data_dir / "admin.password"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(24))
        return path.read_text()

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def _listeners(self) -> list[str]:
        if not self.secure and not self.tls:
            return [
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            ]
        admin = self._admin_password
        lines = [
            f"listeners=CLIENT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=CLIENT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=CLIENT",
        ]
        if self.secure:
            # SCRAM credentials live in the metadata log, which the controller cannot read before it
            # runs: its own listener authenticates the broker with PLAIN from this file instead.
            lines += [
                f"listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,CLIENT:{self.protocol}",
                "listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512",
                "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
                "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
                "sasl.mechanism.controller.protocol=PLAIN",
                "listener.name.client.scram-sha-512.sasl.jaas.config="
                f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{ADMIN}" '
                f'password="{admin}";',
                "listener.name.controller.plain.sasl.jaas.config="
                f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{ADMIN}" '
                f'password="{admin}" user_{ADMIN}="{admin}";',
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                f"super.users=User:{ADMIN}",
                "allow.everyone.if.no.acl.found=false",
            ]
        else:
            lines.append("listener.security.protocol.map=CONTROLLER:PLAINTEXT,CLIENT:SSL")
        if self.tls:
            tls = self.data_dir / "tls"
            lines += [
                "listener.name.client.ssl.keystore.type=PEM",
                f"listener.name.client.ssl.keystore.location={tls / 'broker.pem'}",
                "listener.name.client.ssl.truststore.type=PEM",
                f"listener.name.client.ssl.truststore.location={self.ca_file}",
                # The broker connects to itself by address: its certificate names 127.0.0.1.
                "listener.name.client.ssl.endpoint.identification.algorithm=https",
            ]
        return lines

    def _properties(self) -> Path:
        path = self.data_dir / "server.properties"
        path.touch(mode=0o600)  # it holds the admin password on a secure broker
        path.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={self.node_id}",
                    f"controller.quorum.voters={self.voters or f'1@127.0.0.1:{self.controller_port}'}",
                    *self._listeners(),
                    f"log.dirs={self.data_dir / 'logs'}",
                    # One node: every internal topic has a single replica. A cluster: an acknowledged
                    # write is on two nodes at least, so losing one loses nothing.
                    f"offsets.topic.replication.factor={self.replicas}",
                    f"transaction.state.log.replication.factor={self.replicas}",
                    f"transaction.state.log.min.isr={min(self.replicas, 2)}",
                    f"share.coordinator.state.topic.replication.factor={self.replicas}",
                    f"share.coordinator.state.topic.min.isr={min(self.replicas, 2)}",
                    f"default.replication.factor={self.replicas}",
                    f"min.insync.replicas={min(self.replicas, 2)}",
                    "group.initial.rebalance.delay.ms=0",
                    # driftline creates its topics with explicit partition counts; typos must fail.
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        return path

    def _java(self, main: str, *args: str, jars: Path) -> list[str]:
        archive = class_archive(jars)
        if self._archive_to is not None:
            shared = [f"-XX:ArchiveClassesAtExit={self._archive_to}"] if main == "kafka.Kafka" else []
        else:
            shared = [f"-XX:SharedArchiveFile={archive}"] if archive.exists() else []
        return [
            java_executable(), f"-Xmx{self.heap}", "-Xms128m", "-XX:+UseG1GC", *shared, *jvm_options(),
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.dir={self.data_dir}",
            "-cp", f"{jars}/*", main, *args,
        ]  # fmt: skip

    def start(self, timeout: float = 60.0, wait: bool = True) -> LocalBroker:
        """Format storage on first start, launch the broker and wait until it answers.

        Without ``wait``, only until its controller listens: a cluster node answers clients only
        once a quorum of its peers is up too.
        """
        if self.running:
            return self
        jars = fetch_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._properties()
        if self.tls:
            make_tls_material(self.data_dir / "tls")
        if not (self.data_dir / "logs" / "meta.properties").exists():
            scram = [
                arg
                for user in ([ADMIN, *self.users] if self.users is not None else [])
                for arg in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={self._password(user)}]")
            ]
            fmt = subprocess.run(
                self._java(
                    "kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(props), *scram, jars=jars
                ),
                capture_output=True,
                text=True,
            )
            if fmt.returncode != 0:
                output = (fmt.stdout + fmt.stderr).strip()[-2000:]
                for user in self.users or {}:
                    output = output.replace(self._password(user), "***")
                raise BrokerError(f"formatting Kafka storage failed: {output.replace(self._admin_password, '***')}")
        ready = self.answers if wait else lambda: port_open(self.controller_port)
        self._process = ManagedProcess(
            f"Kafka node {self.node_id}",
            self._java("kafka.Kafka", str(props), jars=jars),
            self.log_file,
            ready=ready,
            port=self.port,  # taken: fail at once, naming it, rather than time out later
        )
        try:
            self._process.start(timeout)
        except ProcessError as e:
            raise BrokerError(str(e)) from None
        log.info("Kafka broker up on %s (log: %s)", self.bootstrap_servers, self.log_file)
        return self

    def answers(self) -> bool:
        from confluent_kafka import KafkaException

        from driftline.kafkaio.topics import admin_client

        if not port_open(self.port):
            return False
        try:
            admin_client(self.cluster_for(ADMIN) if self.secure else self.bootstrap_servers).list_topics(timeout=3)
            return True
        except KafkaException:
            return False

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the broker down cleanly (SIGTERM), killing it only if it hangs."""
        if self._process is not None:
            self._process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL, as a power cut: no controlled shutdown, no leadership handed over."""
        if self._process is not None:
            self._process.kill()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        """The broker JVM's process id while it runs (for sampling its memory)."""
        return self._process.pid if self.running and self._process is not None else None

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def kafka_or_local(settings: Settings, fresh: bool = True, port: int | None = None) -> Iterator[str]:
    """The configured cluster (as :func:`driftline.runtime.kafka_for`), or else a local broker started here.

    For the stack and the smoke run only: the local broker keeps its data under ``state_dir/kafka``
    (wiped first when ``fresh``), listens on ``port`` (default: any free port), gets driftline's topics
    and stops on exit.
    """
    from driftline.kafkaio.topics import ensure_topics
    from driftline.runtime import kafka_for

    if settings.kafka.bootstrap_servers:
        with kafka_for(settings) as servers:
            yield servers
        return
    data_dir = settings.state_dir / "kafka"
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
    with LocalBroker(data_dir=data_dir, **({"port": port} if port else {})) as broker:
        log.info("no kafka.bootstrap_servers configured: started a local broker on %s", broker.bootstrap_servers)
        ensure_topics(broker.bootstrap_servers, settings.topics)
        yield broker.bootstrap_servers
